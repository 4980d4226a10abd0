"""Front ends against the packages they reproduce and against independent computations."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pymicro_wakeword
import pyopen_wakeword
import pytest
import scipy.fft
import scipy.signal
from pymicro_wakeword.microwakeword import MicroWakeWordFeatures
from pyopen_wakeword.openwakeword import OpenWakeWord, OpenWakeWordFeatures

from harness.core.errors import ConfigError, DataError, ModelError
from harness.frontends import frontend_names, get_frontend, mfcc, micro, oww, quantize, register_frontend
from harness.frontends.mfcc import MfccFrontEnd
from harness.frontends.micro import MicroFrontEnd
from harness.frontends.oww import OwwFrontEnd
from harness.runtimes import get_runtime
from harness.runtimes.base import RuntimeOptions, Session, TensorInfo

OWW_MODELS = Path(pyopen_wakeword.__file__).parent / "models"
MWW_MODEL = Path(pymicro_wakeword.__file__).parent / "models" / "okay_nabu.tflite"


def LiteRTSession(path: Path, input_shape: Sequence[int] | None = None) -> Session:  # noqa: N802
    """The harness's own LiteRT session (builtin kernels, no XNNPACK), optionally resizing input 0."""
    return get_runtime("litert").load(path, RuntimeOptions(), input_shapes=[input_shape] if input_shape else None)


