"""Fit the simulated cost model to published MLPerf Tiny results.

Method (written out with the residuals in docs/calibration.md by ``harness calibrate --write``):

1. The four MLPerf Tiny reference models are rebuilt by harness.modelgen and analysed
   statically, giving MACs per op kind, op counts and element counts.
2. The four reference-firmware rows (NUCLEO-L4R5ZI, Cortex-M4 120 MHz, tflm-reference: kws, vww,
   ic, ad) fit cycles per MAC for regular and depthwise convolutions and the interpreter's
   per-op dispatch cycles by non-negative least squares on relative error. One degree of
   freedom is left, so these rows have real residuals.
3. Each further row identifies exactly one factor from the kws model: the stack factor of
   tflm-cmsis-nn (from microTVM + CMSIS-NN on the same board, an approximation we state) and
   x-cube-ai; the core factor of cortex-m33 and cortex-m7 (x-cube-ai rows); the MVP accelerator
   factor (xG24 row). These have zero residual by construction and are not evidence of accuracy.
4. Everything else keeps the documented estimate in ``ESTIMATES``.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import nnls

from harness.costmodel.model import Work

REFERENCE_MODELS = {
    "kws": "mlperf-dscnn-kws",
    "vww": "mlperf-mobilenet-vww",
    "ic": "mlperf-resnet8-ic",
    "ad": "mlperf-fc-autoencoder-ad",
}
_CSV = "data/mlperf_tiny_results.csv"
_REF = "reference row: MLPerf Tiny v{version} {submitter} {board} {stack} {task}"

# Parameters no published row identifies: value and the reasoning behind it.
ESTIMATES: dict[str, dict[str, Any]] = {
    "elementwise_cycles": {"value": 4.0, "source": "estimate: ~4 cycles per output element for int8 "
                           "element-wise/pooling kernels on Cortex-M (load, op, requantise, store)"},
    "dispatch_cycles.x-cube-ai": {"value": 200.0, "source": "estimate: generated C code without an "
                                  "interpreter; a function call and bookkeeping per layer"},
    "dispatch_cycles.litert-xnnpack": {"value": 3000.0, "source": "estimate: LiteRT op dispatch on an "
                                       "application core, ~1-2 us per op"},
    "core_factor.cortex-m0plus": {"value": 2.2, "source": "estimate: no DSP extension (no SMLAD dual 16-bit "
                                  "MAC), 2-stage pipeline; ~2x Cortex-M4 cycles per int8 MAC"},
    "core_factor.cortex-m55": {"value": 0.45, "source": "estimate: Helium (MVE) 8-bit vector MACs with "
                               "CMSIS-NN; ~2x fewer cycles per MAC than Cortex-M4 SIMD"},
    "core_factor.cortex-m85": {"value": 0.35, "source": "estimate: Helium (MVE) with a wider, dual-issue "
                               "pipeline than Cortex-M55"},
    "core_factor.xtensa-lx7": {"value": 1.0, "source": "estimate: scalar core comparable to Cortex-M4 per "
                               "cycle; its 128-bit SIMD is credited in the esp-nn stack factor"},
    "core_factor.cortex-a53": {"value": 0.5, "source": "estimate: in-order NEON core, ~2 int8 MACs/cycle "
                               "effective"},
    "core_factor.cortex-a72": {"value": 0.25, "source": "estimate: out-of-order NEON core (Raspberry Pi 4)"},
    "core_factor.cortex-a76": {"value": 0.15, "source": "estimate: NEON with dot-product (SDOT) instructions"},
    "core_factor.cortex-a78": {"value": 0.12, "source": "estimate: NEON with SDOT, wider than A76"},
    "core_factor.cortex-x": {"value": 0.1, "source": "estimate: phone prime core (Cortex-X), widest NEON"},
    "stack_factor.esp-nn": {"value": 0.35, "source": "estimate: ESP-NN's PIE SIMD kernels on ESP32-S3, "
                            "~3x over reference C kernels"},
    "stack_factor.litert-xnnpack": {"value": 1.0, "source": "estimate: XNNPACK kernels; the speed of the "
                                    "application core is carried by its core factor"},
    "thread_efficiency": {"value": 0.6, "source": "estimate: each extra thread adds 60% of one core's "
                          "throughput for small convolution graphs"},
    "jitter_sigma.mcu": {"value": 0.002, "source": "estimate: bare-metal timing varies ~0.2% (cache, "
                         "flash wait states)"},
    "jitter_sigma.wearable": {"value": 0.002, "source": "estimate: bare-metal timing, as mcu"},
    "jitter_sigma.embedded_camera": {"value": 0.01, "source": "estimate: caches and PSRAM or an OS add ~1%"},
    "jitter_sigma.phone": {"value": 0.05, "source": "estimate: OS scheduling and DVFS add ~5%"},
}


@dataclass(frozen=True)
class Row:
    version: str
    submitter: str
    board: str
    core: str
    clock_mhz: float
    stack: str
    task: str
    latency_ms: float
    energy_uj: float | None

    @property
    def cycles(self) -> float:
        return self.latency_ms * 1e-3 * self.clock_mhz * 1e6

    def cite(self) -> str:
        return _REF.format(**self.__dict__)


def published_rows() -> list[Row]:
    text = resources.files("harness.costmodel").joinpath(_CSV).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    rows = []
    for r in csv.DictReader(lines):
        rows.append(Row(r["version"], r["submitter"], r["board"], r["core"], float(r["clock_mhz"]), r["stack"],
                        r["task"], float(r["latency_ms"]), float(r["energy_uj"]) if r["energy_uj"] else None))
    return rows


def reference_work() -> dict[str, Work]:
    from harness.analysis import analyze
    from harness.modelgen import build_artifact

    return {task: Work.of(analyze(build_artifact(name))) for task, name in REFERENCE_MODELS.items()}


def fit(work: dict[str, Work] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the cost-model parameters (JSON-ready) and one residual record per published row."""
    work = work or reference_work()
    rows = published_rows()
    ew = ESTIMATES["elementwise_cycles"]["value"]
    ref = [r for r in rows if r.submitter == "reference" and r.stack == "tflm-reference"]
    # Relative-error least squares: divide each equation by its observed cycles.
    a = np.array([[work[r.task].conv_macs, work[r.task].dw_macs, work[r.task].n_ops] for r in ref])
    b = np.array([r.cycles - ew * work[r.task].elements for r in ref])
    obs = np.array([r.cycles for r in ref])
    (cpm_conv, cpm_dw, dispatch_ref), _ = nnls(a / obs[:, None], b / obs)

    def mac_cycles(w: Work) -> float:
        return w.conv_macs * cpm_conv + w.dw_macs * cpm_dw + w.elements * ew

    kws = work["kws"]
    by = {(r.board, r.stack, r.task): r for r in rows}
    fitted: dict[str, dict[str, Any]] = {}

    def identify(key: str, row: Row, dispatch: float, known: float) -> float:
        value = (row.cycles - kws.n_ops * dispatch) / (mac_cycles(kws) * known)
        fitted[key] = {"value": round(float(value), 4), "source": row.cite(), "fitted": True}
        return float(value)

    l4 = "NUCLEO-L4R5ZI"
    s_cmsis = identify("stack_factor.tflm-cmsis-nn", by[(l4, "microtvm-cmsis-nn", "kws")], dispatch_ref, 1.0)
    d_xcube = ESTIMATES["dispatch_cycles.x-cube-ai"]["value"]
    s_xcube = identify("stack_factor.x-cube-ai", by[(l4, "x-cube-ai-7.3", "kws")], d_xcube, 1.0)
    identify("core_factor.cortex-m33", by[("NUCLEO-U575ZI-Q", "x-cube-ai-7.3", "kws")], d_xcube, s_xcube)
    identify("core_factor.cortex-m7", by[("NUCLEO-H7A3ZI-Q", "x-cube-ai-7.3", "kws")], d_xcube, s_xcube)
    m33 = fitted["core_factor.cortex-m33"]["value"]
    identify("accelerator_factor.mvp", by[("xG24-DK2601B", "tflm", "kws")], dispatch_ref, m33 * s_cmsis)

    ref_src = "fit: NNLS on the four MLPerf Tiny v0.5 reference rows (NUCLEO-L4R5ZI, tflm-reference)"
    fitted["cycles_per_mac.conv"] = {"value": round(float(cpm_conv), 4), "source": ref_src, "fitted": True}
    fitted["cycles_per_mac.fc"] = {"value": round(float(cpm_conv), 4),
                                   "source": ref_src + "; fully connected shares the conv figure",
                                   "fitted": True}
    fitted["cycles_per_mac.depthwise"] = {"value": round(float(cpm_dw), 4), "source": ref_src, "fitted": True}
    for stack in ("tflm-reference", "tflm-cmsis-nn", "esp-nn"):  # the same TFLM interpreter dispatches
        fitted[f"dispatch_cycles.{stack}"] = {"value": round(float(dispatch_ref), 1), "source": ref_src,
                                              "fitted": True}
    fitted["core_factor.cortex-m4"] = {"value": 1.0, "source": "definition: the reference core", "fitted": True}
    fitted["stack_factor.tflm-reference"] = {"value": 1.0, "source": "definition: the reference stack",
                                             "fitted": True}
    fitted["accelerator_factor.none"] = {"value": 1.0, "source": "definition: no accelerator", "fitted": True}
    params = _nest({**{k: {**v, "fitted": False} for k, v in ESTIMATES.items()}, **fitted})
    params["calibrated_on"] = [r.cite() for r in rows if r.task == "kws" or r.submitter == "reference"]
    return params, _residuals(params, work, rows)


