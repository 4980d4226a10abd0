"""openWakeWord's learned front end: melspectrogram model -> embedding model -> 96-d embeddings.

Frame alignment (as ``pyopen_wakeword.OpenWakeWordFeatures`` does on a fresh stream): the clip is
preceded by ``prefill_samples`` of silence (default 8 s, the package's value). Analysis window k covers
samples ``[1280 k, 1280 k + 1760)`` of that padded signal and is processed only when complete, so clip
samples after the last complete window are not seen. Each window gives 8 mel frames (hop 10 ms);
embedding e covers mel frames ``[8 e, 8 e + 76)``, i.e. windows e .. e + 9. With a prefill that is a
multiple of 1280 the windows start at multiples of 1280 clip samples; other prefills shift that phase.

The melspectrogram model floors every frame at 80 dB below the loudest frame of its 1760-sample input,
so a mel frame depends on the window it was computed in: the windowing above must be reproduced
exactly (one whole-clip call would give different mels), and an embedding sees clip audio as soon as
its last window does. The floor is taken over the whole input tensor, batch included, so windows
cannot share an invoke: the melspectrogram model runs one window at a time.

The embedding model is valid convolutions and max pools whose time strides multiply to 8, the hop
between embeddings, so run on a longer stretch of mel frames it yields every embedding of that
stretch in one invoke, each computed once instead of up to ten times over the overlapping windows.
With batching on (``max_batch`` > 1) that is the path, in segments of at most ``SEGMENT_EMBEDDINGS``;
each segment length is checked once per session against the one-window path (the same tolerance as
batching, ``runtimes.base.same_outputs``) and a model that differs runs window by window.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harness.core.errors import ConfigError, ModelError
from harness.frontends.base import SAMPLE_RATE, FrontEnd, as_clip, check_shape, quantize, register_frontend
from harness.runtimes.base import Session, TensorInfo, same_outputs

WINDOW_SAMPLES = 1760
HOP_SAMPLES = 1280
N_MELS = 32
MELS_PER_WINDOW = 8
EMB_FRAMES = 76
EMB_HOP = 8
EMB_DIM = 96
DEFAULT_PREFILL = 8 * SAMPLE_RATE
_WINDOWS_PER_EMB = (EMB_FRAMES - 1) // MELS_PER_WINDOW + 1
SEGMENT_EMBEDDINGS = 64  # most embeddings one invoke of the sequence path yields
_SEGMENT_STEP = 8  # segment lengths are rounded up to this many embeddings: at most 8 interpreters

_SEQUENCE_CHECKED: WeakKeyDictionary[Session, dict[int, bool]] = WeakKeyDictionary()


def _run_rows(session: Session, batch: np.ndarray, out_size: int, what: str, *, batched: bool) -> np.ndarray:
    """The model's output for every row of ``batch``, each distinct row run once (the silent prefill repeats
    one row); in batches when ``batched``, which only a model whose rows do not interact may be."""
    index_of: dict[bytes, int] = {}
    firsts: list[int] = []
    where = np.empty(len(batch), dtype=np.intp)
    for i, row in enumerate(batch):
        key = row.tobytes()
        if key not in index_of:
            index_of[key] = len(firsts)
            firsts.append(i)
        where[i] = index_of[key]
    distinct = np.ascontiguousarray(batch[firsts])
    y = session.run_rows(distinct) if batched else session.run_each(distinct)
    if y.size != len(distinct) * out_size:
        raise ModelError(f"{what} model returned {y.shape[1:]}, expected {out_size} values per window")
    return y.reshape(len(distinct), out_size).astype(np.float32, copy=False)[where]


def mels(audio: np.ndarray, mel_session: Session, *, prefill_samples: int = DEFAULT_PREFILL) -> np.ndarray:
    """``[n_frames, 32]`` mel frames, already scaled as the embedding model wants (``mel / 10 + 2``).

    ``mel_session`` is melspectrogram.tflite; it must accept a ``[1, 1760]`` float32 input
    (the model's input is dynamic: load it with that shape).
    """
    if prefill_samples < 0:
        raise ConfigError(f"prefill_samples must be >= 0, got {prefill_samples}")
    signal = np.concatenate([np.zeros(prefill_samples, np.float32), as_clip(audio).astype(np.float32)])
    if len(signal) < WINDOW_SAMPLES:
        return np.empty((0, N_MELS), dtype=np.float32)
    windows = sliding_window_view(signal, WINDOW_SAMPLES)[::HOP_SAMPLES]
    out = _run_rows(mel_session, windows, MELS_PER_WINDOW * N_MELS, "melspectrogram", batched=False)
    return out.reshape(-1, N_MELS) / 10 + 2


def embeddings(
    audio: np.ndarray,
    mel_session: Session,
    emb_session: Session,
    *,
    prefill_samples: int = DEFAULT_PREFILL,
) -> np.ndarray:
    """``[n_steps, 96]`` embeddings, one per 80 ms: the sequence a fresh ``OpenWakeWordFeatures`` yields
    for the same audio when ``prefill_samples`` is 8 s (the first ``prefill_embeddings()`` rows see
    only the silent prefill).

    ``emb_session`` is embedding_model.tflite with input ``[1, 76, 32, 1]``.
    """
    frames = mels(audio, mel_session, prefill_samples=prefill_samples)
    if len(frames) < EMB_FRAMES:
        return np.empty((0, EMB_DIM), dtype=np.float32)
    blocks = sliding_window_view(frames, (EMB_FRAMES, N_MELS))[::EMB_HOP, 0, :, :, None]
    if emb_session.max_batch > 1:
        # Embeddings before ``first`` see only the silent prefill: all equal to embedding ``first``.
        first = min(max(0, prefill_embeddings(prefill_samples) - 1), len(blocks) - 1)
        computed = _in_sequence(frames, first, len(blocks), emb_session)
        if computed is not None:
            return np.concatenate([np.repeat(computed[:1], first, axis=0), computed])
    return _run_rows(emb_session, blocks, EMB_DIM, "embedding", batched=True)


def _in_sequence(frames: np.ndarray, start: int, stop: int, emb_session: Session) -> np.ndarray | None:
    """Embeddings ``start`` .. ``stop - 1`` from whole stretches of mel frames, or None where the model
    cannot run that way or gives other values than window by window."""
    checked = _SEQUENCE_CHECKED.setdefault(emb_session, {})
    parts = []
    for a in range(start, stop, SEGMENT_EMBEDDINGS):
        n = min(SEGMENT_EMBEDDINGS, stop - a)
        size = -(-n // _SEGMENT_STEP) * _SEGMENT_STEP
        stretch = np.zeros((1, EMB_HOP * (size - 1) + EMB_FRAMES, N_MELS, 1), dtype=np.float32)
        part = frames[EMB_HOP * a:EMB_HOP * (a + size - 1) + EMB_FRAMES]  # the end pads with zeros: unused rows
        stretch[0, :len(part), :, 0] = part
        if checked.get(size) is False:
            return None
        y = emb_session.run_reshaped(stretch)
        if y is None or y.size != size * EMB_DIM:
            checked[size] = False
            return None
        y = y.reshape(size, EMB_DIM).astype(np.float32, copy=False)
        if size not in checked:  # every row of the stretch, padding included: a misplaced row cannot hide
            windows = sliding_window_view(stretch[0, :, :, 0], (EMB_FRAMES, N_MELS))[::EMB_HOP, 0, :, :, None]
            checked[size] = same_outputs(y, _run_rows(emb_session, windows, EMB_DIM, "embedding", batched=False))
            if not checked[size]:
                return None
        parts.append(y[:n])
    return np.concatenate(parts)


def prefill_embeddings(prefill_samples: int = DEFAULT_PREFILL) -> int:
    """How many leading embeddings are computed from the silent prefill alone."""
    if prefill_samples < WINDOW_SAMPLES:
        return 0
    silent_windows = (prefill_samples - WINDOW_SAMPLES) // HOP_SAMPLES + 1
    return max(0, silent_windows - _WINDOWS_PER_EMB + 1)


def head_inputs(embeddings: np.ndarray, window: int, *, skip: int = 0) -> np.ndarray:
    """``[n_steps, 1, window, 96]``: every run of ``window`` consecutive embeddings (hop 1), as the
    package feeds the wake-word head, leaving out the first ``skip`` runs."""
    n_steps = max(0, len(embeddings) - window + 1 - skip)
    if n_steps == 0:
        return np.empty((0, 1, window, EMB_DIM), dtype=np.float32)
    runs = sliding_window_view(np.asarray(embeddings), (window, EMB_DIM))[skip:, 0]
    return np.ascontiguousarray(runs[:, None])


def first_audio_step(window: int, prefill_samples: int = DEFAULT_PREFILL) -> int:
    """Index of the first head step whose newest embedding sees clip audio (earlier steps see only
    the prefill, so their output is the same for every clip)."""
    return max(0, prefill_embeddings(prefill_samples) - window + 1)


@register_frontend
class OwwFrontEnd(FrontEnd):
    """openWakeWord embeddings in head-sized runs; steps that see only the silent prefill are left out."""

    name = "oww_melspec"

    def __init__(
        self, mel_session: Session, emb_session: Session, *, prefill_samples: int = DEFAULT_PREFILL
    ) -> None:
        self.mel_session = mel_session
        self.emb_session = emb_session
        self.prefill_samples = prefill_samples

    def features(self, audio: np.ndarray) -> np.ndarray:
        return embeddings(audio, self.mel_session, self.emb_session, prefill_samples=self.prefill_samples)

    def model_inputs(self, features: np.ndarray, model_input: TensorInfo) -> np.ndarray:
        check_shape(model_input, (1, None, EMB_DIM), self.name)
        window = model_input.shape[1]
        runs = head_inputs(features, window, skip=first_audio_step(window, self.prefill_samples))
        return quantize(runs, model_input.scale, model_input.zero_point, model_input.dtype)

    def step_end_samples(self, n_steps: int, model_input: TensorInfo) -> np.ndarray:
        window = model_input.shape[1]
        newest = first_audio_step(window, self.prefill_samples) + np.arange(n_steps) + window - 1
        last_window = newest + _WINDOWS_PER_EMB - 1
        return last_window * HOP_SAMPLES + WINDOW_SAMPLES - self.prefill_samples
