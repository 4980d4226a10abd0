"""The MLPerf Tiny streaming wake-word (sww01) front end: log-mel filterbank energies as its reference DUT computes.

As ``compute_lfbe_f32`` and ``process_chunk_and_cont_streaming`` in mlcommons/tiny's sww reference firmware
(docs/streaming.md): every 512 new samples (32 ms) the DUT shifts them into a 1024-sample window (64 ms; zeros
before the stream starts), scales it by 1/32768, pre-emphasises it within the window (``x[n] - 0.96875 x[n-1]``,
``x[0]`` kept), applies a symmetric Hamming window, takes the 1024-point real FFT's power ``|X|^2 / 1024``, sums
40 mel bands (TF's ``linear_to_mel_weight_matrix``, 0-8000 Hz), floors them at 1e-30, and returns
``clip((10 log10(mel) + 52) / 64, 0, 1)``. Each frame becomes the newest of the model's 30 input rows as
``int8(trunc(feature / scale - 128))``; rows before the stream's first frame are int8 zeros, as the firmware
clears its input buffer on ``start``.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import scipy.signal
from numpy.lib.stride_tricks import sliding_window_view

from harness.core.errors import ModelError
from harness.frontends.base import SAMPLE_RATE, FrontEnd, as_clip, check_shape, register_frontend
from harness.frontends.mfcc import mel_weight_matrix
from harness.runtimes.base import TensorInfo

WINDOW_SAMPLES = 1024  # 64 ms
STRIDE_SAMPLES = 512   # 32 ms: one DMA block, one model step
N_MELS = 40
N_FRAMES = 30
PREEMPHASIS = 1.0 - 2.0 ** -5
POWER_OFFSET_DB = 52.0
RANGE_DB = 64.0
FLOOR = 1e-30
FULL_SCALE = 32768.0


@cache
def hamming() -> np.ndarray:
    """Symmetric Hamming window, as TF's ``hamming_window(periodic=False)``: ``0.54 - 0.46 cos(2 pi n / (N - 1))``."""
    return scipy.signal.windows.hamming(WINDOW_SAMPLES, sym=True)


@cache
def mel_matrix() -> np.ndarray:
    """``[513, 40]`` mel weights, 0 Hz to Nyquist."""
    return mel_weight_matrix(N_MELS, WINDOW_SAMPLES // 2 + 1, SAMPLE_RATE, 0.0, SAMPLE_RATE / 2)


def windows(audio: np.ndarray) -> np.ndarray:
    """``[n // 512, 1024]`` float64 windows the DUT sees: the previous block and the newest, zeros before the start."""
    x = np.concatenate([np.zeros(WINDOW_SAMPLES - STRIDE_SAMPLES), as_clip(audio).astype(np.float64) / FULL_SCALE])
    n_frames = (x.size - WINDOW_SAMPLES) // STRIDE_SAMPLES + 1
    return sliding_window_view(x, WINDOW_SAMPLES)[::STRIDE_SAMPLES][:n_frames]


def features(audio: np.ndarray) -> np.ndarray:
    """``[n_frames, 40]`` float32 LFBE in [0, 1], one row per 512 samples of ``audio``."""
    frames = windows(audio)
    emphasised = scipy.signal.lfilter([1.0, -PREEMPHASIS], [1.0], frames, axis=1)  # zero state: x[0] kept
    power = np.abs(np.fft.rfft(emphasised * hamming(), n=WINDOW_SAMPLES)) ** 2 / WINDOW_SAMPLES
    mel = np.maximum(power @ mel_matrix(), FLOOR)
    return np.clip((10.0 * np.log10(mel) + POWER_OFFSET_DB) / RANGE_DB, 0.0, 1.0).astype(np.float32)


def quantize_rows(features: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """int8 as the firmware casts: ``trunc(feature / scale + zero_point)``, saturated (the C cast would wrap)."""
    q = np.trunc(np.asarray(features, dtype=np.float64) / float(scale) + int(zero_point))
    return np.clip(q, -128, 127).astype(np.int8)


def model_inputs(features: np.ndarray, scale: float, zero_point: int, n_frames: int = N_FRAMES) -> np.ndarray:
    """``[n_steps, 1, n_frames, 1, 40]`` int8: step k holds frames k - n_frames + 1 .. k, zeros before frame 0."""
    rows = quantize_rows(features, scale, zero_point).reshape(-1, N_MELS)
    padded = np.concatenate([np.zeros((n_frames - 1, N_MELS), dtype=np.int8), rows])
    steps = sliding_window_view(padded, (n_frames, N_MELS))[:, 0]  # [n_steps, n_frames, 40]
    return np.ascontiguousarray(steps[:, None, :, None, :])


@register_frontend
class LfbeFrontEnd(FrontEnd):
    """sww01 LFBE: one model step per 32 ms frame on an int8 ``[1, 30, 1, 40]`` input."""

    name = "mlperf_lfbe"

    def features(self, audio: np.ndarray) -> np.ndarray:
        return features(audio)

    def model_inputs(self, features: np.ndarray, model_input: TensorInfo) -> np.ndarray:
        check_shape(model_input, (1, None, 1, N_MELS), self.name)
        if np.dtype(model_input.dtype) != np.int8 or not model_input.quantized:
            raise ModelError(f"model input '{model_input.name}' is {np.dtype(model_input.dtype)}; front end "
                             f"'{self.name}' feeds int8 features quantized as the sww01 firmware does",
                             hint="use an int8-quantized model, or another front end")
        return model_inputs(features, model_input.scale, model_input.zero_point, model_input.shape[1])

    def step_end_samples(self, n_steps: int, model_input: TensorInfo) -> np.ndarray:
        return STRIDE_SAMPLES * (np.arange(n_steps) + 1)