def _nest(flat: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in sorted(flat.items()):
        head, _, tail = key.partition(".")
        if tail:
            out.setdefault(head, {})[tail] = value
        else:
            out[head] = value
    return out


def _residuals(params: dict[str, Any], work: dict[str, Work], rows: list[Row]) -> list[dict[str, Any]]:
    """Predicted vs published latency for every row the model can express."""
    p = lambda table, key: params[table][key]["value"]  # noqa: E731
    stack_of = {"tflm-reference": "tflm-reference", "microtvm-cmsis-nn": "tflm-cmsis-nn",
                "x-cube-ai-7.3": "x-cube-ai", "tflm": "tflm-cmsis-nn"}
    out = []
    for r in rows:
        stack = stack_of.get(r.stack)
        if stack is None or r.core.split("+")[0] not in params["core_factor"] or r.task not in work:
            continue
        w = work[r.task]
        accel = "mvp" if "+mvp" in r.core else "none"
        core = p("core_factor", r.core.split("+")[0])
        scale = core * p("stack_factor", stack)
        work_cycles = (w.conv_macs * p("cycles_per_mac", "conv") + w.dw_macs * p("cycles_per_mac", "depthwise")
                       + w.elements * params["elementwise_cycles"]["value"])
        cycles = work_cycles * scale * p("accelerator_factor", accel) + w.n_ops * p("dispatch_cycles", stack)
        predicted = cycles / (r.clock_mhz * 1e6) * 1e3
        out.append({"row": r.cite(), "published_ms": r.latency_ms, "predicted_ms": round(predicted, 3),
                    "residual_pct": round(100 * (predicted - r.latency_ms) / r.latency_ms, 2)})
    return out


def write(params: dict[str, Any], residuals: list[dict[str, Any]], json_path: Path, doc_path: Path) -> None:
    json_path.write_text(json.dumps(params, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    lines = [
        "# Cost-model calibration",
        "",
        "Generated by `harness calibrate --write`; do not edit by hand. The method is in",
        "`harness/costmodel/calibration.py` and summarised here.",
        "",
        (__doc__ or "").split("Method", 1)[1].split("\n", 2)[2].strip(),
        "",
        "## Residuals (predicted vs published latency)",
        "",
        "| published row | published ms | predicted ms | residual % |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {r['row']} | {r['published_ms']} | {r['predicted_ms']} | {r['residual_pct']} |" for r in residuals]
    lines += ["", "## Parameters", "", "| parameter | value | fitted | source |", "|---|---:|---|---|"]
    for table, entries in params.items():
        if table == "calibrated_on":
            continue
        items = entries.items() if "value" not in entries else [("", entries)]
        for key, v in items:
            name = f"{table}.{key}" if key else table
            lines.append(f"| {name} | {v['value']} | {'yes' if v.get('fitted') else 'no'} | {v['source']} |")
    doc_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
