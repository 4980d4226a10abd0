"""Seeded noise environments and SNR mixing: pure functions over float arrays.

Every generator takes a ``numpy.random.Generator`` and returns float64 noise of unit RMS, so the same
generator state gives the same samples. SNR is measured against the speech segment only (found from the
clean signal's frame energy), never against the silence that pads a clip.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.core.errors import DataError

FRAME_S = 0.010
SEGMENT_FLOOR_DB = -50.0


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    return x / rms if rms > 0 else x


def white(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian white noise."""
    return _unit_rms(rng.standard_normal(n))


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f (pink) noise: white noise whose spectrum is shaped by 1/sqrt(f) in the FFT domain."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(freqs[1:])
    return _unit_rms(np.fft.irfft(spectrum, n))


def _loop(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``x`` started at a random offset and repeated to length ``n``."""
    start = int(rng.integers(x.size))
    return np.resize(np.roll(x, -start), n)


def babble(n: int, rng: np.random.Generator, talkers: Sequence[np.ndarray], n_talkers: int = 6) -> np.ndarray:
    """Several overlapping talkers, each at unit RMS, at random offsets into their recordings."""
    if not talkers:
        raise DataError("babble needs at least one talker recording")
    picks = rng.choice(len(talkers), size=min(n_talkers, len(talkers)), replace=False)
    return _unit_rms(sum(_unit_rms(_loop(talkers[i], n, rng)) for i in picks))


def music(n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Music-like tones: a chord progression of harmonic notes with plucked (attack/decay) envelopes."""
    out = np.zeros(n)
    pos = 0
    while pos < n:
        length = min(int(rng.uniform(0.4, 1.2) * sr), n - pos)
        t = np.arange(length) / sr
        root = int(rng.integers(45, 58))
        third = 3 if rng.random() < 0.5 else 4
        envelope = np.minimum(t / 0.015, 1.0) * np.exp(-t / rng.uniform(0.2, 0.6))
        envelope *= np.minimum((length - 1 - np.arange(length)) / (0.01 * sr), 1.0)
        for midi in (root, root + third, root + 7, root + 12):
            f0 = 440.0 * 2.0 ** ((midi - 69) / 12)
            for h in range(1, 5):
                if f0 * h < 0.45 * sr:
                    phase = rng.uniform(0, 2 * np.pi)
                    out[pos:pos + length] += envelope * np.sin(2 * np.pi * f0 * h * t + phase) / h
        pos += length
    return _unit_rms(out)


def tv(n: int, rng: np.random.Generator, talkers: Sequence[np.ndarray], sr: int,
       music_db: float = -3.0) -> np.ndarray:
    """A TV in the room: one talker plus music ``music_db`` below it, through a 200-5000 Hz loudspeaker."""
    if not talkers:
        raise DataError("tv noise needs at least one talker recording")
    speech = _unit_rms(_loop(talkers[int(rng.integers(len(talkers)))], n, rng))
    mix = speech + music(n, rng, sr) * 10.0 ** (music_db / 20.0)
    from scipy.signal import butter, sosfilt  # imported when rendering, not whenever a cached corpus is opened

    sos = butter(4, [200.0, 5000.0], btype="bandpass", fs=sr, output="sos")
    return _unit_rms(sosfilt(sos, mix))


@dataclass(frozen=True)
class Room:
    """A synthetic room: reverberation time and direct-to-reverberant ratio."""

    name: str
    rt60_s: float
    drr_db: float


ROOMS: tuple[Room, ...] = (
    Room("small-room", 0.3, 3.0),
    Room("living-room", 0.5, 0.0),
    Room("hall", 0.9, -3.0),
)


def room_impulse_response(room: Room, sr: int, rng: np.random.Generator,
                          predelay_s: float = 0.004) -> np.ndarray:
    """A direct-path impulse, then exponentially decaying noise that falls 60 dB in ``rt60_s``."""
    delay = int(predelay_s * sr)
    t = np.arange(int(room.rt60_s * sr)) / sr
    tail = rng.standard_normal(t.size) * np.exp(-3.0 * np.log(10.0) * t / room.rt60_s)
    tail *= np.sqrt(10.0 ** (-room.drr_db / 10.0) / np.sum(np.square(tail)))
    rir = np.zeros(delay + t.size)
    rir[0] = 1.0
    rir[delay:] += tail
    return rir


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``x`` convolved with ``rir``, cut to the length of ``x``."""
    from scipy.signal import fftconvolve

    return fftconvolve(x, rir)[: x.size]


def speech_segment(clean: np.ndarray, sr: int, floor_db: float = SEGMENT_FLOOR_DB) -> tuple[int, int]:
    """[start, end) samples: first to last 10 ms frame within ``floor_db`` of the loudest frame."""
    hop = int(FRAME_S * sr)
    n_frames = -(-clean.size // hop)
    padded = np.zeros(n_frames * hop)
    padded[: clean.size] = clean
    energy = np.sum(np.square(padded.reshape(n_frames, hop)), axis=1)
    if energy.size == 0 or energy.max() <= 0:
        raise DataError("the clean signal is silent: there is no speech segment to measure SNR against")
    active = np.flatnonzero(energy >= energy.max() * 10.0 ** (floor_db / 10.0))
    return int(active[0] * hop), int(min((active[-1] + 1) * hop, clean.size))


def snr_db(speech: np.ndarray, noise: np.ndarray, segment: tuple[int, int]) -> float:
    """10 log10 of speech power over noise power, both over ``segment``."""
    a, b = segment
    return float(10.0 * np.log10(np.mean(np.square(speech[a:b])) / np.mean(np.square(noise[a:b]))))


def mix_at_snr(clean: np.ndarray, noise: np.ndarray, target_db: float, *, sr: int = 16_000,
               segment: tuple[int, int] | None = None) -> np.ndarray:
    """``clean`` plus ``noise`` scaled so the SNR over the speech segment is exactly ``target_db``.

    ``segment`` defaults to :func:`speech_segment` of ``clean``; pass the dry signal's segment when
    ``clean`` is reverberant.
    """
    if noise.size < clean.size:
        raise DataError(f"noise has {noise.size} samples, fewer than the {clean.size} of the speech")
    a, b = segment if segment is not None else speech_segment(clean, sr)
    noise = noise[: clean.size]
    noise_power = np.mean(np.square(noise[a:b]))
    if noise_power <= 0:
        raise DataError("the noise is silent over the speech segment")
    gain = np.sqrt(np.mean(np.square(clean[a:b])) / (noise_power * 10.0 ** (target_db / 10.0)))
    return clean + gain * noise
