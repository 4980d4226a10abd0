"""``harness corpus``: build evaluation corpora (synthetic now; importers of real datasets plug in here)."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import SEED
from harness.cli.corpus_import import import_command
from harness.corpus.plan import SIZES


@click.group("corpus")
def command() -> None:
    """Build keyword-spotting evaluation corpora.

    \b
    A corpus directory holds:
      clips/            16 kHz mono 16-bit WAV files
      manifest.parquet  one row per clip: clip_id, path (relative to the directory), label, phrase,
                        kind, split, speaker, accent, accent_group, language, gender, noise, snr_db,
                        room, duration_s, phrase_start_s, phrase_end_s, ...
      datasheet.md      provenance, generation parameters, composition per group, known limits
      corpus.json       name, size, seed, n_clips, content_sha256
    `harness eval --corpus DIR` evaluates a model on it.
    """


_SIZE_HELP = "; ".join(f"{name}: {spec.summary}" for name, spec in SIZES.items())


@command.command("synth", short_help="Build the synthetic keyword-spotting corpus offline.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Corpus directory to create (new, empty, or a corpus this command wrote).")
@click.option("--size", type=click.Choice(list(SIZES)), default="demo", show_default=True, help=_SIZE_HELP)
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed for speakers, silences, noise and rooms. Same size + seed = same bytes.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: one per CPU). Does not change the output.")
def synth(out_dir: Path, size: str, seed: int, workers: int | None) -> None:
    """Synthesize the built-in keyword-spotting corpus offline with espeak-ng.

    \b
    25 accents (8 English voices, 17 other languages' voices reading the English
    wake phrases, transliterated for non-Latin scripts) say the five wake phrases
    (alexa, hey jarvis, hey mycroft, okay nabu, hey rhasspy), confusable phrases and
    ordinary sentences, in six environments (clean, white, pink, babble, tv, reverb)
    at SNRs measured over the speech only. Long phrase-free streams give false
    accepts per hour. If DIR already holds this size and seed and its files verify,
    it is reused. Prints the corpus directory as the last line.

    \b
    Example:
      harness corpus synth --out corpora/demo --size demo --seed 0
    """
    from harness.cli.common import progress_bar
    from harness.corpus.synth import synthesize_corpus

    with progress_bar(f"corpus synth --size {size}") as update:
        path = synthesize_corpus(out_dir, size=size, seed=seed, workers=workers,
                                 progress=update)
    click.echo(str(path.resolve()))


command.add_command(import_command)
