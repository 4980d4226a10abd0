"""The cost model: compute types and formats, prediction intervals, leave-one-out calibration, provenance."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from scipy.optimize import lsq_linear

from harness.analysis import analyze
from harness.analysis.profile import ModelProfile, OpCost
from harness.core.paths import models_dir, targets_dir
from harness.costmodel import calibration
from harness.costmodel.model import CostModel, default_cost_model
from harness.devices.sim import SimulatedDevice
from harness.evaluation.efficiency import efficiency_row
from harness.registry.models import ModelRegistry
from harness.registry.targets import TargetRegistry

TARGETS = TargetRegistry(targets_dir())
MODELS = ModelRegistry(models_dir())
MCU = TARGETS.get("mcu")  # Cortex-M4 at 120 MHz, tflm-reference


def _params() -> dict:
    return json.loads((Path(calibration.__file__).parent / "cost_model.json").read_text())


def _q(g: list, name: str, x: str, out: str) -> None:
    g.append(helper.make_node("QuantizeLinear", [x, "s", "z"], [out], name=name))


def _dq(g: list, name: str, x: str, out: str) -> None:
    g.append(helper.make_node("DequantizeLinear", [x, "s", "z"], [out], name=name))


def tiny_onnx(path: Path, int8: bool) -> Path:
    """Conv 1->4 channels 3x3 (pad 1) on 8x8, Relu, Flatten, Gemm 256->10; the int8 copy in QDQ form."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((10, 256)).astype(np.float32)
    inits = [numpy_helper.from_array(np.zeros(4, np.float32), "b"), numpy_helper.from_array(np.zeros(10, np.float32),
                                                                                            "b2")]
    nodes: list = []
    if not int8:
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(w2, "w2")]
        nodes += [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
                  helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1)]
    else:
        inits += [numpy_helper.from_array(np.array(0.05, np.float32), "s"),
                  numpy_helper.from_array(np.array(0, np.int8), "z"),
                  numpy_helper.from_array(np.clip(w * 20, -127, 127).astype(np.int8), "wq"),
                  numpy_helper.from_array(np.clip(w2 * 20, -127, 127).astype(np.int8), "w2q")]
        _q(nodes, "q_in", "x", "xq")
        _dq(nodes, "dq_in", "xq", "xf")
        _dq(nodes, "dq_w", "wq", "wf")
        nodes.append(helper.make_node("Conv", ["xf", "wf", "b"], ["cf"], pads=[1, 1, 1, 1]))
        _q(nodes, "q_c", "cf", "cq")
        _dq(nodes, "dq_c", "cq", "cdf")
        nodes.append(helper.make_node("Relu", ["cdf"], ["rf"]))
        _q(nodes, "q_r", "rf", "rq")
        _dq(nodes, "dq_r", "rq", "rdf")
        nodes.append(helper.make_node("Flatten", ["rdf"], ["ff"]))
        _q(nodes, "q_f", "ff", "fq")
        _dq(nodes, "dq_f", "fq", "fdf")
        _dq(nodes, "dq_w2", "w2q", "w2f")
        nodes.append(helper.make_node("Gemm", ["fdf", "w2f", "b2"], ["gf"], transB=1))
        _q(nodes, "q_g", "gf", "gq")
        _dq(nodes, "dq_out", "gq", "y")
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


MACS = 256 * 9 + 10 * 256  # conv: 4x8x8 outputs x 9 taps; gemm: 10 outputs x 256 inputs


def test_the_int8_copy_counts_int8_tensors_and_fuses_its_qdq_pairs(tmp_path) -> None:
    f32 = analyze(tiny_onnx(tmp_path / "f32.onnx", int8=False))
    i8 = analyze(tiny_onnx(tmp_path / "i8.onnx", int8=True))
    assert (f32.macs, i8.macs) == (MACS, MACS)
    assert (f32.dtypes, i8.dtypes) == (["float32"], ["int8"])
    # float: relu's input and output (1024 B each) are live together -> 2048 B.
    assert f32.peak_activation_bytes == 2048
    # int8: the float input (256 B) and its int8 quantization (64 B) at step 0; later only int8 tensors of
    # <= 256 B live, since every float tensor between a fused DQ and Q is never materialised.
    assert i8.peak_activation_bytes == 256 + 64
    fused = [op.op_type for op in i8.ops if op.fused]
    assert fused.count("DEQUANTIZE") == 6 and fused.count("QUANTIZE") == 4  # boundary Q and DQ stay


