"""The outputs of a streaming wake-word step: per-stream and per-group tables under both window rules, the device's
detections beside the host's (parity.json), the summary (stream.json), and the per-group rows joined into the run's
fairness tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.evaluation.sww import SwwResult, WindowRule
from harness.evaluation.sww_groups import group_table
from harness.registry.models import ModelEntry
from harness.registry.targets import TargetProfile
from harness.reports.tables import to_markdown, write_table
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.job import DeviceStreams, Job
from harness.runs.settings import fairness_settings


def stream_table(records: list[dict[str, Any]], provenance: str) -> pd.DataFrame:
    rows = []
    for r in records:
        result = SwwResult(r["wav_file"], {}, WindowRule(r["verdict_rule"]))
        power = r["power"] or {}
        for rule_row in _rule_rows(r, result):
            rows.append({"wav_file": r["wav_file"], "attribute": r["attribute"], "group": r["group"], **rule_row,
                         "host_tp": r["host_counts"][rule_row["window_rule"]]["tp"],
                         "host_fp": r["host_counts"][rule_row["window_rule"]]["fp"],
                         "device_detections": r["parity"]["device_detections"],
                         "host_detections": r["parity"]["host_detections"], "parity_equal": r["parity"]["equal"],
                         "duty_cycle": r["duty"]["duty_cycle"], "throughput_per_s": r["duty"]["throughput_per_s"],
                         "avg_power_mw": power.get("avg_power_mw"), "stream_energy_mj": power.get("stream_energy_mj"),
                         "marker_missing": r["marker_missing"], "replays": r["replays"], "provenance": provenance})
    return pd.DataFrame(rows)


def _rule_rows(record: dict[str, Any], result: SwwResult) -> list[dict[str, Any]]:
    out = []
    for rule in WindowRule:
        c = record["counts"][str(rule)]
        out.append({"window_rule": str(rule), "window": f"[start, end + {rule.extension_s:g} s]", "tp": c["tp"],
                    "fn": c["fn"], "fp": c["fp"], "f1": c["f1"], "fa_per_hour": c["false_accepts_per_hour"],
                    "passed": c["passed"], "verdict_rule": rule is result.verdict_rule,
                    "rule_dependent": record["rule_dependent"]})
    return out


def write_outputs(run: RunDirectory, job: Job, model: ModelEntry, records: list[dict[str, Any]],
                  verdict_rule: WindowRule, provenance: str, dut_info: dict[str, Any], spec: DeviceStreams,
                  target: TargetProfile, join_fairness: bool) -> dict[str, Any]:
    """sww_streams and sww_fairness tables (and, in a bench session, the fairness tables), parity.json and
    stream.json; returns the summary. A plan's run keeps fairness.csv for the host's evaluation of its corpus."""
    fairness = fairness_settings(job.plan)
    streams = stream_table(records, provenance)
    flagged = [r["wav_file"] for r in records if r["rule_dependent"]]
    notes = [f"verdict under the {verdict_rule} window rule ([start, end + {verdict_rule.extension_s:g} s]); both "
             "rules' counts are listed", f"scores from {provenance}"]
    notes += [f"{name}: PASS/FAIL depends on the window rule" for name in flagged]
    notes += [f"{r['wav_file']}: no first-frame marker in the detection list (scored as no detection): check the "
              "WW_DETECTED wiring" for r in records if r["marker_missing"]]
    write_table(streams, run.path, contract.SWW_STREAMS.stem, title=f"Streaming wake-word: {model.name} per stream",
                notes=notes, meta={"run_id": run.run_id, "verdict_rule": str(verdict_rule), "provenance": provenance})
    groups = group_table(records, model.name, provenance, verdict_rule, fairness.confidence, fairness.min_clips,
                         fairness.min_speakers)
    meta = {"run_id": run.run_id, "confidence": fairness.confidence, "verdict_rule": str(verdict_rule),
            "provenance": provenance, "streams": spec.streams}
    write_table(groups, run.path, contract.SWW_FAIRNESS.stem, markdown=group_markdown(groups, model, provenance,
                                                                                     verdict_rule, fairness.confidence),
                meta=meta)
    if join_fairness:
        join_stream_fairness(run)
    parity = {"kind": "streaming detections, device vs host", "model": model.name,
              "all_equal": all(r["parity"]["equal"] for r in records),
              "streams": [{"wav_file": r["wav_file"], **r["parity"]} for r in records]}
    run.write_json(contract.PARITY, parity)
    powered = [r["power"] for r in records if r["power"]]
    summary = {"mode": "stream", "provenance": provenance, **dut_info, "verdict_rule": str(verdict_rule),
               "n_streams": len(records),
               "verdicts": {r["wav_file"]: r["verdict"] for r in records},
               "failed": [r["wav_file"] for r in records if r["verdict"] == "FAIL"],
               "rule_dependent": flagged, "parity_all_equal": parity["all_equal"],
               "duty_cycle_mean": float(np.mean([r["duty"]["duty_cycle"] for r in records])),
               "throughput_per_s_mean": float(np.mean([r["duty"]["throughput_per_s"] for r in records])),
               "avg_power_mw_mean": float(np.mean([p["avg_power_mw"] for p in powered])) if powered else None,
               "power_monitor": str(target.power_monitor) if target.power_monitor else None,
               "replays_after_reset": sum(r["replays"] for r in records), "status": "complete"}
    run.write_json(contract.mode_summary("stream"), summary)
    return summary


def group_markdown(groups: pd.DataFrame, model: ModelEntry, provenance: str, verdict_rule: WindowRule,
                   confidence: float) -> str:
    shown = groups.assign(value_ci=[f"{v:.3g} [{lo:.3g}, {hi:.3g}]" for v, lo, hi in
                                    zip(groups["value"], groups["ci_low"], groups["ci_high"], strict=True)])
    columns = {"attribute": "attribute", "group": "group", "window_rule": "window rule", "metric": "metric",
               "n": "n", "n_speakers": "speakers", "value_ci": f"value [{confidence:.0%} CI]", "k": "errors",
               "streams": "streams"}
    lines = [f"# Streaming wake-word per group: {model.name}", "",
             f"Scores {provenance}. FRR: missed wake words / wake words (Wilson interval); FA/h: false positives "
             "per hour of stream (exact Poisson interval). Rows of the verdict's window rule "
             f"({verdict_rule}, [start, end + {verdict_rule.extension_s:g} s]) are those the fairness table carries.",
             "", to_markdown(shown, columns)]
    return "\n".join(lines)



STREAM_ATTRIBUTE = "{attribute} (device stream)"


def join_stream_fairness(run: RunDirectory) -> None:
    """The verdict rule's per-group rows of ``sww_fairness`` in the run's fairness tables: the tables themselves when
    the run has no other, else appended with their attribute marked ``<attribute> (device stream)`` and their
    provenance, so they are never read as (or gated with) the host evaluation's groups."""
    groups = pd.read_csv(run.path / contract.SWW_FAIRNESS.csv, keep_default_na=False, na_values=[""])
    meta = run.read_json(contract.SWW_FAIRNESS.json)["meta"]
    rows = groups[groups["verdict_rule"]].drop(columns=["verdict_rule"]).reset_index(drop=True)
    notes = (f"\n## Measured on the device: streaming wake-word\n\nRows whose attribute ends in '(device stream)' "
             f"come from sww01 streams ({meta['streams']}) scored under the {meta['verdict_rule']} window rule, "
             f"{meta['provenance']}; sww_fairness.csv holds both rules.\n\n")
    existing = run.path / contract.FAIRNESS.csv
    host_meta = run.read_json(contract.FAIRNESS.json)["meta"] if existing.is_file() else {}
    if existing.is_file() and "verdict_rule" not in host_meta:  # not this step's own table of an earlier pass
        host = pd.read_csv(existing, keep_default_na=False, na_values=[""])
        host = host[~host["attribute"].astype(str).str.endswith(STREAM_ATTRIBUTE.format(attribute=""))]
        markdown = (run.path / contract.FAIRNESS.md).read_text(encoding="utf-8").split(notes.split("\n\n")[0])[0]
        rows = rows.assign(attribute=[STREAM_ATTRIBUTE.format(attribute=a) for a in rows["attribute"]])
        joined = pd.concat([host, rows], ignore_index=True)
        markdown = markdown + notes + to_markdown(
            rows, {c: c for c in ("model", "attribute", "group", "metric", "n", "value", "ci_low", "ci_high")})
        write_table(joined, run.path, contract.FAIRNESS.stem, markdown=markdown,
                    meta={**{k: v for k, v in host_meta.items() if k != "device_streams"}, "device_streams": meta})
        return
    write_table(rows, run.path, contract.FAIRNESS.stem,
                markdown=(run.path / contract.SWW_FAIRNESS.md).read_text(encoding="utf-8"),
                meta={**meta, "not_measured": []})
