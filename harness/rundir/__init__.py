"""The run directory and its contract: every file name, which files are hashed, atomic writes."""
