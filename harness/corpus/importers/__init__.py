"""Importers that turn public speech datasets (or any manifest) into a harness corpus directory.

Each format registers an :class:`Importer` by name; ``get_importer(name).import_corpus(src, out)`` writes
16 kHz mono int16 WAVs, ``manifest.parquet``, ``corpus.json`` and ``datasheet.md`` and returns an
:class:`ImportReport` that accounts for every source row.
"""

from harness.corpus.directory import content_sha256
from harness.corpus.importers.base import Importer, Scan, SourceClip, get_importer, importer_names, register
from harness.corpus.importers.report import ImportReport, SkippedRow

__all__ = [
    "ImportReport",
    "Importer",
    "Scan",
    "SkippedRow",
    "SourceClip",
    "content_sha256",
    "get_importer",
    "importer_names",
    "register",
]
