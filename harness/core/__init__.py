"""Ground: errors, units, paths, transcripts, registries, progress and verdicts that every layer may use."""
