"""Pair up two run directories' measurements and decide which differences are significant regressions.

Each family of comparisons (latency, energy, detection) is Bonferroni-corrected: every interval in a
family of m is drawn at 1 - alpha/m, so a no-change comparison of many groups rarely flags by chance. A
figure regressed (or improved) only when its whole interval lies beyond the practical tolerance: a change
smaller than the tolerance is "no change" even when significant, so reruns that differ only in their
seed (or a device's run-to-run drift) do not flap a CI gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.compare.deltas import mean_delta, newcombe, percentile_delta
from harness.core.errors import DataError, read_json
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.signoff.efficiency import energy_batches, latency_samples
from harness.signoff.verdict import read_table

RATES = ("detection_rate", "accuracy")
TOLERANCE = 0.02       # relative change of latency and energy taken as no change (project choice)
RATE_TOLERANCE = 0.01  # absolute change of a per-group rate (1 percentage point) taken as no change
REGRESSED, IMPROVED, NO_CHANGE = "regressed", "improved", "no change"
# the columns compare reads: name -> True when it must hold numbers
EFFICIENCY_COLUMNS = {"model": False, "target": False, "n_runs": True}
FAIRNESS_COLUMNS = {"model": False, "attribute": False, "group": False, "metric": False, "n": True, "k": True}


@dataclass(frozen=True)
class Comparison:
    run_a: Path
    run_b: Path
    confidence: float
    rows: pd.DataFrame
    tolerance: float = TOLERANCE
    notes: tuple[str, ...] = ()
    rate_tolerance: float = RATE_TOLERANCE

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["regression"]]


def _corrected(confidence: float, m: int) -> float:
    return 1.0 - (1.0 - confidence) / max(m, 1)


def _efficiency_pairs(a: Path, b: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    if not (a / contract.EFFICIENCY.csv).is_file() or not (b / contract.EFFICIENCY.csv).is_file():
        return []
    rows_b = {(r["model"], r["target"]): r for r in pd.read_csv(b / contract.EFFICIENCY.csv).to_dict("records")}
    return [(r, rows_b[(r["model"], r["target"])]) for r in pd.read_csv(a / contract.EFFICIENCY.csv).to_dict("records")
            if (r["model"], r["target"]) in rows_b]


def _latency_rows(a: Path, b: Path, pairs: list, confidence: float, seed: int,
                  tolerance: float) -> list[dict[str, Any]]:
    out = []
    level = _corrected(confidence, 2 * len(pairs))
    for ra, _ in pairs:
        sa, sb = latency_samples(a, ra["model"], ra["target"]), latency_samples(b, ra["model"], ra["target"])
        if sa is None or sb is None:
            continue
        for q in (50, 99):
            d, low, high = percentile_delta(sa, sb, q, level, seed=seed)
            out.append(_row("latency", ra["model"], ra["target"], None, None, f"latency_ms_p{q}",
                            float(np.percentile(sa, q)), float(np.percentile(sb, q)),
                            d, low, high, level, "bootstrap of the raw samples", worse_if="higher",
                            margin=tolerance * float(np.percentile(sa, q))))
    return out


def _energy_rows(a: Path, b: Path, pairs: list, confidence: float, tolerance: float) -> list[dict[str, Any]]:
    out = []
    level = _corrected(confidence, len(pairs))
    for ra, rb in pairs:
        ea = energy_batches(a, ra["model"], ra["target"], int(ra["n_runs"]))
        eb = energy_batches(b, rb["model"], rb["target"], int(rb["n_runs"]))
        if ea is None or eb is None:
            continue
        d, low, high = mean_delta(ea, eb, level)
        out.append(_row("energy", ra["model"], ra["target"], None, None, "energy_mj_per_inference",
                        float(ea.mean()), float(eb.mean()), d, low, high, level,
                        "Welch t over trace batch means", worse_if="higher", margin=tolerance * float(ea.mean())))
    return out


def _effective(r: dict[str, Any], side: str) -> tuple[float, float]:
    """(k, n) over the group's speaker design effect."""
    deff = r[f"design_effect_{side}"]
    deff = 1.0 if pd.isna(deff) else float(deff)
    return float(r[f"k_{side}"]) / deff, float(r[f"n_{side}"]) / deff


