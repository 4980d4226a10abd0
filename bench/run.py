"""``make bench``: measure the harness's own performance figures into results/bench.json.

Each figure is a ratio measured in one process and one run (the machines are shared and noisy),
steady state: after model load and warm-up. See the README's "Benchmarks" section. Groups can be
measured alone (``python -m bench.run --only evaluation``); figures already in bench.json from
other groups are kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from harness.core.paths import project_root, results_dir

Figures = dict[str, dict[str, Any]]


def overhead() -> Figures:
    from bench.overhead import harness_overhead

    return {"harness_overhead_ratio": {**harness_overhead(), "command": "python -m bench.run --only overhead"}}


def evaluation() -> Figures:
    from bench.evaluation import evaluation_figures

    return evaluation_figures()


def reference() -> Figures:
    from bench.reference import reference_figures

    return reference_figures()


def memory() -> Figures:
    from bench.memory import memory_figures

    return memory_figures()


def power() -> Figures:
    from bench.power import power_figures

    return power_figures()


def serial() -> Figures:
    from bench.serial import serial_figures

    return serial_figures()


def stream() -> Figures:
    from bench.stream import stream_figures

    return stream_figures()


def dask() -> Figures:
    from bench.dask_eval import dask_figures

    return dask_figures()


def demo() -> Figures:
    """Wall time of each plan ``make demo`` runs, and of both (the corpora cached by an earlier run)."""
    harness = Path(sys.executable).with_name("harness")
    figures: Figures = {}
    total = 0.0
    for name, plan in (("demo_wall_s", "plans/demo.yaml"), ("demo_kws12_wall_s", "plans/demo-kws12.yaml")):
        t0 = time.perf_counter()
        subprocess.run([str(harness), "run", "--plan", plan], cwd=project_root(), check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t0
        total += seconds
        figures[name] = {"value": round(seconds, 2), "unit": "s", "command": f"harness run --plan {plan}"}
    figures["make_demo_wall_s"] = {"value": round(total, 2), "unit": "s", "command": "make demo (both plans)"}
    return figures


GROUPS: dict[str, Callable[[], Figures]] = {
    "overhead": overhead, "evaluation": evaluation, "reference": reference, "memory": memory, "serial": serial,
    "power": power, "demo": demo, "stream": stream, "dask": dask,
}


@click.command()
@click.option("--only", "only", multiple=True, type=click.Choice(sorted(GROUPS)),
              help="Measure only these groups (repeatable); default: all.")
def main(only: tuple[str, ...]) -> None:
    """Measure the benchmark figures and write results/bench.json."""
    out = results_dir() / "bench.json"
    figures: Figures = json.loads(out.read_text()) if out.is_file() else {}
    for name in only or tuple(GROUPS):
        click.echo(f"measuring {name} ...", err=True)
        measured = GROUPS[name]()
        for key, figure in measured.items():
            click.echo(f"  {key} = {figure['value']}", err=True)
        figures.update(measured)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2) + "\n")  # after each group: a crash keeps what was measured
    click.echo(out)


if __name__ == "__main__":
    main()
