"""``harness bench-device``: measure a model on an attached MLPerf Tiny DUT and write a run directory."""

from __future__ import annotations

from pathlib import Path

import click

from harness.cli.common import (
    COUNT,
    RUN_DIR,
    SEED,
    models,
    progress_bar,
    results_folder,
    results_option,
    targets,
    targets_dir_option,
)
from harness.core.errors import ConfigError
from harness.runs.bench import MODES, BenchSettings, bench_device, place_port


@click.command("bench-device")
@click.option("--port", default=None,
              help="pyserial URL of the DUT (or of its IO manager in energy mode): /dev/ttyACM0, COM3, "
                   "socket://host:port, rfc2217://host:port, spy:///dev/ttyACM0 (logs traffic), or "
                   "labgrid://COORDINATOR/PLACE.")
@click.option("--place", default=None,
              help="A labgrid place (instead of --port): its NAME, or KEY=VALUE[,KEY=VALUE] for the first idle place "
                   "with those tags. Acquired for the session and released however it ends. Needs the [farm] extra.")
@click.option("--coordinator", default=None, metavar="HOST:PORT",
              help="With --place: the labgrid coordinator. Default: $LG_COORDINATOR, else 127.0.0.1:20408.")
@click.option("--place-wait", "place_wait_s", type=click.FloatRange(0, 7 * 86_400), default=0.0, show_default=True,
              help="With --place: seconds to wait while the place is held by someone else (0: fail at once, "
                   "naming who holds it).")
@click.option("--board", default=None,
              help="Stream mode: pyserial URL of the enhanced interface board (STM32H573I-DK) that plays the streams.")
@click.option("--dut", "dut_url", default=None,
              help="Stream mode: the DUT's own port; without it DUT commands go through the board's pass-through.")
@click.option("--streams", default=None,
              help="Stream mode: a folder from 'harness corpus stream' (its WAVs on the board's SD card) or "
                   "builtin:tiny|demo|full (per-accent and per-noise streams of the built-in corpus).")
@click.option("--verdict-rule", type=click.Choice(["code", "readme"]), default="code", show_default=True,
              help="Stream mode: the detection window pass/fail is decided under ([start, end + 2 s] as the "
                   "field runner's code, or + 1 s as its README); both are always reported.")
@click.option("--model", "model_name", required=True, help="The model the DUT firmware runs (name or .tflite path).")
@click.option("--target", "target_name", default="mcu", show_default=True,
              help="Target profile (name or .yaml path) for budgets and power; its link is replaced by --port.")
@click.option("--mode", type=click.Choice(MODES), default="performance", show_default=True)
@click.option("--monitor", default=None,
              help="Energy or stream mode: sim:URL, lpm01a:URL, joulescope or ppk2:URL; on an SSH board its own rails "
                   "(board-rails:jetson, board-rails:hwmon:LABEL), on a phone its battery (android-battery).")
@click.option("--quick", is_flag=True, help="3 windows of >= 1 s instead of MLPerf's 5 of >= 10 s (labelled quick).")
@click.option("--baud", type=click.IntRange(1, 100_000_000), default=115200, show_default=True)
@click.option("--timeout", "timeout_s", type=click.FloatRange(0, 86_400, min_open=True), default=10.0,
              show_default=True,
              help="Seconds to wait for a reply (infer adds the expected window time).")
@click.option("--inputs", type=click.Path(path_type=Path, exists=True, file_okay=False), default=None,
              help="MLPerf Tiny dataset folder (.bin inputs + y_labels.csv). Default: seeded inputs, unlabelled.")
@click.option("--corpus", default=None,
              help="Accuracy mode over a corpus directory or builtin:tiny|demo|full (kws models): per-group "
                   "fairness tables from the DUT's scores, as 'harness eval' writes them.")
@click.option("--min-clips", type=click.IntRange(1, None), default=30, show_default=True,
              help="With --corpus: groups with fewer clips are marked insufficient evidence.")