def _detection_rows(a: Path, b: Path, confidence: float, rate_tolerance: float) -> list[dict[str, Any]]:
    if not (a / contract.FAIRNESS.csv).is_file() or not (b / contract.FAIRNESS.csv).is_file():
        return []
    key = ["model", "attribute", "group", "metric"]
    fa, fb = (pd.read_csv(p / contract.FAIRNESS.csv, keep_default_na=False, na_values=[""]) for p in (a, b))
    fa, fb = (f if "design_effect" in f else f.assign(design_effect=1.0) for f in (fa, fb))  # older tables
    both = fa[fa["metric"].isin(RATES)].merge(fb[fb["metric"].isin(RATES)], on=key, suffixes=("_a", "_b"))
    both = both[(both["n_a"] > 0) & (both["n_b"] > 0)]
    level = _corrected(confidence, len(both))
    out = []
    for r in both.to_dict("records"):
        (ka, na), (kb, nb) = _effective(r, "a"), _effective(r, "b")
        d, low, high = newcombe(ka, na, kb, nb, level)
        out.append(_row("detection", r["model"], None, r["attribute"], str(r["group"]), r["metric"],
                        r["k_a"] / r["n_a"], r["k_b"] / r["n_b"], d, low, high, level,
                        f"Newcombe hybrid score (k/n {int(r['k_a'])}/{int(r['n_a'])} -> {int(r['k_b'])}/"
                        f"{int(r['n_b'])}, effective n {na:.4g} -> {nb:.4g})", worse_if="lower",
                        margin=rate_tolerance))
    return out


def _row(kind: str, model: str, target: str | None, attribute: str | None, group: str | None, metric: str,
         a: float, b: float, d: float, low: float, high: float, level: float, method: str,
         worse_if: str, margin: float = 0.0) -> dict[str, Any]:
    """Regressed when the whole interval of B - A lies beyond the tolerated ``margin`` on the worse side, improved
    when it lies beyond it on the better side, otherwise no change (``significant`` says whether it excludes 0)."""
    regression = low > margin if worse_if == "higher" else high < -margin
    improvement = high < -margin if worse_if == "higher" else low > margin
    verdict = REGRESSED if regression else IMPROVED if improvement else NO_CHANGE
    return {"kind": kind, "model": model, "target": target, "attribute": attribute, "group": group,
            "metric": metric, "a": a, "b": b, "delta": d, "ci_low": low, "ci_high": high, "confidence": level,
            "worse_if": worse_if, "regression": bool(regression), "improvement": bool(improvement),
            "verdict": verdict, "significant": bool(low > 0 or high < 0), "margin": margin, "method": method}


def compare_runs(run_a: Path, run_b: Path, confidence: float = 0.95, seed: int = 0, tolerance: float = TOLERANCE,
                 rate_tolerance: float = RATE_TOLERANCE) -> Comparison:
    """Every delta of B against the baseline A. ``tolerance`` is the relative latency/energy change and
    ``rate_tolerance`` the absolute per-group rate change that count as no change."""
    a, b = RunDirectory.open(run_a).path, RunDirectory.open(run_b).path
    _check_comparable(a, b)
    pairs = _efficiency_pairs(a, b)
    rows = _latency_rows(a, b, pairs, confidence, seed, tolerance) + _energy_rows(a, b, pairs, confidence, tolerance) \
        + _detection_rows(a, b, confidence, rate_tolerance)
    columns = list(_row("x", "", None, None, None, "", 0, 0, 0, 0, 0, 0, "", "higher"))
    return Comparison(a, b, confidence, pd.DataFrame(rows, columns=columns), tolerance, tuple(_notes(a, b)),
                      rate_tolerance)


def _measured(run: Path) -> list[str]:
    return [name for name in (contract.EFFICIENCY.csv, contract.FAIRNESS.csv) if (run / name).is_file()]


def _check_comparable(a: Path, b: Path) -> None:
    """Refuse two runs that share no table: there would be nothing to compare. Check the shared tables' columns."""
    in_a, in_b = _measured(a), _measured(b)
    shared = [name for name in in_a if name in in_b]
    if not shared:
        raise DataError(
            f"nothing to compare: {a} has {' and '.join(in_a) or 'no tables'}, {b} has "
            f"{' and '.join(in_b) or 'no tables'}",
            hint="compare two runs that measured the same thing: efficiency runs (harness run --target ...) "
            "with efficiency runs, evaluations (harness eval, or run with a corpus) with evaluations")
    for run in (a, b):
        if contract.EFFICIENCY.csv in shared:
            read_table(run / contract.EFFICIENCY.csv, EFFICIENCY_COLUMNS)
        if contract.FAIRNESS.csv in shared:
            read_table(run / contract.FAIRNESS.csv, FAIRNESS_COLUMNS, only_empty_is_missing=True)


def _notes(a: Path, b: Path) -> list[str]:
    """Say when the runs did not see the same corpus or backend: their deltas then mix two changes."""
    ma, mb = (read_json(p / contract.MANIFEST, dict) for p in (a, b))
    notes = []
    corpus_a, corpus_b = ((m.get("corpus") or {}).get("manifest_sha256") for m in (ma, mb))
    if corpus_a != corpus_b:
        notes.append(f"the runs evaluated different corpora (manifest sha256 {corpus_a} vs {corpus_b}): detection "
                     "deltas compare different clips")
    if ma.get("backend") != mb.get("backend"):
        notes.append(f"the runs used different backends ({ma.get('backend')} vs {mb.get('backend')})")
    return notes
