"""Which clips a corpus of a given size holds: a pure function of (size, seed)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from harness.core.errors import ConfigError
from harness.corpus.phrases import (
    CONFUSABLES,
    SENTENCE_LABEL,
    SENTENCES,
    STREAM_LABEL,
    WAKE_PHRASES,
    label_for,
)
from harness.corpus.vocabulary import KWS, SILENCE_LABEL, Vocabulary
from harness.corpus.voices import ACCENTS, NATIVE, Speaker, accent, make_speakers

ENVIRONMENTS: tuple[str, ...] = ("clean", "white", "pink", "babble", "tv", "reverb")
SNRS_DB: tuple[float, ...] = (20.0, 10.0, 5.0, 0.0)
LEAD_SILENCE_S = (0.5, 1.0)
TRAIL_SILENCE_S = 1.0

Condition = tuple[str, float | None]


@dataclass(frozen=True)
class SizeSpec:
    """The shape of one corpus size."""

    name: str
    summary: str
    accents: tuple[str, ...]
    speakers_per_accent: int
    wake_phrases: tuple[str, ...]
    confusables: tuple[str, ...]
    environments: tuple[str, ...]
    snrs_db: tuple[float, ...]
    every_speaker: bool          # each speaker says each phrase in each condition (else speakers rotate)
    snr_per_speaker: bool        # each speaker hears each noisy environment at one SNR, rotating over snrs_db
    confusable_noisy: int        # noisy conditions per confusable (besides clean), rotating
    sentences_per_speaker: int
    stream_environments: tuple[str, ...]
    stream_snrs_db: tuple[float, ...]
    stream_s: float
    vocabulary_accents: tuple[str, ...] | None = None  # for a user's words (default: the Latin-script accents)


_ALL = tuple(a.id for a in ACCENTS)
_NATIVE = tuple(a.id for a in ACCENTS if a.accent_group == NATIVE)

SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec(
        "tiny", "2 accents x 2 wake phrases x 3 environments, one 8 s stream: a few seconds, for tests",
        ("en-us", "ru"), 1, ("alexa", "hey jarvis"), ("hey travis",), ("clean", "babble", "reverb"), (10.0,),
        True, False, 0, 1, ("babble",), (10.0,), 8.0, ("en-us", "es")),
    "demo": SizeSpec(
        "demo", f"{len(_ALL)} accents x 5 speakers x 5 wake phrases x 6 environments (each speaker hears each "
        "noise at one of 20/10/5/0 dB, rotating), confusables, sentences, one 120 s stream per environment: "
        "30 positive clips from 5 speakers per accent and phrase; ~20 s to build on 2 cores",
        _ALL, 5, WAKE_PHRASES, CONFUSABLES, ENVIRONMENTS, SNRS_DB, True, True, 1, 1,
        ENVIRONMENTS, (5.0,), 120.0),
    "full": SizeSpec(
        "full", f"{len(_ALL)} accents x 4 speakers x 5 wake phrases x 6 environments x 4 SNRs, confusables "
        "in every environment, 240 s streams per environment and SNR: minutes, about 1 GB",
        _ALL, 4, WAKE_PHRASES, CONFUSABLES, ENVIRONMENTS, SNRS_DB, True, False, 5, 3, ENVIRONMENTS, SNRS_DB,
        240.0),
    "studio": SizeSpec(
        "studio", f"the training subset: {len(_NATIVE)} native-English accents x 8 speakers, clean and mild noise "
        "(white, pink, babble at 20 and 15 dB), every speaker in every condition, no streams",
        _NATIVE, 8, WAKE_PHRASES, CONFUSABLES, ("clean", "white", "pink", "babble"), (20.0, 15.0), True, False, 1,
        1, (), (), 0.0),
}
KWS_CLIP_S = 1.0  # Speech Commands' clip length, the MLPerf Tiny front end's window


@dataclass(frozen=True)
class ClipSpec:
    """One clip to render. ``speaker`` is None for streams (many talkers)."""

    clip_id: str
    kind: str
    label: str
    phrase: str
    text: str
    speaker: Speaker | None
    noise: str
    snr_db: float | None
    lead_s: float
    stream_s: float = 0.0
    clip_s: float = 0.0     # > 0: a fixed-length clip (KWS), the speech placed at ``position`` of the free time
    position: float = 0.0

    @property
    def path(self) -> str:
        return f"clips/{self.kind}/{self.clip_id}.wav"


def clip_seed(seed: int, clip_id: str) -> list[int]:
    """The entropy of one clip's random generator: independent of the order clips are rendered in."""
    return [seed, zlib.crc32(clip_id.encode())]


