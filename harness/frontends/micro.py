"""microWakeWord's front end: the TFLite Micro audio front end (``pymicro-features``).

The front end is fed 10 ms hops (160 samples); once it holds a full 30 ms window it returns 40
features per hop, so a clip of n samples gives ``max(0, n // 160 - 2)`` frames. Samples after the
last full hop are not used. Noise reduction and gain control adapt over time, so features depend
on everything before them: every call starts from a fresh front end, as a device does after boot.
"""

from __future__ import annotations

import numpy as np

# pymicro-features' own extension module, which its MicroFrontend class wraps: calling it directly saves the
# wrapper's per-hop result object, a tenth of the front end's time (100 calls per second of audio).
from micro_features_cpp import create_frontend, process_samples

from harness.frontends.base import FrontEnd, as_clip, check_shape, quantize, register_frontend
from harness.runtimes.base import TensorInfo

N_FEATURES = 40
HOP_SAMPLES = 160
WINDOW_SAMPLES = 480
DEFAULT_STRIDE = 3
_HOP_BYTES = HOP_SAMPLES * 2


def features(audio: np.ndarray) -> np.ndarray:
    """``[n_frames, 40]`` float32 features of a whole clip, identical to feeding the clip in 10 ms
    hops through ``pymicro_wakeword.MicroWakeWordFeatures.process_streaming``."""
    data = as_clip(audio).tobytes()
    frontend = create_frontend()
    rows: list[list[float]] = []
    pos, last = 0, len(data) - _HOP_BYTES
    while pos <= last:
        frame, samples_read = process_samples(frontend, data[pos : pos + _HOP_BYTES])
        if samples_read <= 0:
            raise RuntimeError("pymicro-features consumed no samples")
        if frame:
            rows.append(frame)
        pos += samples_read * 2
    return np.array(rows, dtype=np.float32).reshape(-1, N_FEATURES)


def model_inputs(
    features: np.ndarray,
    stride: int = DEFAULT_STRIDE,
    *,
    scale: float,
    zero_point: int,
    dtype: np.dtype | type,
) -> np.ndarray:
    """``[n_steps, 1, stride, 40]``: non-overlapping windows of ``stride`` frames, quantized as
    microWakeWord does (``round(x / scale + zero_point)``, saturated to ``dtype``).

    Frames left over after the last full window are dropped (the package holds them back).
    """
    n_steps = len(features) // stride
    windows = np.asarray(features)[: n_steps * stride].reshape(n_steps, 1, stride, N_FEATURES)
    return quantize(windows, scale, zero_point, dtype)


def step_end_samples(n_steps: int, stride: int = DEFAULT_STRIDE) -> np.ndarray:
    """Clip sample where step j's audio ends: its last frame, ``stride * (j + 1) - 1``, ends 30 ms after
    it starts."""
    last_frame = stride * (np.arange(n_steps) + 1) - 1
    return last_frame * HOP_SAMPLES + WINDOW_SAMPLES


@register_frontend
class MicroFrontEnd(FrontEnd):
    """TFLite Micro features in stride-frame steps for microWakeWord's ``[1, stride, 40]`` int8 input."""

    name = "micro_frontend"

    def features(self, audio: np.ndarray) -> np.ndarray:
        return features(audio)

    def model_inputs(self, features: np.ndarray, model_input: TensorInfo) -> np.ndarray:
        check_shape(model_input, (1, None, N_FEATURES), self.name)
        return model_inputs(
            features,
            model_input.shape[1],
            scale=model_input.scale,
            zero_point=model_input.zero_point,
            dtype=model_input.dtype,
        )

    def step_end_samples(self, n_steps: int, model_input: TensorInfo) -> np.ndarray:
        return step_end_samples(n_steps, model_input.shape[1])
