"""The sww01 LFBE front end against an independent computation of the reference firmware's formula, its int8 inputs,
and the mlperf-sww01 registry entry (predict on every profile; the int8 > 115 threshold)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from harness.analysis import analyze
from harness.cli import _register, cli
from harness.core.errors import ModelError
from harness.core.paths import models_dir, targets_dir
from harness.evaluation.scoring import WakeWordScorer
from harness.frontends import frontend_names, get_frontend, lfbe
from harness.registry.models import ModelRegistry
from harness.registry.targets import TargetRegistry
from harness.runtimes import RuntimeOptions
from harness.runtimes.base import TensorInfo

_register()
SWW_INPUT = TensorInfo("input", (1, 30, 1, 40), np.dtype(np.int8), 1 / 256, -128)


def reference_lfbe(window: list[float]) -> list[float]:
    """The firmware's compute_lfbe_f32 on one 1024-sample window, written out term by term (no FFT, no numpy DSP)."""
    n = len(window)
    x = [s / 32768.0 for s in window]
    emphasised = [x[0]] + [x[i] - 0.96875 * x[i - 1] for i in range(1, n)]
    windowed = np.array([emphasised[i] * (0.54 - 0.46 * math.cos(2 * math.pi * i / (n - 1))) for i in range(n)])
    k = np.arange(n // 2 + 1)[:, None]
    phase = 2 * np.pi * k * np.arange(n)[None, :] / n
    power = ((np.cos(phase) @ windowed) ** 2 + (np.sin(phase) @ windowed) ** 2) / n  # direct DFT
    mel = lambda hz: 1127.0 * math.log(1.0 + hz / 700.0)  # noqa: E731  (HTK, as tf.signal)
    edges = [mel(0.0) + j * (mel(8000.0) - mel(0.0)) / 41 for j in range(42)]
    out = []
    for band in range(40):
        lo, centre, hi = edges[band], edges[band + 1], edges[band + 2]
        energy = 0.0
        for b in range(1, n // 2 + 1):  # tf.signal gives the DC bin no weight
            m = mel(b * 8000.0 / (n // 2))
            weight = max(0.0, min((m - lo) / (centre - lo), (hi - m) / (hi - centre)))
            energy += weight * power[b]
        db = 10 * math.log10(max(energy, 1e-30))
        out.append(min(1.0, max(0.0, (db + 52.0) / 64.0)))
    return out


def test_registered_by_name() -> None:
    assert "mlperf_lfbe" in frontend_names()
    assert isinstance(get_frontend("mlperf_lfbe"), lfbe.LfbeFrontEnd)


def test_features_equal_the_firmware_formula_computed_independently() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(4096) / 16000
    audio = np.round(9000 * np.sin(2 * np.pi * 700 * t) + rng.normal(0, 800, t.size)).astype(np.int16)
    got = lfbe.features(audio)
    assert got.shape == (8, 40)  # one row per 512 samples
    padded = [0.0] * 512 + audio.astype(float).tolist()  # the DUT's window buffer starts as zeros
    for frame in (0, 1, 5, 7):
        expected = reference_lfbe(padded[512 * frame: 512 * frame + 1024])
        np.testing.assert_allclose(got[frame], expected, atol=2e-6)
    assert 0 < got.max() <= 1 and got.min() == 0


def test_a_tone_lights_the_band_around_its_frequency_and_silence_is_zero() -> None:
    t = np.arange(16000) / 16000
    tone = np.round(16000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    row = lfbe.features(tone)[10]
    mel = 1127 * np.log1p(np.array([0.0, 1000.0, 8000.0]) / 700)
    centre_band = (mel[1] - mel[0]) / ((mel[2] - mel[0]) / 41) - 1  # band whose triangle peaks at 1 kHz
    assert int(np.argmax(row)) in (math.floor(centre_band), math.ceil(centre_band))
    assert lfbe.features(np.zeros(5120, np.int16)).max() == 0.0  # 10 log10(1e-30) + 52 < 0: clipped to 0


def test_int8_rows_truncate_as_the_firmware_cast_and_pad_with_int8_zeros() -> None:
    rows = np.array([[0.0, 0.5, 1.0, 0.25, 0.2] + [0.0] * 35], dtype=np.float32)
    q = lfbe.quantize_rows(rows, 1 / 256, -128)
    assert q[0, :5].tolist() == [-128, 0, 127, -64, -76]  # 0.2 * 256 - 128 = -76.8 -> -76 (toward zero), 128 -> 127
    feats = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (33, 1))
    steps = get_frontend("mlperf_lfbe").model_inputs(feats, SWW_INPUT)
    assert steps.shape == (33, 1, 30, 1, 40) and steps.dtype == np.int8
    assert (steps[0, 0, :29] == 0).all()  # before the stream: the firmware's memset(0) input buffer
    assert np.array_equal(steps[0, 0, 29, 0], lfbe.quantize_rows(feats[:1], 1 / 256, -128)[0])
    assert (steps[29, 0] != 0).any() and np.array_equal(steps[32, 0, :, 0], lfbe.quantize_rows(feats[3:33], 1 / 256,
                                                                                                 -128))
    assert get_frontend("mlperf_lfbe").step_end_samples(3, SWW_INPUT).tolist() == [512, 1024, 1536]


def test_a_float_or_misshapen_input_is_refused() -> None:
    fe = get_frontend("mlperf_lfbe")
    with pytest.raises(ModelError, match="int8 features"):
        fe.model_inputs(np.zeros((2, 40)), TensorInfo("x", (1, 30, 1, 40), np.dtype(np.float32)))
    with pytest.raises(ModelError, match=r"feeds \[1, N, 1, 40\]"):
        fe.model_inputs(np.zeros((2, 40)), TensorInfo("x", (1, 49, 10, 1), np.dtype(np.int8), 0.1, 0))


def test_predict_works_on_every_profile_with_the_reference_macs() -> None:
    entry = ModelRegistry(models_dir()).get("mlperf-sww01")
    assert analyze(entry.artifact_path()).macs == 826_368
    for name in TargetRegistry(targets_dir()).names():
        result = CliRunner().invoke(cli, ["predict", "--model", "mlperf-sww01", "--target", name, "--json"],
                                    catch_exceptions=False)
        assert result.exit_code == 0, (name, result.output)
        pred = json.loads(result.stdout)
        assert pred["macs"] == 826_368 and pred["latency_ms"] > 0 and pred["energy_mj"] > 0, name


def test_detections_are_the_frames_whose_int8_marvin_output_exceeds_115() -> None:
    entry = ModelRegistry(models_dir()).get("mlperf-sww01")
    scorer = WakeWordScorer(entry, RuntimeOptions(reference_kernels=True))
    try:
        rng = np.random.default_rng(11)
        audio = np.round(rng.normal(0, 3000, 16000 * 6) * np.repeat(rng.uniform(0, 2, 12), 8000)).astype(np.int16)
        steps = lfbe.model_inputs(lfbe.features(audio), scorer.input.scale, scorer.input.zero_point)
        raw = np.array([scorer.session.run([x])[0].reshape(-1)[0] for x in steps]).astype(int)
        assert raw.max() <= 115  # untrained weights: the entry's own threshold never fires on noise
        assert scorer.rules.detections(scorer.probabilities(scorer.features(audio))).size == 0
        level = int(np.median(raw))  # a threshold this stream crosses, to see which frames fire
        above = np.flatnonzero(raw > level)
        assert 0 < above.size < raw.size
        times = scorer.rules.detections(scorer.probabilities(scorer.features(audio)), cutoff=(level + 128) / 256)
        assert np.allclose(times, (above + 1) * 0.032)  # every frame above the threshold, stamped at its end
        borderline = scorer.rules.detections(np.array([115, 116, 115, 117]) / 256 + 0.5)
        assert np.allclose(borderline, [0.064, 0.128])
    finally:
        scorer.close()
