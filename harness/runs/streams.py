"""Streaming wake-word on a device (MLPerf Tiny sww01): every stream of a set played by the interface board into the
DUT, scored under both window rules, beside the host's streaming evaluation of the same stream, with the power
monitor integrating over it; then per-group FRR and FA/h with intervals.

Each stream's record goes to ``raw/sww_streams.jsonl`` as soon as it is complete, so ``--resume`` plays only the
streams not yet recorded and a completed stream is never measured again. A DUT reset during a stream (its boot
banner in a reply) plays that stream once more; a second reset ends the run with the streams so far kept.
"""

from __future__ import annotations

import wave
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.core.errors import ConfigError, DataError, DeviceError
from harness.core.progress import Progress
from harness.core.transcript import Transcript
from harness.dut.records import DeviceReset
from harness.dut.sww.board import DirectDut, InterfaceBoard
from harness.dut.sww.session import StreamCapture, play_stream
from harness.evaluation.scoring import WakeWordScorer
from harness.evaluation.sww import SwwCount, SwwResult, WindowRule, count, detections_since_start, score_stream
from harness.evaluation.sww_device import host_detection_times
from harness.evaluation.sww_groups import group_table, stream_parity
from harness.power.integrate import RunningIntegral
from harness.power.monitor import PowerMonitor, open_monitor
from harness.power.trace import Trace
from harness.registry.models import ModelEntry, Task
from harness.registry.targets import TargetProfile
from harness.reports.tables import to_markdown, write_table
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.job import DeviceStreams, Job, PairResult
from harness.runs.settings import fairness_settings
from harness.runs.stream_set import PlayedStream, StreamSet, load_stream_set
from harness.runtimes import RuntimeOptions

REPLAYS_AFTER_RESET = 1
SWW_MODEL_ID = "sww01"


def board_streams(job: Job) -> tuple[ModelEntry, TargetProfile, DeviceStreams] | None:
    """The streaming step of a plan: its wake-word model on the target whose link names an interface board (one
    pair per run: a DUT runs one model's firmware)."""
    boards = [t for t in job.targets if t.link.board is not None]
    if not boards:
        return None
    wake = [m for m in job.models if m.task == Task.wake_word]
    if len(boards) > 1 or len(wake) != 1:
        raise ConfigError(f"a run streams one wake-word model on one interface board; this plan has "
                          f"{len(wake)} wake-word model(s) and {len(boards)} target(s) with a board "
                          f"({', '.join(t.name for t in boards)})",
                          hint="a DUT runs one model's firmware: split the plan, one board and wake-word model each")
    target = boards[0]
    board = target.link.board
    assert board is not None
    dut = target.link.url if target.link.url != board.url else None
    return wake[0], target, DeviceStreams(board.streams, board.url, dut, board.verdict_rule)


