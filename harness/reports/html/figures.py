"""Figures only the HTML report draws (latency distributions, power traces, the fairness trade-off), and PNG
embedding as data: URIs so the report needs no other file."""

from __future__ import annotations

import base64
import inspect
import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.evaluation.det import literal
from harness.power.trace import Trace
from harness.reports.figure_pool import Drawings, Pending

DPI = 90
ENVELOPE_BINS = 1500
# Matplotlib 3.10 replaced boxplot's vert=False with orientation="horizontal" (vert is deprecated from 3.11).
HORIZONTAL = ({"orientation": "horizontal"} if "orientation" in inspect.signature(Axes.boxplot).parameters
              else {"vert": False})


def data_uri(fig: Figure) -> str:
    """The figure as a base64 PNG data: URI."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_uri(drawings: Drawings | None, build: Callable[..., Figure], *args: Any, **kwargs: Any) -> str | Pending:
    """``data_uri(build(*args, **kwargs))``: drawn now without ``drawings``, else its place in that batch."""
    if drawings is None:
        return data_uri(build(*args, **kwargs))
    return drawings.add(data_uri, build, *args, **kwargs)


def latency_figure(samples: dict[str, pd.Series], budget_ms: float | None, target: str) -> Figure:
    """Device latency per inference, one box per model (log axis), the target's budget as a dashed line."""
    names = list(samples)
    fig = Figure(figsize=(7.5, 0.9 + 0.38 * len(names)))
    ax = fig.add_subplot()
    ax.boxplot([samples[n].to_numpy(dtype=float) for n in names], whis=(1, 99), showfliers=True,
               flierprops={"markersize": 2}, **HORIZONTAL)
    ax.set_yticks(np.arange(1, len(names) + 1), [literal(n) for n in names])
    ax.invert_yaxis()  # the first model on top, as in the tables
    if budget_ms is not None and np.isfinite(budget_ms):
        ax.axvline(budget_ms, color="tab:red", linestyle="--", label=f"budget {budget_ms:g} ms")
        ax.legend(fontsize="small", loc="lower right")
    ax.set_xscale("log")
    ax.set_xlabel("device latency per inference (ms, log); whiskers p1-p99")
    ax.set_title(f"Latency distribution on {target}")
    ax.grid(True, axis="x", which="both", alpha=0.3)
    return fig


def _envelope(t: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(time, min, mean, max) per bin, so a million-sample trace draws as fast as a short one."""
    if len(p) <= ENVELOPE_BINS:
        return t, p, p, p
    edges = np.linspace(0, len(p), ENVELOPE_BINS + 1).astype(int)
    starts = edges[:-1]
    return (t[starts], np.minimum.reduceat(p, starts), np.add.reduceat(p, starts) / np.diff(edges),
            np.maximum.reduceat(p, starts))


def power_figure(traces: dict[str, Trace], inferences: dict[str, int], target: str) -> Figure:
    """One panel per model: power over time (min-max envelope and mean), the timed inference window shaded."""
    names = list(traces)
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig = Figure(figsize=(4.2 * cols, 2.3 * rows), layout="constrained")
    for i, name in enumerate(names):
        trace = traces[name]
        ax = fig.add_subplot(rows, cols, i + 1)
        unit, per_s = ("s", 1.0) if trace.duration_s > 10 else ("ms", 1e3)
        t, low, mean, high = _envelope(trace.times() * per_s, trace.power_w() * 1e3)
        ax.fill_between(t, low, high, color="tab:blue", alpha=0.3, linewidth=0)
        ax.plot(t, mean, color="tab:blue", linewidth=0.8)
        if len(trace.events_s) >= 2:
            n = inferences.get(name)
            ax.axvspan(trace.events_s[0] * per_s, trace.events_s[1] * per_s, color="tab:orange", alpha=0.2,
                       label=f"timed window ({n} inferences)" if n else "timed window")
            ax.legend(fontsize="x-small", loc="lower center")
        ax.set_title(name, fontsize="small")
        ax.set_xlabel(f"time ({unit})", fontsize="small")
        ax.set_ylabel("power (mW)", fontsize="small")
        ax.tick_params(labelsize="x-small")
    fig.suptitle(f"Power traces on {target} ({next(iter(traces.values())).monitor} monitor)")
    return fig


def tradeoff_figure(tables: dict[str, pd.DataFrame], cutoff: float | None, model: str) -> Figure:
    """Left: worst-best FRR gap against overall FRR over thresholds. Right: both against the threshold.
    The model's cutoff is a star on the left and a dotted line on the right."""
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for attribute, table in tables.items():
        valid = table.dropna(subset=["gap"])
        line = left.plot(100 * valid["frr"], 100 * valid["gap"], marker=".", markersize=3,
                         label=literal(f"by {attribute}"))[0]
        right.plot(valid["threshold"], 100 * valid["gap"], color=line.get_color(), label=literal(f"gap by {attribute}"))
        if cutoff is not None:
            at = valid[np.isclose(valid["threshold"], cutoff)]
            if not at.empty:
                left.plot(100 * at["frr"], 100 * at["gap"], marker="*", markersize=14, color=line.get_color(),
                          markeredgecolor="black", linestyle="none")
    first = next(iter(tables.values()))
    right.plot(first["threshold"], 100 * first["frr"], color="black", label="overall FRR")
    if cutoff is not None:
        right.axvline(cutoff, color="grey", linestyle=":", label=f"cutoff {cutoff:g}")
        left.plot([], [], marker="*", color="grey", markeredgecolor="black", linestyle="none",
                  label=f"cutoff {cutoff:g}")
    left.set_xlabel("overall false rejection rate (%)")
    left.set_ylabel("worst - best group FRR (percentage points)")
    left.set_title(literal(f"{model}: fairness-accuracy trade-off"))
    right.set_xlabel("decision threshold")
    right.set_ylabel("%")
    right.set_title("FRR and group gap by threshold")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return fig
