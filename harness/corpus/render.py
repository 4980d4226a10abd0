"""Turn clip specs into audio and manifest rows (runs in worker processes; no pandas here)."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from harness.corpus import noise
from harness.corpus.audio import write_wav
from harness.corpus.espeak import SAMPLE_RATE, synthesize
from harness.corpus.phrases import CONFUSABLES
from harness.corpus.plan import TRAIL_SILENCE_S, ClipSpec, clip_seed
from harness.corpus.voices import ACCENTS, FEMALE_VARIANTS, MALE_VARIANTS, PITCH_RANGE, RATE_RANGE_WPM, accent

SPEECH_RMS_DBFS = -26.0
PEAK_LIMIT = 0.98
ROOM_TONE_SNR_DB = 50.0
_HOP = int(noise.FRAME_S * SAMPLE_RATE)

# Fixed talkers behind babble and TV noise: (accent, variant, rate, pitch).
_TALKERS = (("en-us", "m3", 170, 50), ("en-gb", "f2", 180, 55), ("es", "m1", 175, 45), ("hi", "f1", 165, 60),
            ("ru", "m4", 170, 40), ("fr", "f3", 185, 55), ("cmn", "m2", 160, 50), ("en-029", "f4", 175, 60))


@functools.lru_cache(maxsize=512)
def utterance(voice: str, variant: str, rate: int, pitch: int, text: str) -> np.ndarray:
    """Speech trimmed to its speech segment, padded to whole 10 ms frames, at the reference level."""
    x = synthesize(text, voice, variant=variant, rate=rate, pitch=pitch).astype(np.float64) / 32768.0
    a, b = noise.speech_segment(x, SAMPLE_RATE)
    x = np.concatenate([x[a:b], np.zeros(-(b - a) % _HOP)])
    return x * (10.0 ** (SPEECH_RMS_DBFS / 20.0) / np.sqrt(np.mean(np.square(x))))


@functools.cache
def talkers() -> tuple[np.ndarray, ...]:
    """Recordings of the babble/TV talkers: each reads its accent's sentences with 0.3 s pauses."""
    pause = np.zeros(int(0.3 * SAMPLE_RATE))
    out = []
    for accent_id, variant, rate, pitch in _TALKERS:
        acc = accent(accent_id)
        parts = [np.concatenate([utterance(acc.voice, variant, rate, pitch, text), pause])
                 for _, text in acc.sentence_pairs()]
        out.append(np.concatenate(parts))
    return tuple(out)


def _level(x: np.ndarray, segment: tuple[int, int]) -> np.ndarray:
    a, b = segment
    return x * (10.0 ** (SPEECH_RMS_DBFS / 20.0) / np.sqrt(np.mean(np.square(x[a:b]))))


def apply_environment(clean: np.ndarray, env: str, snr_db: float | None,
                      rng: np.random.Generator) -> tuple[np.ndarray, noise.Room | None]:
    """The clean signal in an environment; reverb adds pink noise at the SNR to the reverberant speech."""
    n = clean.size
    if env == "clean":
        return clean, None
    assert snr_db is not None
    if env == "reverb":
        room = noise.ROOMS[int(rng.integers(len(noise.ROOMS)))]
        segment = noise.speech_segment(clean, SAMPLE_RATE)
        wet = _level(noise.reverberate(clean, noise.room_impulse_response(room, SAMPLE_RATE, rng)), segment)
        return noise.mix_at_snr(wet, noise.pink(n, rng), snr_db, segment=segment), room
    return noise.mix_at_snr(clean, _noise(env, n, rng), snr_db, sr=SAMPLE_RATE), None


def _noise(env: str, n: int, rng: np.random.Generator) -> np.ndarray:
    generators = {
        "white": lambda: noise.white(n, rng),
        "pink": lambda: noise.pink(n, rng),
        "babble": lambda: noise.babble(n, rng, talkers()),
        "tv": lambda: noise.tv(n, rng, talkers(), SAMPLE_RATE),
    }
    return generators[env]()


def background(n: int, env: str, snr_db: float | None,
               rng: np.random.Generator) -> tuple[np.ndarray, noise.Room | None]:
    """An environment with nobody speaking (a ``silence`` clip), at the level it has under speech at ``snr_db``.

    Clean is room tone: white noise :data:`ROOM_TONE_SNR_DB` below the speech level. Reverb is its pink noise
    (the room is drawn, and recorded, as for speech).
    """
    room = None
    if env == "clean":
        x, snr_db = noise.white(n, rng), ROOM_TONE_SNR_DB
    elif env == "reverb":
        room = noise.ROOMS[int(rng.integers(len(noise.ROOMS)))]
        x = noise.pink(n, rng)
    else:
        x = _noise(env, n, rng)
    assert snr_db is not None
    return x * (10.0 ** ((SPEECH_RMS_DBFS - snr_db) / 20.0) / np.sqrt(np.mean(np.square(x)))), room


