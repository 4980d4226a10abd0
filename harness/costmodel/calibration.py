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

# The prior range of each estimate, for the prediction interval: where nothing published pins a factor the
# range is wide (x/÷ 3 around the guess for the application cores, whose int8 NEON throughput we have no row for).
PRIOR_RANGES: dict[str, tuple[float, float, str]] = {
    "elementwise_cycles": (2.0, 12.0, "from a fused single-cycle op to a float requantise per element"),
    "dispatch_cycles.x-cube-ai": (0.0, 2000.0, "from inlined layers to the TFLM interpreter's order of magnitude"),
    "dispatch_cycles.litert-xnnpack": (500.0, 10000.0, "0.2-4 us per op at 2-3 GHz"),
    "core_factor.cortex-m0plus": (1.5, 4.0, "no DSP extension: at best the M4 without SIMD, at worst 2x that"),
    "core_factor.cortex-m55": (0.2, 1.0, "from full Helium speed-up (~4x over M4 SIMD) to none"),
    "core_factor.cortex-m85": (0.15, 0.8, "as Cortex-M55, a little faster"),
    "core_factor.xtensa-lx7": (0.6, 2.0, "scalar LX7 against the M4, either side"),
    "core_factor.cortex-a53": (0.15, 1.5, "x/÷ 3: no published int8 row for this core"),
    "core_factor.cortex-a72": (0.08, 0.75, "x/÷ 3: no published int8 row for this core"),
    "core_factor.cortex-a76": (0.05, 0.45, "x/÷ 3: no published int8 row for this core"),
    "core_factor.cortex-a78": (0.04, 0.36, "x/÷ 3: no published int8 row for this core"),
    "core_factor.cortex-x": (0.03, 0.3, "x/÷ 3: no published int8 row for this core"),
    "stack_factor.esp-nn": (0.15, 1.0, "from ~7x over reference kernels to no gain"),
    "stack_factor.litert-xnnpack": (0.33, 3.0, "x/÷ 3 around XNNPACK = core speed"),
    "thread_efficiency": (0.2, 0.95, "from poor to near-linear scaling of small graphs"),
}

# Cycles per MAC by compute type, relative to the int8 kernels every published row ran.
DTYPE_FACTORS: dict[str, dict[str, Any]] = {
    "int8": {"value": 1.0, "fitted": True, "source": "definition: every calibration row runs int8 kernels"},
    "int16": {"value": 1.3, "range": [1.0, 2.0], "source": "estimate: CMSIS-NN's s16 kernels use the same SMLAD dual "
              "16-bit MAC as its s8 kernels (which widen int8 to 16 bits first) but move twice the bytes "
              "(github.com/ARM-software/CMSIS-NN, Source/ConvolutionFunctions)"},
    "float32-reference": {"value": 1.5, "range": [0.8, 3.0], "source": "estimate: float ops on an FPU core run "
                          "TFLM's reference kernels even with an optimised stack (tensorflow/tflite-micro "
                          "tensorflow/lite/micro/kernels/cmsis_nn/conv.cc calls reference_ops::Conv for "
                          "kTfLiteFloat32); "
                          "a single-precision VMLA.F32 takes 3 cycles on Cortex-M4 against 1 cycle for an integer MLA "
                          "(Arm Cortex-M4 Technical Reference Manual, ARM DDI 0439, FPU instruction timing)"},
    "float32-optimized": {"value": 2.0, "range": [1.0, 4.0], "source": "estimate: a stack with float kernels "
                          "(XNNPACK F32, X-CUBE-AI float) does 4 float32 lanes per 128-bit vector against 16 int8 "
                          "lanes (8 with int8 dot products counted per pair); XNNPACK's QS8 kernels are typically "
                          "1.5-3x faster than its F32 kernels on the same core"},
    "float32-soft": {"value": 8.0, "range": [4.0, 20.0], "source": "estimate: no FPU (Cortex-M0+ implements "
                     "Armv6-M without floating point; Arm Cortex-M0+ Technical Reference Manual), so each float "
                     "multiply and add is a software routine of tens of cycles (__aeabi_fmul, __aeabi_fadd)"},
}

