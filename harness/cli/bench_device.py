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
@click.option("--model", "model_name", required=True, help="The model the DUT firmware runs (name or .tflite path).")
@click.option("--target", "target_name", default="mcu", show_default=True,
              help="Target profile (name or .yaml path) for budgets and power; its link is replaced by --port.")
@click.option("--mode", type=click.Choice(MODES), default="performance", show_default=True)
@click.option("--monitor", default=None, help="Energy mode: sim:URL, lpm01a:URL, joulescope or ppk2:URL.")
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
    Writes manifest.json, status.json, efficiency.csv|.md|.json (backend 'device') and <mode>.json, or
    accuracy.json and parity.json (with --corpus also raw/predictions.parquet, fairness.csv|.md|.json,
    disparity.json, confusion.csv|.md|.json); raw/ holds transcript.log, the windows and per-input rows as JSONL.
    The directory is printed as the last line.
    """
    port = place_port(port, place, coordinator, place_wait_s)
    settings = BenchSettings(port=port, model=model_name, target=target_name, mode=mode, monitor=monitor,
                             quick=quick, baud=baud, timeout_s=timeout_s, inputs=inputs, count=count, seed=seed,
                             corpus=corpus, min_clips=min_clips, min_speakers=min_speakers)
    settings.check()
    model, target = models().get(model_name), targets(targets_dirs).get(target_name)
    with progress_bar(f"bench-device {mode}") as update:
        run_dir = bench_device(settings, model, target, results_folder(results), resume=resume, progress=update)
    click.echo(str(run_dir))
