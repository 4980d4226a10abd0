"""Golden snapshots of whole run directories: what a run wrote, with what varies between runs taken out.

A snapshot maps every file of a run directory to its normalised content: tables and JSON as records
with floats rounded to 7 significant digits, Markdown as text, binary documents (PNG, HTML, logs) by
presence only. Run ids, timestamps, temporary paths, socket ports, host facts and host wall times are
replaced by placeholders, so two runs of the same plan on the same code give the same snapshot.

Regenerate after a deliberate change of outputs: ``HARNESS_UPDATE_GOLDEN=1 pytest tests/test_golden_runs.py``,
then read the diff of ``tests/data/golden/`` before committing it.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from harness.core.paths import project_root

GOLDEN = Path(__file__).parent / "data" / "golden"
UPDATE = os.environ.get("HARNESS_UPDATE_GOLDEN") == "1"

# keys whose values differ from run to run (time, place, machine) and say nothing about the measurement
VOLATILE_KEYS = {"created_utc", "updated_utc", "git_commit", "host", "runtime_versions", "pid", "harness_version",
                 "host_latency_ms", "host_latency_ms_p50", "host_latency_ms_p99", "generated_utc", "seconds"}
VOLATILE_MD_HEADERS = {"host p50 ms"}
PRESENCE_ONLY = {".png", ".html", ".log"}
LONG_FRAME = 2000  # rows beyond which a frame is kept as a fingerprint (power traces)
RUN_ID = re.compile(r"\d{8}T\d{9}Z-[A-Za-z0-9_.-]+")
PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")
SITE = re.compile(r"[^\s`'\"]*/site-packages/")
COMMIT = re.compile(r"\b[0-9a-f]{40}(-dirty)?\b")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(\+00:00|Z)?)?")


class Normaliser:
    """Replaces the volatile parts of strings: run ids, dates, ports and the roots of temporary paths."""

    def __init__(self, *roots: Path) -> None:
        self.roots = sorted({str(r) for r in roots if r}, key=len, reverse=True)

    def text(self, value: str) -> str:
        value = SITE.sub("<SITE>/", value)
        for root in self.roots:
            value = value.replace(root, "<ROOT>")
        value = RUN_ID.sub("<RUN>", value)
        value = PORT.sub(r"\1:<PORT>", value)
        value = COMMIT.sub("<COMMIT>", value)
        return DATE.sub("<DATE>", value)

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items() if k not in VOLATILE_KEYS}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                return repr(value)
            return float(f"{value:.7g}")
        return value


def _frame(df: pd.DataFrame, norm: Normaliser) -> list[dict[str, Any]] | dict[str, Any]:
    """Records; a long sample trace by its length and each numeric column's sum, min and max."""
    df = df.drop(columns=[c for c in df.columns if c in VOLATILE_KEYS])
    if len(df) > LONG_FRAME:
        numeric = df.select_dtypes("number")
        return norm.value({"rows": len(df), **{c: [float(numeric[c].sum()), float(numeric[c].min()),
                                                   float(numeric[c].max())] for c in numeric.columns}})
    records = json.loads(df.to_json(orient="records", double_precision=15))
    return norm.value(records)


def _markdown(text: str, norm: Normaliser) -> str:
    """Markdown with table columns whose header is volatile removed, then normalised."""
    out, drop = [], set()
    for line in text.splitlines():
        if line.startswith("|"):
            cells = line.strip().strip("|").split("|")
            names = [c.strip() for c in cells]
            if any(n in VOLATILE_MD_HEADERS for n in names):
                drop = {i for i, n in enumerate(names) if n in VOLATILE_MD_HEADERS}
            line = "|" + "|".join(c for i, c in enumerate(cells) if i not in drop) + "|"
        else:
            drop = set()
        out.append(line)
    return norm.text("\n".join(out))


def _unpin_targets(manifest: dict[str, Any]) -> None:
    """A profile's hash covers its link (a test socket's port changes with every run) and, before the
    audit-trail work, the absolute path of its file; both vary with where and when the test runs."""
    for target in manifest.get("targets") or []:
        target["sha256"] = "<profile sha256>"


def snapshot(run_dir: Path, *roots: Path) -> dict[str, Any]:
    """The normalised content of every file under ``run_dir``."""
    norm = Normaliser(run_dir.parent, Path(os.environ.get("HARNESS_CACHE", "")), project_root(), *roots)
    files: dict[str, Any] = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        name = norm.text(path.relative_to(run_dir).as_posix())
        suffix = path.suffix
        if suffix in PRESENCE_ONLY:
            files[name] = "<present>"
        elif suffix == ".parquet":
            files[name] = _frame(pd.read_parquet(path), norm)
        elif suffix == ".csv":
            files[name] = _frame(pd.read_csv(path), norm)
        elif suffix == ".json":
            files[name] = norm.value(json.loads(path.read_text(encoding="utf-8")))
            if name == "manifest.json":
                _unpin_targets(files[name])
        elif suffix == ".jsonl":
            files[name] = [norm.value(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]
        elif suffix == ".md":
            files[name] = _markdown(path.read_text(encoding="utf-8"), norm)
        else:
            files[name] = "<present>"
    return files


def differences(actual: Any, expected: Any, where: str = "") -> list[str]:
    """Paths at which two snapshots differ, each with both values (shortened)."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        out = []
        for key in sorted(set(actual) | set(expected)):
            here = f"{where}/{key}"
            if key not in expected:
                out.append(f"{here}: unexpected (not in the golden snapshot)")
            elif key not in actual:
                out.append(f"{here}: missing")
            else:
                out += differences(actual[key], expected[key], here)
        return out
    if isinstance(actual, list) and isinstance(expected, list):
        if len(actual) != len(expected):
            return [f"{where}: {len(actual)} items, golden has {len(expected)}"]
        pairs = enumerate(zip(actual, expected, strict=True))
        return [d for i, (a, e) in pairs for d in differences(a, e, f"{where}[{i}]")]
    if actual != expected:
        if isinstance(actual, str) and isinstance(expected, str) and "\n" in expected:
            a, e = actual.splitlines(), expected.splitlines()
            line = next((i for i, (x, y) in enumerate(zip(a, e, strict=False)) if x != y), min(len(a), len(e)))
            return [f"{where}: line {line + 1}: {_short(a[line] if line < len(a) else '<end>')} "
                    f"!= golden {_short(e[line] if line < len(e) else '<end>')}"]
        return [f"{where}: {_short(actual)} != golden {_short(expected)}"]
    return []


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 160 else text[:157] + "..."


def check(case: str, run_dir: Path, *roots: Path) -> None:
    """Compare ``run_dir`` with the golden snapshot ``case`` (or write it when HARNESS_UPDATE_GOLDEN=1)."""
    path = GOLDEN / f"{case}.json.gz"
    actual = snapshot(run_dir, *roots)
    if UPDATE:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as f:
            json.dump(actual, f, indent=1, sort_keys=True)
        return
    with gzip.open(path, "rt", encoding="utf-8") as f:
        expected = json.load(f)
    found = differences(json.loads(json.dumps(actual)), expected)
    assert not found, f"{case}: the run directory differs from {path.name} in {len(found)} place(s):\n" + \
        "\n".join(found[:40])