# What each stack can run. A format outside ``formats`` makes a model not deployable on the stack.
SUPPORT: dict[str, Any] = {
    "stacks": {
        "tflm-reference": {"formats": ["tflite"], "optimized_dtypes": [], "float_kernels": "reference",
                           "source": "TensorFlow Lite Micro loads TFLite flatbuffers only (github.com/tensorflow/"
                                     "tflite-micro)"},
        "tflm-cmsis-nn": {"formats": ["tflite"], "optimized_dtypes": ["int8", "int16"], "float_kernels": "reference",
                          "source": "TFLite Micro with CMSIS-NN kernels, which cover int8 and int16 only "
                                    "(github.com/ARM-software/CMSIS-NN README); float ops use TFLM's reference "
                                    "kernels"},
        "esp-nn": {"formats": ["tflite"], "optimized_dtypes": ["int8"], "float_kernels": "reference",
                   "source": "TFLite Micro (esp-tflite-micro) with ESP-NN, whose optimised kernels are int8 "
                             "(github.com/espressif/esp-nn README); other types use TFLM's reference kernels"},
        "x-cube-ai": {"formats": ["tflite", "onnx"], "optimized_dtypes": ["int8", "float32"],
                      "float_kernels": "optimized",
                      "source": "STM32Cube.AI (X-CUBE-AI) imports Keras, TFLite and ONNX models, float32 or "
                                "int8-quantized (ST, X-CUBE-AI user manual UM2526)"},
        "litert-xnnpack": {"formats": ["tflite"], "optimized_dtypes": ["int8", "float32"],
                           "float_kernels": "optimized",
                           "source": "LiteRT runs .tflite models; its XNNPACK delegate has F32 and QS8/QU8 kernels "
                                     "(tensorflow/lite/delegates/xnnpack/README.md)"},
    },
    "accelerators": {
        "none": {"dtypes": [], "cpu_fallback": True, "source": "no accelerator"},
        "mvp": {"dtypes": ["int8"], "cpu_fallback": True,
                "source": "estimate: the xG24 MVP is used by Silicon Labs' TFLM kernels for int8 layers; other "
                          "layers run on the Cortex-M33"},
    },
    "cores_without_fpu": {"cores": ["cortex-m0plus"],
                          "source": "Armv6-M has no floating-point extension (Arm Cortex-M0+ Technical Reference "
                                    "Manual); every other core in the registry has a single-precision FPU"},
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


@dataclass(frozen=True)
class Calibration:
    """The fitted parameters (JSON-ready), in-sample residuals, and the leave-one-out record per reference row."""

    params: dict[str, Any]
    residuals: list[dict[str, Any]]
    loo: list[dict[str, Any]]


def _reference_fit(work: dict[str, Work], ref: list[Row]) -> tuple[float, float, float]:
    """cycles per conv MAC, per depthwise MAC and dispatch cycles per op, by relative-error NNLS over ``ref``."""
    ew = ESTIMATES["elementwise_cycles"]["value"]
    a = np.array([[work[r.task].conv_macs, work[r.task].dw_macs, work[r.task].n_ops] for r in ref])
    b = np.array([r.cycles - ew * work[r.task].elements for r in ref])
    obs = np.array([r.cycles for r in ref])
    (cpm_conv, cpm_dw, dispatch), _ = nnls(a / obs[:, None], b / obs)
    return float(cpm_conv), float(cpm_dw), float(dispatch)


def _reference_ms(w: Work, row: Row, cpm_conv: float, cpm_dw: float, dispatch: float) -> float:
    cycles = (w.conv_macs * cpm_conv + w.dw_macs * cpm_dw + w.elements * ESTIMATES["elementwise_cycles"]["value"]
              + w.n_ops * dispatch)
    return cycles / (row.clock_mhz * 1e6) * 1e3


def leave_one_out(work: dict[str, Work], ref: list[Row]) -> list[dict[str, Any]]:
    """Refit without each reference row and predict it; its interval is the band of the other rows' errors.

    ``ratio`` is published / predicted. A row is covered when its published latency lies in
    [predicted x min ratio, predicted x max ratio] over the other rows, the interval the model would have given it.
    """
    out = []
    for r in ref:
        predicted = _reference_ms(work[r.task], r, *_reference_fit(work, [o for o in ref if o is not r]))
        out.append({"row": r.cite(), "published_ms": r.latency_ms, "predicted_ms": round(predicted, 3),
                    "ratio": round(r.latency_ms / predicted, 4)})
    for rec in out:
        others = [o["ratio"] for o in out if o is not rec]
        low, high = rec["predicted_ms"] * min(others), rec["predicted_ms"] * max(others)
        rec.update(interval_ms=[round(low, 3), round(high, 3)], covered=bool(low <= rec["published_ms"] <= high))
    return out


def calibrate(work: dict[str, Work] | None = None) -> Calibration:
    """Fit the model, cross-validate the reference fit, and return everything ``harness calibrate`` writes."""
    work = work or reference_work()
    rows = published_rows()
    ref = [r for r in rows if r.submitter == "reference" and r.stack == "tflm-reference"]
    loo = leave_one_out(work, ref)
    params, residuals = fit(work)
    ratios = [rec["ratio"] for rec in loo]
    covered = sum(rec["covered"] for rec in loo)
    params["error_band"] = {
        "low": min(ratios), "high": max(ratios),
        "source": f"leave-one-out over the {len(loo)} MLPerf Tiny reference rows: published / predicted latency "
                  f"ranged {min(ratios)}-{max(ratios)}; the band drawn from the other rows covered {covered} of "
                  f"{len(loo)} held-out rows",
    }
    return Calibration(params, residuals, loo)


def fit(work: dict[str, Work] | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return the cost-model parameters (JSON-ready) and one residual record per published row."""
    work = work or reference_work()
    rows = published_rows()
    ew = ESTIMATES["elementwise_cycles"]["value"]
    ref = [r for r in rows if r.submitter == "reference" and r.stack == "tflm-reference"]
    cpm_conv, cpm_dw, dispatch_ref = _reference_fit(work, ref)

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
    estimates = {k: {**v, "fitted": False, **({"range": list(PRIOR_RANGES[k][:2])} if k in PRIOR_RANGES else {})}
                 for k, v in ESTIMATES.items()}
    dtypes = {f"dtype_factor.{k}": {"fitted": False, **v} for k, v in DTYPE_FACTORS.items()}
    params = _nest({**estimates, **dtypes, **fitted})
    params["support"] = SUPPORT
    params["error_band"] = {"low": 1.0, "high": 1.0, "source": "not cross-validated (use calibrate())"}
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


def write(cal: Calibration, json_path: Path, doc_path: Path) -> None:
    params = cal.params
    json_path.write_text(json.dumps(params, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    covered = sum(r["covered"] for r in cal.loo)
    band = params["error_band"]
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
    lines += [f"| {r['row']} | {r['published_ms']} | {r['predicted_ms']} | {r['residual_pct']} |"
              for r in cal.residuals]
    lines += [
        "", "## Prediction intervals", "",
        "Every prediction carries an interval (`latency_low`, `latency_high`). It has two parts:", "",
        "1. **Calibrated parameters**: leave-one-out cross-validation of the reference fit. Each reference row is "
        "held out, the fit is redone on the other rows, and the held-out row is predicted. The ratio published / "
        "predicted over all held-out rows gives the error band every prediction is multiplied by: "
        f"[{band['low']}, {band['high']}]. A row is *covered* when its published latency lies inside the band drawn "
        "from the other rows' ratios (the interval the model would have given it without that row): "
        f"{covered} of {len(cal.loo)} rows are covered. If the held-out errors are exchangeable, a new row falls "
        f"inside the [min, max] of {len(cal.loo)} of them with probability {len(cal.loo) - 1}/{len(cal.loo) + 1}: "
        "the band is a rough guide, not a 95 % interval, and a policy that needs more should require measured "
        "evidence (`evidence: measured`). The rows that each identify one factor (cmsis-nn, "
        "x-cube-ai, Cortex-M33, Cortex-M7, MVP) fit it exactly, so holding one out leaves its factor unidentified: "
        "they cannot be cross-validated, and their transfer to other models is covered by the same band.",
        "2. **Estimated parameters**: each has a prior range (table below). Moving one estimate to the end of its "
        "range that lowers (raises) the latency changes it by a log-ratio; the log-ratios of all estimates a "
        "prediction uses combine in quadrature (root of the sum of squares: the estimates' errors are taken as "
        "independent; their worst case, all at once, would be wider), and the result multiplies the band above.",
        "",
        "The simulated device's latency and energy intervals multiply these bounds into the seeded jitter's "
        "percentile interval (energy = active power x latency, so it scales with latency); the sign-off decides "
        "a predicted gate on that interval.",
        "", "| held-out row | published ms | predicted ms (refit without it) | published / predicted | "
        "interval ms from the other rows | covered |",
        "|---|---:|---:|---:|---|---|",
    ]
    lines += [f"| {r['row']} | {r['published_ms']} | {r['predicted_ms']} | {r['ratio']} | "
              f"[{r['interval_ms'][0]}, {r['interval_ms'][1]}] | {'yes' if r['covered'] else 'no'} |" for r in cal.loo]
    lines += ["", "### Prior ranges of the estimates", "", "| parameter | value | range | why this range |",
              "|---|---:|---|---|"]
    for key, (low, high, why) in sorted(PRIOR_RANGES.items()):
        lines.append(f"| {key} | {ESTIMATES[key]['value']} | [{low}, {high}] | {why} |")
    lines += ["", "## Compute types and formats", "",
              "Cycles per MAC are fitted on int8 models. A MAC op's compute type (its activation input's type, "
              "see `harness/analysis`) multiplies them by a type factor; the stack factor applies only to the types "
              "the stack has optimised kernels for, and the accelerator factor only to the types it runs (others "
              "fall back to the CPU). A model in a format the stack cannot load, or with types an accelerator "
              "without CPU fallback cannot run, is **not deployable**: the efficiency row says why and has no "
              "numbers.", "",
              "| type factor | value | range | source |", "|---|---:|---|---|"]
    for key, v in sorted(DTYPE_FACTORS.items()):
        shown = f"[{v['range'][0]}, {v['range'][1]}]" if "range" in v else "-"
        lines.append(f"| dtype_factor.{key} | {v['value']} | {shown} | {v['source']} |")
    lines += ["", "| stack | formats | optimised types | float kernels | source |", "|---|---|---|---|---|"]
    for key, v in SUPPORT["stacks"].items():
        lines.append(f"| {key} | {', '.join(v['formats'])} | {', '.join(v['optimized_dtypes']) or '-'} | "
                     f"{v['float_kernels']} | {v['source']} |")
    lines += ["", f"Cores without an FPU (float32 runs in software): "
              f"{', '.join(SUPPORT['cores_without_fpu']['cores'])} ({SUPPORT['cores_without_fpu']['source']}).",
              "", "| accelerator | types | CPU fallback | source |", "|---|---|---|---|"]
    for key, v in SUPPORT["accelerators"].items():
        lines.append(f"| {key} | {', '.join(v['dtypes']) or '-'} | {'yes' if v['cpu_fallback'] else 'no'} | "
                     f"{v['source']} |")
    lines += ["", "## Parameters", "", "| parameter | value | fitted | prior range | source |",
              "|---|---:|---|---|---|"]
    for table, entries in params.items():
        if table in ("calibrated_on", "support", "error_band"):
            continue
        items = entries.items() if "value" not in entries else [("", entries)]
        for key, v in items:
            name = f"{table}.{key}" if key else table
            shown = f"[{v['range'][0]}, {v['range'][1]}]" if v.get("range") else "-"
            lines.append(f"| {name} | {v['value']} | {'yes' if v.get('fitted') else 'no'} | {shown} | "
                         f"{v['source']} |")
    doc_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