def measure_streams(run: RunDirectory, job: Job, model: ModelEntry, target: TargetProfile, spec: DeviceStreams,
                    progress: Progress | None = None) -> PairResult:
    """Play every stream not yet recorded, then write the stream, group, parity and summary outputs."""
    stream_set = load_stream_set(spec.streams, model, job.plan.seed, progress)
    verdict_rule = WindowRule(spec.verdict_rule)
    done = kept_streams(run, stream_set)
    plan = job.plan
    scorer = WakeWordScorer(model, RuntimeOptions(xnnpack=plan.runtime.xnnpack, threads=plan.runtime.threads))
    resets = 0
    try:
        with ExitStack() as stack:
            board = stack.enter_context(InterfaceBoard(spec.board, stack.enter_context(
                Transcript(run.path / contract.TRANSCRIPT))))
            dut = stack.enter_context(DirectDut(spec.dut, stack.enter_context(
                Transcript(run.path / contract.SWW_DUT_TRANSCRIPT)))) if spec.dut else None
            dut_info = identify(board, dut, stream_set)
            monitor = stack.enter_context(open_monitor(
                target.power_monitor, voltage_v=target.power_monitor.voltage or target.power.supply_v,
                log_path=run.path / contract.MONITOR_LOG)) if target.power_monitor else None
            total = len(stream_set.streams)
            for i, played in enumerate(stream_set.streams):
                if played.truth.wav_file in done:
                    continue
                if progress:
                    progress(played.truth.wav_file, i, total)
                capture, trace, replays = play_with_replays(board, dut, played, monitor)
                resets += replays
                record = stream_record(played, capture, trace, scorer, stream_set.folder, verdict_rule, replays)
                run.append_jsonl(contract.SWW_STREAM_ROWS, record)
                done[played.truth.wav_file] = record
            if progress:
                progress("streams", total, total)
    finally:
        scorer.close()
    records = [done[p.truth.wav_file] for p in stream_set.streams]
    provenance = (f"measured on the device: {model.name} on the DUT {dut_info['dut_name']} behind the interface board "
                  f"at {spec.board}")
    summary = write_outputs(run, job, model, records, verdict_rule, provenance, dut_info, spec, target,
                            join_fairness=job.session is not None)
    return PairResult(summary, resets)


def kept_streams(run: RunDirectory, stream_set: StreamSet) -> dict[str, dict[str, Any]]:
    """Streams recorded before an interruption, checked against this set; a torn last line is dropped."""
    rows = run.read_jsonl(contract.SWW_STREAM_ROWS)
    run.rewrite_jsonl(contract.SWW_STREAM_ROWS, rows)
    names = {p.truth.wav_file for p in stream_set.streams}
    for row in rows:
        if row.get("wav_file") not in names:
            raise DataError(f"{run.path / contract.SWW_STREAM_ROWS}: stream '{row.get('wav_file')}' is not in this "
                            "stream set", hint="resume with the same --streams")
    return {row["wav_file"]: row for row in rows}


def identify(board: InterfaceBoard, dut: DirectDut | None, stream_set: StreamSet) -> dict[str, Any]:
    """The board is an enhanced interface board holding every stream, and the DUT runs sww01."""
    board.name()
    on_card = set(board.ls())
    missing = [p.truth.wav_file for p in stream_set.streams if p.truth.wav_file not in on_card]
    if missing:
        raise DataError(f"the interface board's SD card lacks {len(missing)} stream(s) of {stream_set.folder}: "
                        f"{', '.join(missing[:5])}", hint=f"copy {stream_set.folder}/*.wav to the SD card's root",
                        log_path=board.transcript.path)
    control = dut or board
    model_id = control.dut_model()
    if model_id != SWW_MODEL_ID:
        raise DeviceError(f"the DUT runs '{model_id}', not the streaming wake-word benchmark ({SWW_MODEL_ID})",
                          hint="flash the DUT with sww01 firmware", log_path=control.transcript.path)
    profile = [line for line in control.dut("profile") if line.startswith("m-profile-[")]
    return {"dut_name": control.dut_name(), "dut_profile": profile[0] if profile else None, "board": board.url,
            "dut_port": dut.url if dut else None}


def play_with_replays(board: InterfaceBoard, dut: DirectDut | None, played: PlayedStream,
                      monitor: PowerMonitor | None) -> tuple[StreamCapture, Trace | None, int]:
    """The stream played (again after a DUT reset, once), with the monitor acquiring throughout."""
    truth = played.truth
    for attempt in range(REPLAYS_AFTER_RESET + 1):
        try:
            if monitor is not None:
                monitor.start()
            capture = play_stream(board, truth.wav_file, truth.length_sec, dut=dut)
            trace = monitor.stop() if monitor is not None else None
            return capture, trace, attempt
        except DeviceReset as exc:
            board.transcript.note(f"{truth.wav_file}: the DUT reset during the stream (attempt {attempt + 1})")
            last = exc
        finally:
            if monitor is not None and monitor.state.value == "acquiring":
                monitor.close()
    raise DeviceError(f"the DUT reset during stream {truth.wav_file} {REPLAYS_AFTER_RESET + 1} times: "
                      f"{last.message}", hint="check the DUT's supply and watchdog; the streams completed so far "
                      "are kept: resume with --resume", log_path=last.log_path)


