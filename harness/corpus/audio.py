"""Reading any audio file and conforming it to the corpus format: 16 kHz mono int16 WAV.

WAV goes through scipy; MP3, Opus, FLAC and Ogg through ``soundfile`` (libsndfile), imported only when
such a file is read. Resampling is ``scipy.signal.resample_poly``: deterministic, no dither.
Importers conform (and record what it took); a corpus directory's clips must already be in the corpus
format, and ``check_corpus_wav`` / ``read_corpus_wav`` refuse anything else rather than convert it unseen.
Truncated data and NaN/inf samples are refused everywhere.
"""

from __future__ import annotations

import struct
import warnings
import wave
from dataclasses import dataclass
from importlib.util import find_spec
from math import gcd
from pathlib import Path
from types import ModuleType

import numpy as np
from scipy.io import wavfile

from harness.core.errors import DataError

SAMPLE_RATE = 16_000
_FULL_SCALE = 32768.0


class AudioError(DataError):
    """One audio file cannot be decoded (corrupt, truncated, unsupported encoding); ``reason`` says why."""

    def __init__(self, path: Path, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {reason}", hint=hint)
        self.reason = reason


@dataclass(frozen=True)
class Conformed:
    """Audio in the corpus format plus what it took to get there."""

    samples: np.ndarray  # int16, mono, SAMPLE_RATE
    source_rate: int
    source_channels: int
    clipped: bool  # some samples exceeded int16 after downmix/resampling and were clipped
    source_format: str = "int16"  # WAV sample type (int16, int32, uint8, float32, ...) or the codec (flac, mp3, ...)

    @property
    def resampled(self) -> bool:
        return self.source_rate != SAMPLE_RATE

    @property
    def downmixed(self) -> bool:
        return self.source_channels > 1

    @property
    def reformatted(self) -> bool:
        """The source samples were not int16 PCM (other width, float, or a compressed codec)."""
        return self.source_format != "int16"


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Samples as ``(frames, channels)`` and the sample rate; int16 WAV stays int16, the rest float.

    A WAV whose data ends before its header says, and any NaN/inf sample, is an ``AudioError``.
    """
    data, rate, _ = _decode(path)
    return data, rate


def _decode(path: Path) -> tuple[np.ndarray, int, str]:
    """``read_audio`` plus the source sample format: the WAV's numpy sample type, or libsndfile's subtype."""
    try:
        if path.suffix.lower() == ".wav":
            try:
                rate, data = _read_wav(path)
                fmt = np.asarray(data).dtype.name
            except ValueError:  # an encoding scipy does not read (e.g. compressed WAV): libsndfile may
                if find_spec("soundfile") is None:
                    raise
                data, rate, fmt = _read_soundfile(path)
        else:
            data, rate, fmt = _read_soundfile(path)
    except wavfile.WavFileWarning as exc:
        raise AudioError(path, f"truncated audio data ({exc})") from None
    except struct.error:
        raise AudioError(path, f"truncated or malformed WAV header ({path.stat().st_size} bytes)") from None
    except (OSError, ValueError, RuntimeError, EOFError) as exc:
        detail = str(exc).replace(str(path), path.name)
        raise AudioError(path, f"cannot decode ({detail})") from exc
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    if data.size == 0:
        raise AudioError(path, "no audio samples")
    if data.dtype.kind == "f":
        bad = ~np.isfinite(data).all(axis=1)
        if bad.any():
            first = int(np.argmax(bad))
            raise AudioError(path, f"{int(bad.sum())} frame(s) with NaN or infinite samples "
                                   f"(first at {first / rate:.3f} s); such audio is refused, not repaired")
    return data, int(rate), fmt


def _read_wav(path: Path, mmap: bool = False) -> tuple[int, np.ndarray]:
    """scipy's reader; unknown chunks (LIST, cue) are harmless, data ending early raises ``WavFileWarning``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wavfile.WavFileWarning)
        warnings.filterwarnings("error", message="Reached EOF prematurely", category=wavfile.WavFileWarning)
        return wavfile.read(path, mmap=mmap)


def _read_soundfile(path: Path) -> tuple[np.ndarray, int, str]:
    soundfile = _soundfile()
    with soundfile.SoundFile(str(path)) as handle:
        fmt = f"{handle.format}/{handle.subtype}".lower()  # e.g. flac/pcm_16, mp3/mpeg_layer_iii
        return handle.read(dtype="float64", always_2d=True), handle.samplerate, fmt


def _soundfile() -> ModuleType:
    try:
        import soundfile
    except ImportError:
        raise DataError(
            "decoding MP3/Opus/FLAC needs the 'soundfile' package (libsndfile >= 1.1 for MP3)",
            hint="pip install soundfile",
        ) from None
    return soundfile


def _as_float(data: np.ndarray) -> np.ndarray:
    """Samples in int16 units (full scale 32768) as float64."""
    if data.dtype == np.uint8:
        return (data.astype(np.float64) - 128.0) * 256.0
    if np.issubdtype(data.dtype, np.integer):
        return data.astype(np.float64) * (_FULL_SCALE / 2.0 ** (8 * data.dtype.itemsize - 1))
    return data.astype(np.float64) * _FULL_SCALE


def conform(data: np.ndarray, rate: int, source_format: str | None = None) -> Conformed:
    """Downmix (mean of channels) and resample to 16 kHz mono int16; 16 kHz mono int16 passes unchanged.

    ``source_format`` defaults to the sample type of ``data``.
    """
    frames, channels = data.shape
    fmt = source_format or data.dtype.name
    if data.dtype == np.int16 and channels == 1 and rate == SAMPLE_RATE:
        return Conformed(np.ascontiguousarray(data[:, 0]), rate, channels, clipped=False, source_format=fmt)
    x = _as_float(data).mean(axis=1)
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly  # here: scipy.signal takes a noticeable part of a second to import

        common = gcd(SAMPLE_RATE, rate)
        x = resample_poly(x, SAMPLE_RATE // common, rate // common)
    x = np.rint(x)
    clipped = bool(np.any(x > 32767) or np.any(x < -32768))
    return Conformed(np.clip(x, -32768, 32767).astype(np.int16), rate, channels, clipped, fmt)


def load_conformed(path: Path) -> Conformed:
    """``conform(*read_audio(path))``, recording the file's own sample format."""
    return conform(*_decode(path))


CORPUS_FORMAT = "16 kHz mono 16-bit PCM WAV"
CONVERT_HINT = ("convert the source audio with 'harness corpus import manifest SRC --out DIR', which resamples, "
                "downmixes and records every conversion per clip")


def read_corpus_wav(path: Path) -> np.ndarray:
    """The int16 samples of a corpus clip, which must already be in the corpus format (else ``AudioError``)."""
    if path.suffix.lower() != ".wav":
        raise AudioError(path, f"not a .wav file; corpus clips are {CORPUS_FORMAT}", hint=CONVERT_HINT)
    data, rate, fmt = _decode(path)
    _require_corpus_format(path, rate, data.shape[1], fmt)
    return np.ascontiguousarray(data[:, 0])


def check_corpus_wav(path: Path) -> int:
    """``read_corpus_wav``'s checks from the header alone (memory-mapped), so a whole corpus is checked cheaply.

    Returns the number of samples.
    """
    try:
        rate, data = _read_wav(path, mmap=True)
    except (OSError, ValueError, EOFError, struct.error, wavfile.WavFileWarning):
        return len(read_corpus_wav(path))  # a full read says exactly why (truncated, 24-bit, not a WAV)
    frames, channels = (data.shape[0], 1) if data.ndim == 1 else data.shape
    fmt = data.dtype.name
    del data  # release the mapping
    if frames == 0:
        raise AudioError(path, "no audio samples")
    _require_corpus_format(path, rate, channels, fmt)
    return int(frames)


def _require_corpus_format(path: Path, rate: int, channels: int, fmt: str) -> None:
    """``fmt`` as ``Conformed.source_format`` spells it: int16 is the only sample format a corpus clip has."""
    found = []
    if rate != SAMPLE_RATE:
        found.append(f"{rate} Hz")
    if channels != 1:
        found.append(f"{channels} channels")
    if fmt != "int16":
        found.append(f"{fmt} samples")
    if found:
        raise AudioError(path, f"{', '.join(found)}; a corpus clip must be {CORPUS_FORMAT}", hint=CONVERT_HINT)


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """Write mono int16 samples as a canonical 44-byte-header PCM WAV (byte-identical for equal input)."""
    samples = np.asarray(samples)
    if samples.dtype != np.int16 or samples.ndim != 1:
        raise ValueError(f"write_wav wants 1-D int16 samples, got {samples.dtype} {samples.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
