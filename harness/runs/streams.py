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

from harness.core.errors import ConfigError, DataError, DeviceError
from harness.core.progress import Progress
from harness.core.transcript import Transcript
from harness.dut.records import DeviceReset
from harness.dut.sww.board import DirectDut, InterfaceBoard
from harness.dut.sww.session import StreamCapture, play_stream
from harness.evaluation.scoring import WakeWordScorer
from harness.evaluation.sww import SwwCount, SwwResult, WindowRule, count, detections_since_start, score_stream
from harness.evaluation.sww_device import host_detection_times
from harness.evaluation.sww_groups import stream_parity
from harness.power.integrate import RunningIntegral
from harness.power.monitor import PowerMonitor, open_monitor
from harness.power.trace import Trace
from harness.registry.models import ModelEntry, Task
from harness.registry.targets import TargetProfile
from harness.rundir import contract
from harness.rundir.directory import RunDirectory
from harness.runs.job import DeviceStreams, Job, PairResult
from harness.runs.stream_set import PlayedStream, StreamSet, load_stream_set
from harness.runs.stream_tables import write_outputs
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
                        "false_accepts_per_hour": c.false_accepts_per_hour, "passed": c.passed,
                        "missed_s": list(c.false_negatives)}
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
            "wake_word_speakers": ([list(pair) for pair in played.group.wake_word_speakers]
                                   if played.group.wake_word_speakers is not None else None),
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