def power_record(trace: Trace, capture: StreamCapture) -> dict[str, Any]:
    """Average power over the acquisition, the energy of the stream at that power, and per frame."""
    running = RunningIntegral(trace)
    span = (len(trace.current_a) - 1) / trace.sample_rate_hz
    energy_j = float(running.energy_to(np.array([span]))[0])
    avg_w = energy_j / span
    return {"monitor": trace.monitor, "sample_rate_hz": trace.sample_rate_hz, "voltage_v": trace.voltage_v,
            "acquired_s": span, "avg_power_mw": avg_w * 1e3, "stream_energy_mj": avg_w * capture.length_s * 1e3,
            "energy_per_frame_uj": avg_w * capture.duty.period_s * 1e6}


def left_channel(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as f:
        channels, frames = f.getnchannels(), f.readframes(f.getnframes())
    return np.frombuffer(frames, dtype="<i2").reshape(-1, channels)[:, 0].astype(np.int16)


def scored(detections_ms: tuple[int, ...], played: PlayedStream, verdict_rule: WindowRule) -> SwwResult:
    """Both window rules; a list without the first-frame marker scores as no detection (and is flagged)."""
    if detections_ms:
        return score_stream(detections_ms, played.truth, verdict_rule)
    truth = played.truth
    return SwwResult(truth.wav_file, {rule: count(np.empty(0), truth.detection_windows, truth.length_sec, rule)
                                      for rule in WindowRule}, verdict_rule)


def _counts(counts: dict[WindowRule, SwwCount]) -> dict[str, dict[str, Any]]:
    return {str(rule): {"tp": c.tp, "fn": c.fn, "fp": c.fp, "f1": c.f1,
                        "false_accepts_per_hour": c.false_accepts_per_hour, "passed": c.passed}
            for rule, c in counts.items()}


def stream_record(played: PlayedStream, capture: StreamCapture, trace: Trace | None, scorer: WakeWordScorer,
                  folder: Path, verdict_rule: WindowRule, replays: int) -> dict[str, Any]:
    """Everything about one stream: detections, both rules' counts, duty cycle, power, host parity."""
    truth = played.truth
    result = scored(capture.detections_ms, played, verdict_rule)
    device_s = detections_since_start(capture.detections_ms) if capture.detections_ms else np.empty(0)
    host_s = host_detection_times(scorer, left_channel(folder / truth.wav_file))
    host = {rule: count(host_s, truth.detection_windows, truth.length_sec, rule) for rule in WindowRule}
    duty = capture.duty
    return {"wav_file": truth.wav_file, "attribute": played.group.attribute, "group": played.group.group,
            "speakers": list(played.group.speakers) if played.group.speakers is not None else None,
            "length_s": truth.length_sec, "n_wake_words": len(truth.detection_windows),
            "detections_ms": list(capture.detections_ms), "marker_missing": not capture.detections_ms,
            "verdict": str(result.verdict), "verdict_rule": str(verdict_rule), "rule_dependent": result.rule_dependent,
            "counts": _counts(result.counts), "host_counts": _counts(host),
            "duty": {"processing_ms": duty.processing_s * 1e3, "period_ms": duty.period_s * 1e3,
                     "duty_cycle": duty.duty_cycle, "period_variation": duty.period_variation,
                     "throughput_per_s": duty.throughput_per_s, "frames": int(duty.start_s.size)},
            "power": power_record(trace, capture) if trace is not None else None,
            "parity": stream_parity(device_s, host_s, scorer.rules.step_s, duty.processing_s),
            "replays": replays, "dut_stop_lines": list(capture.dut_stop_lines)}


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