def to_int16(x: np.ndarray) -> np.ndarray:
    """Float full scale +-1 to int16, scaled down as a whole if it would clip (SNR unchanged)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > PEAK_LIMIT:
        x = x * (PEAK_LIMIT / peak)
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def _stream_speech(spec: ClipSpec, rng: np.random.Generator) -> np.ndarray:
    """Sentences (and some confusables) from random speakers of every accent, with pauses."""
    n = int(round(spec.stream_s * SAMPLE_RATE))
    clean = np.zeros(n)
    pos = int(round(spec.lead_s * SAMPLE_RATE))
    while True:
        acc = ACCENTS[int(rng.integers(len(ACCENTS)))]
        pool = MALE_VARIANTS if rng.random() < 0.5 else FEMALE_VARIANTS
        variant = pool[int(rng.integers(len(pool)))]
        rate = int(rng.integers(RATE_RANGE_WPM[0], RATE_RANGE_WPM[1] + 1))
        pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
        if rng.random() < 0.2:
            text = acc.say(CONFUSABLES[int(rng.integers(len(CONFUSABLES)))])
        else:
            pairs = acc.sentence_pairs()
            text = pairs[int(rng.integers(len(pairs)))][1]
        speech = utterance(acc.voice, variant, rate, pitch, text)
        if pos + speech.size > n - int(0.3 * SAMPLE_RATE):
            return clean
        clean[pos:pos + speech.size] = speech
        pos += speech.size + int(rng.uniform(0.2, 0.8) * SAMPLE_RATE)


def _fixed_length(spec: ClipSpec, rng: np.random.Generator) -> tuple[np.ndarray, noise.Room | None, float, float]:
    """A KWS clip of exactly ``clip_s``: the word at ``position`` of the free time (cut if longer), or no word."""
    n = int(round(spec.clip_s * SAMPLE_RATE))
    if not spec.text:
        mixed, room = background(n, spec.noise, spec.snr_db, rng)
        return mixed, room, math.nan, math.nan
    spk = spec.speaker
    assert spk is not None
    speech = utterance(spk.accent.voice, spk.variant, spk.rate, spk.pitch, spec.text)[:n]
    lead = int(round(spec.position * (n - speech.size)))
    clean = np.zeros(n)
    clean[lead:lead + speech.size] = speech
    mixed, room = apply_environment(clean, spec.noise, spec.snr_db, rng)
    return mixed, room, lead / SAMPLE_RATE, (lead + speech.size) / SAMPLE_RATE


def render_clip(spec: ClipSpec, seed: int, out_dir: Path) -> dict:
    """Render one clip, write its WAV under ``out_dir``, return its manifest row."""
    rng = np.random.default_rng(clip_seed(seed, spec.clip_id))
    spk = spec.speaker
    room: noise.Room | None
    if spec.clip_s > 0:
        mixed, room, start, end = _fixed_length(spec, rng)
    elif spk is None:
        clean = _stream_speech(spec, rng)
        start = end = math.nan
    else:
        speech = utterance(spk.accent.voice, spk.variant, spk.rate, spk.pitch, spec.text)
        lead = int(round(spec.lead_s * SAMPLE_RATE))
        clean = np.zeros(lead + speech.size + int(TRAIL_SILENCE_S * SAMPLE_RATE))
        clean[lead:lead + speech.size] = speech
        start, end = lead / SAMPLE_RATE, (lead + speech.size) / SAMPLE_RATE
    if spec.clip_s <= 0:
        mixed, room = apply_environment(clean, spec.noise, spec.snr_db, rng)
    samples = to_int16(mixed)
    write_wav(out_dir / spec.path, samples)
    mixed_speakers = "mixed"
    return {
        "clip_id": spec.clip_id,
        "path": spec.path,
        "label": spec.label,
        "phrase": spec.phrase,
        "kind": spec.kind,
        "text": spec.text,
        "split": "test",
        "speaker": spk.id if spk else mixed_speakers,
        "voice": spk.voice if spk else mixed_speakers,
        "accent": spk.accent.id if spk else mixed_speakers,
        "accent_group": spk.accent.accent_group if spk else mixed_speakers,
        "language": spk.accent.language if spk else mixed_speakers,
        "gender": spk.gender if spk else mixed_speakers,
        "rate": spk.rate if spk else None,
        "pitch": spk.pitch if spk else None,
        "noise": spec.noise,
        "snr_db": math.nan if spec.snr_db is None else float(spec.snr_db),
        "room": room.name if room else "none",
        "rt60_s": room.rt60_s if room else math.nan,
        "duration_s": samples.size / SAMPLE_RATE,
        "phrase_start_s": start,
        "phrase_end_s": end,
        "seed": seed,
    }


def render_job(specs: list[ClipSpec], seed: int, out_dir: str) -> list[dict]:
    """Render a batch of clips (one speaker's, or one stream) in order; the unit of parallel work."""
    return [render_clip(spec, seed, Path(out_dir)) for spec in specs]