def test_float32_and_int8_copies_are_predicted_in_the_right_order_on_mcu(tmp_path) -> None:
    f32 = analyze(tiny_onnx(tmp_path / "f32.onnx", int8=False))
    i8 = analyze(tiny_onnx(tmp_path / "i8.onnx", int8=True))
    p = _params()
    cpm = p["cycles_per_mac"]["conv"]["value"]
    ew, disp = p["elementwise_cycles"]["value"], p["dispatch_cycles"]["tflm-reference"]["value"]
    # float: 3 ops (Flatten is free), relu's 256 elements; int8: + boundary Q (64) and DQ (10 elements).
    f32_ms = (MACS * cpm * p["dtype_factor"]["float32-reference"]["value"] + 256 * ew + 3 * disp) / 120e3
    i8_ms = (MACS * cpm * 1.0 + (256 + 64 + 10) * ew + 5 * disp) / 120e3
    model = default_cost_model()
    pf, pi = model.predict(f32, MCU), model.predict(i8, MCU)
    assert pf.latency.ms == pytest.approx(f32_ms) and pi.latency.ms == pytest.approx(i8_ms)
    assert pi.latency.ms < pf.latency.ms and i8.peak_activation_bytes < f32.peak_activation_bytes
    assert "dtype_factor.float32-reference" in pf.estimated_parameters


def test_an_onnx_model_on_a_tflm_stack_is_not_deployable_and_the_row_has_no_numbers(tmp_path) -> None:
    entry = MODELS.get("mlperf-dscnn-kws-onnx")
    device = SimulatedDevice(MCU, seed=0)
    try:
        deployment = device.deploy(entry, "tflm-reference")
        m = device.measure_energy(5, 1)
    finally:
        device.close()
    assert "onnx model: the tflm-reference stack runs tflite models only" in deployment.details["not_deployable"]
    assert np.isnan(m.device_latency_s).all() and m.energy is None and m.trace is None
    row = efficiency_row(entry, MCU, deployment, m, grid_kg_per_kwh=0.4, default_rate_hz=1.0, seed=0)
    assert row["deployable"] is False and "onnx" in row["not_deployable_reason"]
    assert row["provenance"] == "not deployable"
    assert all(math.isnan(row[c]) for c in ("latency_ms_p50", "latency_ms_p99", "energy_mj_per_inference",
                                            "deployed_power_mw", "latency_ms_p99_high"))
    assert row["fits_latency"] is None and row["fits_power"] is None
    # X-CUBE-AI imports ONNX: the same model is deployable on the L4R5ZI's default stack.
    assert default_cost_model().predict(deployment.profile, TARGETS.get("nucleo-l4r5zi")).deployable


def test_a_float_model_on_an_int8_only_accelerator_without_fallback_is_not_deployable() -> None:
    data = _params()
    data["support"]["accelerators"]["mvp"]["cpu_fallback"] = False
    strict = CostModel.from_dict(data)
    board = TARGETS.get("efr32xg24-dk")
    profile = ModelProfile("tflite", 1000, 10, (OpCost(0, "CONV_2D", 1000, 10, "float32"),), 100)
    assert "float32 MACs: the mvp accelerator runs int8 only" in strict.predict(profile, board).not_deployable
    assert default_cost_model().predict(profile, board).deployable  # the shipped MVP falls back to the CPU
    int8 = ModelProfile("tflite", 1000, 10, (OpCost(0, "CONV_2D", 1000, 10, "int8"),), 100)
    assert strict.predict(int8, board).deployable


