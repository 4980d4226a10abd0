"""``harness corpus``: build evaluation corpora (synthetic now; importers of real datasets plug in here)."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import SEED
from harness.cli.corpus_import import import_command
from harness.core.errors import ConfigError
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
@click.option("--phrases", default=None, metavar="WORD,WORD,...",
              help="A multi-class KWS corpus of these words (1 s clips, plus _unknown_ and _silence_ clips); "
                   "'kws12' is the MLPerf Tiny 12-class set.")
@click.option("--keyword", default=None, metavar="PHRASE",
              help="A wake-word corpus of this phrase, with generated sound-alike confusables.")
def synth(out_dir: Path, size: str, seed: int, workers: int | None, phrases: str | None,
          keyword: str | None) -> None:
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
    \b
    --phrases yes,no,up builds the same design for a multi-class vocabulary
    (Speech Commands-style 1 s clips; words outside it as _unknown_, background
    only as _silence_); --keyword "hey lighthouse" for one wake word, with
    confusables made by sound-alike edits of it. Both use the accents whose voices
    read English spelling.

    \b
    Example:
      harness corpus synth --out corpora/demo --size demo --seed 0
      harness corpus synth --out corpora/kws12 --size demo --phrases kws12
      harness corpus synth --out corpora/lighthouse --size demo --keyword "hey lighthouse"
    """
    from harness.cli.common import progress_bar
    from harness.corpus.synth import synthesize_corpus
    from harness.corpus.vocabulary import KWS12, kws_vocabulary, wake_vocabulary

    if phrases is not None and keyword is not None:
        raise ConfigError("--phrases and --keyword are exclusive", hint="build one corpus per vocabulary")
    vocabulary = None
    if phrases is not None:
        vocabulary = KWS12 if phrases.strip().lower() == "kws12" else kws_vocabulary(phrases.split(","))
    elif keyword is not None:
        vocabulary = wake_vocabulary(keyword)
    with progress_bar(f"corpus synth --size {size}") as update:
        path = synthesize_corpus(out_dir, size=size, seed=seed, workers=workers,
                                 progress=update, vocabulary=vocabulary)
    click.echo(str(path.resolve()))


command.add_command(import_command)


@command.command("stream", short_help="Build sww01-style long test streams per group of a corpus.")
@click.argument("corpus_spec", metavar="CORPUS")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the streams (<attribute>-<group>.wav), sww_streams.json and sww_streams_index.json.")
@click.option("--wake-label", required=True, help="The corpus label of the wake word (e.g. alexa, hey_jarvis).")
@click.option("--by", "attribute", default="accent", show_default=True,
              help="The group column: one stream per value (accent, noise, accent_group, gender, ...).")
@click.option("--length", "length_s", type=click.FloatRange(min=15.0, max=7200.0), default=1200.0, show_default=True,
              help="Seconds per stream (the benchmark's: 1200).")
@click.option("--words", "n_words", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="Wake words per stream, all in its first half (the benchmark's: 50).")
@click.option("--seed", type=SEED, default=0, show_default=True)
def stream(corpus_spec: str, out_dir: Path, wake_label: str, attribute: str, length_s: float, n_words: int,
           seed: int) -> None:
    """Long 16 kHz stereo streams in the MLPerf Tiny streaming wake-word format, one per group.

    \b
    CORPUS is a corpus directory or builtin:tiny|demo|full. Each stream holds one group's wake words
    (placed and scaled as in the benchmark's test stream) in its first half and the group's other
    speech in its second half, where false accepts are counted. sww_streams.json lists each stream's
    detection windows in the field runner's format, so a stream can be copied to a real interface
    board's SD card; sww_streams_index.json records which clips went where. Example:
      harness corpus stream builtin:demo --wake-label alexa --by accent --out streams/alexa-by-accent
    """
    from harness.corpus.stream import StreamSpec, build_streams, write_stream_set
    from harness.runs.evaluation import resolve_corpus

    corpus = resolve_corpus(corpus_spec, seed)
    if wake_label not in set(corpus.manifest["label"].astype(str)):
        raise ConfigError(f"corpus {corpus.name} has no clip labelled '{wake_label}'",
                          hint=f"its labels: {', '.join(sorted(set(corpus.manifest['label'].astype(str))))}")
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = StreamSpec(wake_label=wake_label, attribute=attribute, length_s=length_s, n_words=n_words, seed=seed)
    streams = build_streams(corpus, spec, out_dir)
    truth = write_stream_set(streams, spec, out_dir)
    for s in streams:
        click.echo(f"{s.wav_path.name}: {attribute} {s.group}, {len(s.detection_windows)} wake words, "
                   f"{s.length_s:g} s", err=True)
    click.echo(str(truth))
