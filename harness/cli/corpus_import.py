"""``harness corpus import FORMAT SRC --out DIR``: a dataset on disk -> a corpus directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from harness.cli.common import progress_bar
from harness.corpus.importers import get_importer, importer_names


def _help() -> str:
    lines = [
        "Import a speech dataset (or your own manifest) as a corpus directory: 16 kHz mono int16 WAVs "
        "under DIR/clips/, manifest.parquet, corpus.json and datasheet.md.",
        "",
        "Other sample rates are resampled and stereo is downmixed (counted per original rate and channel "
        "count); rows that cannot be used are listed with their reason in the report, the datasheet and "
        "DIR/skipped.csv. The report is printed, then DIR as the last line.",
        "",
        "\b",
        "Examples:",
        "  harness corpus import speech_commands ~/data/speech_commands_v0.02 --out corpora/gsc --split test",
        "  harness corpus import common_voice ~/cv-corpus-17.0/en --out corpora/cv-en --split test",
        "  harness corpus import common_voice ~/cv-singleword/en --out corpora/cv-swts --single-word",
        "  harness corpus import mswc ~/mswc/en --out corpora/mswc-en --split test",
        "  harness corpus import manifest lab/recordings.csv --out corpora/lab --group accent --group room",
    ]
    for name in importer_names():
        importer = get_importer(name)
        lines += ["", "\b", f"FORMAT {name}: {importer.title}", *importer.layout.splitlines()]
    return "\n".join(lines)


@click.command("import", help=_help())
@click.argument("fmt", metavar="FORMAT", type=click.Choice(importer_names()))
@click.argument("src", type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="The corpus directory to write.",
)
@click.option(
    "--split",
    "splits",
    multiple=True,
    metavar="NAME",
    help="Keep only these splits (repeatable). common_voice: which TSVs to read (default train, "
    "dev, test); speech_commands: train, validation, test; mswc: train, dev, test.",
)
@click.option(
    "--single-word",
    is_flag=True,
    help="common_voice: keep only the Single Word Target Segment words (zero-nine, yes, no, hey, firefox).",
)
@click.option(
    "--group",
    "groups",
    multiple=True,
    metavar="COL",
    help="manifest: group columns to keep (repeatable; default: every column beyond the known ones).",
)
@click.option(
    "--default-split",
    default=None,
    metavar="NAME",
    help="manifest: split for rows without one (default: test).",
)
@click.option(
    "--name", default=None, metavar="NAME", help="Corpus name in corpus.json (default: DIR's name)."
)
@click.option("--force", is_flag=True, help="Replace DIR if it is already a corpus directory.")
def import_command(
    fmt: str,
    src: Path,
    out: Path,
    splits: tuple[str, ...],
    single_word: bool,
    groups: tuple[str, ...],
    default_split: str | None,
    name: str | None,
    force: bool,
) -> None:
    options: dict[str, Any] = {}
    if single_word:
        options["single_word"] = True
    if groups:
        options["group_columns"] = groups
    if default_split is not None:
        options["default_split"] = default_split
    importer = get_importer(fmt)
    with progress_bar(f"import {fmt}") as update:
        report = importer.import_corpus(
            src, out, progress=update, splits=splits, name=name, overwrite=force, **options
        )
    for line in report.summary_lines():
        click.echo(line)
    click.echo(str(out))