def conditions(environments: tuple[str, ...], snrs: tuple[float, ...]) -> list[Condition]:
    """clean once, every other environment at every SNR."""
    return [(env, None) if env == "clean" else (env, snr)
            for env in environments for snr in ((None,) if env == "clean" else snrs)]


def speaker_conditions(spec: SizeSpec, speaker_index: int) -> list[Condition]:
    """clean, then each noisy environment at the SNR this speaker's turn in the rotation gives it."""
    snrs = spec.snrs_db
    return [(env, None) if env == "clean" else (env, snrs[(speaker_index + j) % len(snrs)])
            for j, env in enumerate(spec.environments)]


def _condition_tag(cond: Condition) -> str:
    env, snr = cond
    return env if snr is None else f"{env}-{int(snr):02d}db"


def size_spec(size: str) -> SizeSpec:
    try:
        return SIZES[size]
    except KeyError:
        raise ConfigError(f"unknown corpus size '{size}'", hint=f"valid: {', '.join(SIZES)}") from None


def vocabulary_spec(spec: SizeSpec, vocab: Vocabulary) -> SizeSpec:
    """``spec`` for a user's words: its design, the vocabulary's phrases, accents that can read English spelling."""
    accents = spec.vocabulary_accents or tuple(a for a in spec.accents if accent(a).script == "latin")
    if vocab.kind == KWS:
        return replace(spec, accents=accents, wake_phrases=vocab.words, confusables=(), sentences_per_speaker=0,
                       stream_environments=(), stream_snrs_db=())
    return replace(spec, accents=accents, wake_phrases=vocab.words, confusables=vocab.others)


def plan_clips(size: str, seed: int, vocab: Vocabulary | None = None) -> list[ClipSpec]:
    """Every clip of a corpus, in manifest order: the built-in wake phrases, or ``vocab``'s words."""
    spec = size_spec(size)
    if vocab is not None:
        spec = vocabulary_spec(spec, vocab)
        if vocab.kind == KWS:
            return _plan_kws(spec, seed, vocab)
    return _plan_wake(spec, seed)


def training_speakers(seed: int, vocab: Vocabulary) -> frozenset[str]:
    """The speakers of the ``studio`` size (what a model of ``vocab`` is trained on) for ``seed``."""
    studio = vocabulary_spec(size_spec("studio"), vocab)
    return frozenset(c.speaker.id for c in _plan_kws(studio, seed, vocab) if c.speaker is not None)


