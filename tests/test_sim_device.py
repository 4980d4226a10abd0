"""The simulated device: real outputs, cost-model latency with seeded jitter, energy from its trace."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from harness.analysis import analyze
from harness.core.errors import DeviceError, ModelError
from harness.core.paths import models_dir, targets_dir
from harness.devices.sim import SimulatedDevice
from harness.registry.models import ModelRegistry
from harness.registry.targets import TargetRegistry
from harness.runtimes import RuntimeOptions, get_runtime

MODELS = ModelRegistry(models_dir())
TARGETS = TargetRegistry(targets_dir())
MAC_KIND = {"CONV_2D": "conv", "DEPTHWISE_CONV_2D": "depthwise", "FULLY_CONNECTED": "fc"}
FREE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "VAR_HANDLE", "CALL_ONCE"}


def expected_latency_s(model: str, target: str) -> float:
    """The cost-model formula of docs/calibration.md written out from the shipped parameters."""
    params = json.loads(resources.files("harness.costmodel").joinpath("cost_model.json").read_text())
    t = TARGETS.get(target)
    stack = t.default_stack
    scale = params["core_factor"][t.core]["value"] * params["stack_factor"][stack]["value"]
    cycles = 0.0
    for op in analyze(MODELS.get(model).artifact_path()).ops:
        if op.op_type in FREE:
            continue
        cycles += params["dispatch_cycles"][stack]["value"]
        if op.op_type in MAC_KIND:
            cycles += op.macs * params["cycles_per_mac"][MAC_KIND[op.op_type]]["value"] * scale
        else:
            cycles += op.output_elements * params["elementwise_cycles"]["value"] * scale
    return cycles / (t.clock_mhz * 1e6)


@pytest.fixture()
def device():
    dev = SimulatedDevice(TARGETS.get("mcu"), seed=7)
    yield dev
    dev.close()


def test_device_latency_follows_the_cost_model_and_energy_the_active_power(device) -> None:
    deployment = device.deploy(MODELS.get("mww-okay-nabu"), "tflm-reference")
    m = device.measure_energy(runs=400, warmup=5)
    predicted = expected_latency_s("mww-okay-nabu", "mcu")
    assert deployment.details["predicted_latency_ms"] == pytest.approx(predicted * 1e3, rel=1e-9)
    # lognormal jitter with sigma 0.2 %: the median of 400 samples is within 0.1 % of the prediction
    assert np.median(m.device_latency_s) == pytest.approx(predicted, rel=1e-3)
    active_w = TARGETS.get("mcu").power.active_mw / 1e3
    assert m.energy.per_inference.joules == pytest.approx(active_w * m.device_latency_s.mean(), rel=2e-3)
    assert m.energy.idle_power.mw == pytest.approx(TARGETS.get("mcu").power.idle_mw, rel=0.01)
    assert deployment.arena_bytes is not None and deployment.details["arena_source"] == "tflm"
    assert m.host_latency_s.shape == (400,) and (m.host_latency_s > 0).all()


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    runs = []
    for seed in (3, 3, 4):
        dev = SimulatedDevice(TARGETS.get("wearable"), seed=seed)
        dev.deploy(MODELS.get("mww-alexa"), "tflm-cmsis-nn")
        runs.append(dev.measure_latency(runs=50, warmup=0).device_latency_s)
        dev.close()
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_outputs_come_from_the_real_model(device) -> None:
    device.deploy(MODELS.get("mww-hey-jarvis"), "tflm-reference")
    x = device._inputs[0]
    m = device.measure_latency(runs=1, warmup=0)
    # the streaming state advanced by warm-up and the timed run; replay the same steps on a fresh session
    session = get_runtime("litert").load(MODELS.get("mww-hey-jarvis").artifact_path(), RuntimeOptions())
    for _ in range(2):
        expected = session.run(x)
    assert np.array_equal(m.outputs[0], expected[0])


def test_measure_before_deploy_names_the_state(device) -> None:
    with pytest.raises(DeviceError, match=r"measure_latency\(\) called in state 'idle'; it needs deployed"):
        device.measure_latency(runs=1, warmup=0)


def test_an_entry_declaring_the_wrong_input_shape_is_rejected(device) -> None:
    entry = MODELS.get("mww-alexa")
    wrong = entry.model_copy(update={"input": entry.input.model_copy(update={"shape": [1, 4, 40]})})
    with pytest.raises(ModelError, match=r"declares input shape \[1, 4, 40\] int8, but .* has \[1, 3, 40\]"):
        device.deploy(wrong, "tflm-reference")


def test_a_stack_the_target_lacks_is_a_config_error(device) -> None:
    from harness.core.errors import ConfigError

    with pytest.raises(ConfigError, match="does not support stack 'x-cube-ai'"):
        device.deploy(MODELS.get("mww-alexa"), "x-cube-ai")