@click.option("--min-speakers", type=click.IntRange(1, None), default=5, show_default=True,
              help="With --corpus: groups with fewer speakers are marked insufficient evidence.")
@click.option("--count", type=COUNT, default=20, show_default=True, help="Seeded inputs for accuracy mode.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@results_option
@click.option("--resume", type=RUN_DIR, default=None,
              help="Continue an interrupted run directory; finished windows and inputs are not measured again.")
@targets_dir_option
def command(port: str | None, place: str | None, coordinator: str | None, place_wait_s: float,
            board: str | None, dut_url: str | None, streams: str | None, verdict_rule: str,
            model_name: str, target_name: str, mode: str, monitor: str | None, quick: bool, baud: int,
            timeout_s: float, inputs: Path | None, corpus: str | None, min_clips: int, min_speakers: int, count: int,
            seed: int, results: Path | None, resume: Path | None, targets_dirs: tuple[Path, ...]) -> None:
    """Drive MLPerf Tiny firmware over serial and write results/<run_id>/ like 'harness run'.

    \b
    Examples:
      harness bench-device --port /dev/ttyACM0 --model mlperf-dscnn-kws --target nucleo-l4r5zi
      harness bench-device --port socket://127.0.0.1:4000 --model mlperf-dscnn-kws --mode accuracy --quick
      harness bench-device --port /dev/ttyACM0 --model my-kws.yaml --mode accuracy --corpus builtin:demo
      harness bench-device --port /dev/ttyACM1 --model mlperf-dscnn-kws --mode energy --monitor lpm01a:/dev/ttyACM0
      harness bench-device --place nucleo-1 --coordinator lab-coordinator:20408 --model mlperf-dscnn-kws
      harness bench-device --mode stream --board /dev/ttyACM2 --streams builtin:demo --model mww-alexa
    Stream mode plays each stream through the interface board into the DUT (MLPerf Tiny sww01; --monitor
    integrates power over each stream) and writes sww_streams.csv|.md|.json (per stream, both window rules),
    sww_fairness.csv|.md|.json and fairness.csv|.md|.json (per group FRR and FA/h with intervals), parity.json
    (device vs host detections) and stream.json.
    Writes manifest.json, status.json, efficiency.csv|.md|.json (backend 'device') and <mode>.json, or
    accuracy.json and parity.json (with --corpus also raw/predictions.parquet, fairness.csv|.md|.json,
    disparity.json, confusion.csv|.md|.json); raw/ holds transcript.log, the windows and per-input rows as JSONL.
    The directory is printed as the last line.
    """
    if place is not None or coordinator is not None or place_wait_s:
        port = place_port(port, place, coordinator, place_wait_s)
    port = _session_port(mode, port, board)
    settings = BenchSettings(port=port, model=model_name, target=target_name, mode=mode, monitor=monitor,
                             quick=quick, baud=baud, timeout_s=timeout_s, inputs=inputs, count=count, seed=seed,
                             corpus=corpus, min_clips=min_clips, min_speakers=min_speakers, dut=dut_url,
                             streams=streams, verdict_rule=verdict_rule)
    settings.check()
    model, target = models().get(model_name), targets(targets_dirs).get(target_name)
    with progress_bar(f"bench-device {mode}") as update:
        run_dir = bench_device(settings, model, target, results_folder(results), resume=resume, progress=update)
    click.echo(str(run_dir))


def _session_port(mode: str, port: str | None, board: str | None) -> str:
    """The URL the session talks to: the interface board in stream mode, the DUT (or IO manager) otherwise."""
    if mode == "stream":
        if port or not board:
            raise ConfigError("stream mode talks to the interface board: give --board URL (not --port)",
                              hint="e.g. --board /dev/ttyACM2, or the socket:// URL a simulated board prints")
        return board
    if board or not port:
        raise ConfigError(f"{mode} mode talks to the DUT: give --port URL" + (" (--board is for --mode stream)"
                          if board else ""), hint="e.g. --port /dev/ttyACM0")
    return port