def _plan_kws(spec: SizeSpec, seed: int, vocab: Vocabulary) -> list[ClipSpec]:
    """One-second clips: per speaker, each word in each of its conditions, then per condition one unknown word
    (rotating through ``vocab.others``) and one background-only clip, so both are as frequent as a word.

    Other sizes than ``studio`` never use a studio speaker of the same seed: a model trained on the studio
    corpus is evaluated on voices it has not heard, even in the accents it was trained on."""
    rng = np.random.default_rng([seed, 0x5eed])
    held_out = frozenset() if spec.name == "studio" else training_speakers(seed, vocab)
    conds = conditions(spec.environments, spec.snrs_db)
    clips: list[ClipSpec] = []
    rotation = 0

    def add(kind: str, label: str, phrase: str, text: str, spk: Speaker, cond: Condition, tag: str) -> None:
        clip_id = f"{kind[:3]}-{spk.id}-{tag}-{_condition_tag(cond)}"
        position = int(rng.integers(0, 1001)) / 1000
        clips.append(ClipSpec(clip_id, kind, label, phrase, text, spk, cond[0], cond[1], 0.0, 0.0, KWS_CLIP_S,
                              position))

    for a_index, accent_id in enumerate(spec.accents):
        acc = accent(accent_id)
        speakers = make_speakers(acc, spec.speakers_per_accent, rng, first_gender=a_index % 2, exclude=held_out)
        for s_index, spk in enumerate(speakers):
            spk_conds = speaker_conditions(spec, s_index) if spec.snr_per_speaker else conds
            for word in spec.wake_phrases:
                for cond in spk_conds:
                    add("positive", label_for(word), word, acc.say(word), spk, cond, label_for(word))
            for cond in spk_conds:
                other = vocab.others[rotation % len(vocab.others)] if vocab.others else None
                rotation += 1
                if other:
                    add("unknown", label_for(other), other, acc.say(other), spk, cond, label_for(other))
                add("silence", SILENCE_LABEL, "", "", spk, cond, "silence")
    return clips


def _plan_wake(spec: SizeSpec, seed: int) -> list[ClipSpec]:
    rng = np.random.default_rng([seed, 0x5eed])
    conds = conditions(spec.environments, spec.snrs_db)
    noisy = [c for c in conds if c[0] != "clean"]
    clips: list[ClipSpec] = []
    rotation = 0

    def lead() -> float:
        step = 0.01  # whole 10 ms frames, so the speech segment found from energy is the placed one
        return round(step * int(rng.integers(LEAD_SILENCE_S[0] / step, LEAD_SILENCE_S[1] / step + 1)), 2)

    def add(kind: str, label: str, phrase: str, text: str, spk: Speaker, cond: Condition, tag: str) -> None:
        clip_id = f"{kind[:3]}-{spk.id}-{tag}-{_condition_tag(cond)}"
        clips.append(ClipSpec(clip_id, kind, label, phrase, text, spk, cond[0], cond[1], lead()))

    for a_index, accent_id in enumerate(spec.accents):
        acc = accent(accent_id)
        speakers = make_speakers(acc, spec.speakers_per_accent, rng, first_gender=a_index % 2)
        for p_index, phrase in enumerate(spec.wake_phrases):
            if spec.snr_per_speaker:
                for s_index, spk in enumerate(speakers):
                    for cond in speaker_conditions(spec, s_index):
                        add("positive", label_for(phrase), phrase, acc.say(phrase), spk, cond, label_for(phrase))
                continue
            for c_index, cond in enumerate(conds):
                chosen = speakers if spec.every_speaker else [speakers[(p_index + c_index) % len(speakers)]]
                for spk in chosen:
                    add("positive", label_for(phrase), phrase, acc.say(phrase), spk, cond, label_for(phrase))
        for c_index, phrase in enumerate(spec.confusables):
            chosen = speakers if spec.every_speaker else [speakers[c_index % len(speakers)]]
            for spk in chosen:
                extra = [noisy[(rotation + k * len(spec.snrs_db)) % len(noisy)]
                         for k in range(spec.confusable_noisy)] if noisy else []
                rotation += 1
                label = label_for(phrase)
                for cond in [("clean", None), *extra]:
                    add("confusable", label, phrase, acc.say(phrase), spk, cond, label)
        pairs = acc.sentence_pairs()
        for s_index, spk in enumerate(speakers):
            for k in range(spec.sentences_per_speaker):
                gloss, text = pairs[(s_index * spec.sentences_per_speaker + k) % len(pairs)]
                cond = conds[rotation % len(conds)]
                rotation += 1
                add("sentence", SENTENCE_LABEL, gloss, text, spk, cond, f"s{SENTENCES.index(gloss)}")
    for cond in conditions(spec.stream_environments, spec.stream_snrs_db):
        clip_id = f"str-{_condition_tag(cond)}"
        clips.append(ClipSpec(clip_id, "stream", STREAM_LABEL, "", "", None, cond[0], cond[1], 0.5,
                              spec.stream_s))
    return clips