def chirp(seconds: float, seed: int = 1) -> np.ndarray:
    """A rising chirp in noise, with a stretch of digital silence in the middle."""
    t = np.arange(int(seconds * 16000)) / 16000
    x = 4000 * np.sin(2 * np.pi * (200 + 500 * t) * t) + np.random.default_rng(seed).normal(0, 600, t.size)
    x[len(x) // 3 : len(x) // 3 + 4000] = 0
    return np.round(x).astype(np.int16)


# --- registry and shared helpers ------------------------------------------------------------------


def test_registry_names_and_unknown_name() -> None:
    assert frontend_names() == ["micro_frontend", "mlperf_lfbe", "mlperf_mfcc", "oww_melspec"]
    assert isinstance(get_frontend("micro_frontend"), MicroFrontEnd)
    assert isinstance(get_frontend("mlperf_mfcc", normalize=False), MfccFrontEnd)
    with pytest.raises(ConfigError) as err:
        get_frontend("mfcc")
    assert "micro_frontend, mlperf_lfbe, mlperf_mfcc, oww_melspec" in str(err.value)


def test_registry_rejects_duplicates() -> None:
    class Again(MicroFrontEnd):
        name = "micro_frontend"

    with pytest.raises(ConfigError, match="registered twice"):
        register_frontend(Again)


def test_audio_must_be_mono_int16() -> None:
    with pytest.raises(DataError, match="int16"):
        micro.features(np.zeros(1600, np.float32))
    with pytest.raises(DataError, match="mono"):
        mfcc.features(np.zeros((1600, 2), np.int16))


def test_quantize_rounds_half_even_and_saturates() -> None:
    scale = 26 / 255
    x = np.array([0.0, scale, 26.0, 30.0, -1.0])
    assert quantize(x, scale, -128, np.int8).tolist() == [-128, -127, 127, 127, -128]
    assert quantize(np.array([0.25, 0.75, 1.25]), 0.5, 0, np.int8).tolist() == [0, 2, 2]
    assert quantize(np.array([1.5]), 0.0, 0, np.float32).dtype == np.float32


# --- micro_frontend -------------------------------------------------------------------------------


def test_micro_features_identical_to_pymicro_wakeword() -> None:
    audio = chirp(2.0)[:-77]
    ours = micro.features(audio)
    pkg = MicroWakeWordFeatures()
    chunks = np.split(audio, [333, 1000, 1001, 9000, 20000])
    ref = np.concatenate([f for c in chunks for f in pkg.process_streaming(c.tobytes())]).reshape(-1, 40)
    assert ours.dtype == np.float32 and ours.shape == (len(audio) // 160 - 2, 40)
    assert np.array_equal(ours.astype(np.float64), ref)


def test_micro_features_short_clip_is_empty() -> None:
    assert micro.features(np.zeros(479, np.int16)).shape == (0, 40)
    assert micro.features(np.zeros(480, np.int16)).shape == (1, 40)


def test_micro_model_inputs_quantize_like_microwakeword() -> None:
    info = LiteRTSession(MWW_MODEL).inputs[0]
    assert info.shape == (1, 3, 40) and info.quantized
    feats = micro.features(chirp(1.0))
    steps = MicroFrontEnd().model_inputs(feats, info)
    n = len(feats) // 3
    assert steps.shape == (n, 1, 3, 40) and steps.dtype == np.int8
    for j in (0, n // 2, n - 1):
        window = feats[3 * j : 3 * j + 3].astype(np.float64)[None]
        expected = np.round(window / info.scale + info.zero_point).astype(np.int8)
        assert np.array_equal(steps[j], expected)
    assert MicroFrontEnd().step_end_samples(3, info).tolist() == [800, 1280, 1760]
    with pytest.raises(ModelError, match="1, N, 40"):
        MicroFrontEnd().model_inputs(feats, TensorInfo("x", (1, 3, 32), np.dtype(np.int8), 0.1, 0))


# --- oww_melspec ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oww_sessions() -> tuple[LiteRTSession, LiteRTSession]:
    return (
        LiteRTSession(OWW_MODELS / "melspectrogram.tflite", (1, 1760)),
        LiteRTSession(OWW_MODELS / "embedding_model.tflite"),
    )


@pytest.fixture(scope="module")
def oww_package_run() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Audio, the package's embeddings for it (fed in 80 ms chunks) and its alexa head's outputs."""
    audio = chirp(3.0)
    features = OpenWakeWordFeatures.from_builtin()
    head = OpenWakeWord.from_model(OWW_MODELS / "alexa.tflite")
    emb, probs = [], []
    for i in range(0, len(audio), 1280):
        for e in features.process_streaming(audio[i : i + 1280].tobytes()):
            emb.append(e.reshape(96))
            probs.extend(head.process_streaming(e))
    return audio, np.array(emb), np.array(probs)


def test_oww_embeddings_match_pyopen_wakeword(oww_sessions, oww_package_run) -> None:
    audio, ref, _ = oww_package_run
    ours = oww.embeddings(audio, *oww_sessions)
    assert ours.shape == ref.shape == ((128000 + len(audio) - 1760) // 1280 + 1 - 9, 96)
    diff = float(np.abs(ours - ref).max())
    print(f"oww embeddings: max abs difference to pyopen_wakeword = {diff:.3g}")
    assert diff < 1e-3


def test_oww_prefill_alignment(oww_sessions, oww_package_run) -> None:
    audio = oww_package_run[0]
    full = oww.embeddings(audio, *oww_sessions)
    assert oww.prefill_embeddings() == 90 and oww.prefill_embeddings(32000) == 15
    assert oww.prefill_embeddings(1760 + 8 * 1280) == 0 and oww.prefill_embeddings(1760 + 9 * 1280) == 1
    assert oww.prefill_embeddings(0) == 0
    assert np.array_equal(full[:90], np.broadcast_to(full[0], (90, 96)))
    assert not np.array_equal(full[90], full[0])
    short = oww.embeddings(audio, *oww_sessions, prefill_samples=32000)
    assert np.array_equal(short, full[75:])
    assert oww.embeddings(audio[:1759], *oww_sessions, prefill_samples=0).shape == (0, 96)
    assert oww.embeddings(audio[: 1760 + 9 * 1280], *oww_sessions, prefill_samples=0).shape == (1, 96)
    with pytest.raises(ConfigError):
        oww.embeddings(audio, *oww_sessions, prefill_samples=-1)


def test_oww_head_inputs_and_outputs_match_package(oww_sessions, oww_package_run) -> None:
    audio, _, ref_probs = oww_package_run
    head = LiteRTSession(OWW_MODELS / "alexa.tflite")
    info = head.inputs[0]
    frontend = OwwFrontEnd(*oww_sessions)
    feats = frontend.features(audio)
    steps = frontend.model_inputs(feats, info)
    assert steps.shape == (len(feats) - 15 - 75, 1, 16, 96)
    assert np.array_equal(steps[0, 0], feats[75:91]) and np.array_equal(steps[-1, 0], feats[-16:])
    assert frontend.step_end_samples(2, info).tolist() == [480, 1760]
    probs = np.array([head.run([s])[0].item() for s in steps])
    assert np.abs(probs - ref_probs[75:]).max() < 1e-6  # one step off would differ by ~8e-5 here
    assert oww.head_inputs(feats[:10], 16).shape == (0, 1, 16, 96)


def test_oww_with_the_harness_litert_runtime(oww_sessions) -> None:
    litert = pytest.importorskip("harness.runtimes.litert")
    runtime = litert.LiteRTRuntime()
    mel = runtime.load(OWW_MODELS / "melspectrogram.tflite", RuntimeOptions(), input_shapes=[(1, 1760)])
    emb = runtime.load(OWW_MODELS / "embedding_model.tflite", RuntimeOptions())
    audio = chirp(1.0)
    expected = oww.embeddings(audio, *oww_sessions, prefill_samples=32000)
    assert np.array_equal(oww.embeddings(audio, mel, emb, prefill_samples=32000), expected)


# --- mlperf_mfcc ----------------------------------------------------------------------------------


def test_mel_matrix_bin_by_hand() -> None:
    weights = mfcc.mel_weight_matrix()
    assert weights.shape == (257, 40)
    k = 20  # 625 Hz

    def mel(f: float) -> float:
        return 1127.0 * math.log(1.0 + f / 700.0)

    step = (mel(4000.0) - mel(20.0)) / 41
    position = (mel(k * 8000 / 256) - mel(20.0)) / step
    # The bin lies between mel edges i and i + 1: on the rising side of band i (edges i, i+1, i+2)
    # and the falling side of band i - 1 (edges i-1, i, i+1).
    i = int(position)
    frac = position - i
    assert weights[k, i].item() == pytest.approx(frac, abs=1e-12)
    assert weights[k, i - 1].item() == pytest.approx(1 - frac, abs=1e-12)
    assert np.count_nonzero(weights[k]) == 2
    assert not weights[0].any() and not weights[129:].any()
    assert weights.max() <= 1.0


def test_dct_matches_scipy() -> None:
    x = np.random.default_rng(3).normal(size=(5, 40))
    ours = x @ mfcc.dct_matrix()
    ortho = scipy.fft.dct(x, type=2, norm="ortho", axis=-1)
    ortho[:, 0] *= math.sqrt(2)
    np.testing.assert_allclose(ours, ortho, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        ours, scipy.fft.dct(x, type=2, axis=-1) / math.sqrt(80), rtol=1e-12, atol=1e-12
    )


def test_mfcc_pipeline_against_frame_loop() -> None:
    audio = chirp(1.0, seed=4)
    x = audio.astype(np.float64) / audio.max()
    window = scipy.signal.get_window("hann", 480)  # periodic
    rows = []
    for start in range(0, 16000 - 480 + 1, 320):
        spectrum = np.abs(np.fft.rfft(x[start : start + 480] * window, 512))
        log_mel = np.log(spectrum @ mfcc.mel_weight_matrix() + 1e-6)
        rows.append(scipy.fft.dct(log_mel, type=2)[:10] / math.sqrt(80))
    ours = mfcc.features(audio)
    assert ours.shape == (49, 10) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, np.array(rows), rtol=2e-6, atol=2e-6)


def test_mfcc_pad_truncate_and_normalisation() -> None:
    audio = chirp(1.5, seed=5)
    assert np.array_equal(mfcc.features(audio), mfcc.features(audio[:16000]))
    short = audio[:12345]
    assert np.array_equal(mfcc.features(short), mfcc.features(np.pad(short, (0, 16000 - 12345))))
    half = (audio[:16000] // 2).astype(np.int16)
    assert np.array_equal(mfcc.features(2 * half), mfcc.features(half))
    assert not np.array_equal(mfcc.features(half, normalize=False), mfcc.features(half))
    silent = mfcc.features(np.zeros(16000, np.int16))
    np.testing.assert_allclose(silent[:, 0], 40 * math.log(1e-6) * math.sqrt(2 / 40), rtol=1e-6)
    np.testing.assert_allclose(silent[:, 1:], 0, atol=1e-4)


def test_pure_tone_peaks_in_its_mel_band() -> None:
    for hz in (440.0, 1000.0, 2500.0):
        tone = np.round(10000 * np.sin(2 * np.pi * hz * np.arange(16000) / 16000)).astype(np.int16)
        edges = np.linspace(1127 * math.log1p(20 / 700), 1127 * math.log1p(4000 / 700), 42)
        centers_hz = 700 * (np.exp(edges[1:-1] / 1127) - 1)
        expected = int(np.argmin(np.abs(centers_hz - hz)))
        peaks = mfcc.log_mel(tone).argmax(axis=1)
        assert (peaks == expected).all(), (hz, expected, np.unique(peaks))


def test_mfcc_model_inputs() -> None:
    info = TensorInfo("input", (1, 49, 10, 1), np.dtype(np.int8), 0.25, 3)
    feats = mfcc.features(chirp(1.0))
    steps = MfccFrontEnd().model_inputs(feats, info)
    assert steps.shape == (1, 1, 49, 10, 1) and steps.dtype == np.int8
    expected = np.clip(np.round(feats.astype(np.float64) / 0.25 + 3), -128, 127).astype(np.int8)
    assert np.array_equal(steps[0, 0, :, :, 0], expected)
    assert MfccFrontEnd().step_end_samples(1, info).tolist() == [15840]
    with pytest.raises(ModelError):
        MfccFrontEnd().model_inputs(feats, TensorInfo("input", (1, 40, 10, 1), np.dtype(np.int8), 0.25, 3))