def test_the_interval_is_the_loo_band_times_the_estimates_ranges() -> None:
    p = _params()
    band = (p["error_band"]["low"], p["error_band"]["high"])
    conv_only = ModelProfile("tflite", 1000, 10, (OpCost(0, "CONV_2D", 100_000, 10, "int8"),), 100)
    on_mcu = default_cost_model().predict(conv_only, MCU)  # every parameter calibrated
    assert on_mcu.estimated_parameters == []
    assert on_mcu.latency_low.ms == pytest.approx(on_mcu.latency.ms * band[0])
    assert on_mcu.latency_high.ms == pytest.approx(on_mcu.latency.ms * band[1])
    m0 = default_cost_model().predict(conv_only, TARGETS.get("nucleo-g0b1re"))  # Cortex-M0+, tflm-cmsis-nn
    assert m0.estimated_parameters == ["core_factor.cortex-m0plus"]
    low, value, high = 1.5, 2.2, 4.0  # its prior range; latency is proportional to it (dispatch cycles are 0)
    assert m0.latency_low.ms == pytest.approx(m0.latency.ms * low / value * band[0])
    assert m0.latency_high.ms == pytest.approx(m0.latency.ms * high / value * band[1])


def test_leave_one_out_matches_a_bounded_least_squares_refit() -> None:
    work = calibration.reference_work()
    ref = [r for r in calibration.published_rows() if r.submitter == "reference"]
    loo = calibration.leave_one_out(work, ref)
    ratios = []
    for held, rec in zip(ref, loo, strict=True):
        others = [r for r in ref if r is not held]
        obs = np.array([r.cycles for r in others])
        a = np.array([[work[r.task].conv_macs, work[r.task].dw_macs, work[r.task].n_ops] for r in others])
        b = np.array([r.cycles - 4.0 * work[r.task].elements for r in others])
        x = lsq_linear(a / obs[:, None], b / obs, bounds=(0, np.inf)).x
        w = work[held.task]
        ms = (w.conv_macs * x[0] + w.dw_macs * x[1] + w.n_ops * x[2] + 4.0 * w.elements) / (held.clock_mhz * 1e3)
        assert rec["predicted_ms"] == pytest.approx(ms, rel=1e-3)
        ratios.append(held.latency_ms / ms)
    for i, rec in enumerate(loo):
        others = [r for j, r in enumerate(ratios) if j != i]
        covered = rec["predicted_ms"] * min(others) <= rec["published_ms"] <= rec["predicted_ms"] * max(others)
        assert rec["covered"] == covered
    band = _params()["error_band"]
    assert (band["low"], band["high"]) == pytest.approx((min(ratios), max(ratios)), rel=1e-3)


def test_a_simulated_row_says_predicted_and_carries_the_model_interval() -> None:
    entry = MODELS.get("mlperf-dscnn-kws")
    device = SimulatedDevice(MCU, seed=0)
    try:
        deployment = device.deploy(entry, "tflm-reference")
        m = device.measure_energy(50, 2)
    finally:
        device.close()
    row = efficiency_row(entry, MCU, deployment, m, grid_kg_per_kwh=0.4, default_rate_hz=1.0, seed=0)
    assert row["provenance"] == "predicted:estimated" and row["estimated_params"] == "elementwise_cycles"
    assert "cycles_per_mac.conv" in row["calibrated_params"].split(";")
    scale_low = deployment.details["predicted_latency_low_ms"] / deployment.details["predicted_latency_ms"]
    scale_high = deployment.details["predicted_latency_high_ms"] / deployment.details["predicted_latency_ms"]
    assert row["latency_ms_p99_low"] == pytest.approx(row["latency_ms_p99"] * scale_low)
    assert row["latency_ms_p99_high"] == pytest.approx(row["latency_ms_p99"] * scale_high)
    assert row["energy_mj_per_inference_high"] == pytest.approx(row["energy_mj_per_inference"] * scale_high)
    assert row["deployable"] is True and row["not_deployable_reason"] == ""


def test_the_shipped_model_and_doc_are_what_harness_calibrate_writes(tmp_path) -> None:
    cal = calibration.calibrate()
    assert json.loads(json.dumps(cal.params)) == _params()  # else: run `harness calibrate --write`
    calibration.write(cal, tmp_path / "m.json", tmp_path / "c.md")
    shipped = Path(calibration.__file__).parents[2] / "docs" / "calibration.md"
    assert (tmp_path / "c.md").read_text() == shipped.read_text()
    assert "| reference row: MLPerf Tiny v0.5 reference NUCLEO-L4R5ZI tflm-reference ic | 704.225 |" in \
        shipped.read_text()
