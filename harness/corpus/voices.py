"""The accent table and synthetic speakers.

An accent is an espeak-ng voice reading English phrases. Native English accents are espeak-ng's English
voices. Non-native accents are other languages' voices: Latin-script languages read the English spelling
(so their own letter-to-sound rules apply); for other scripts the phrase is transliterated into the
voice's script (or pinyin), since an English spelling would make the voice switch to English rules or
spell letters. Every transliteration keeps the spoken duration within 0.5-2x of en-us (tested).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from harness.core.errors import ConfigError
from harness.corpus.phrases import CONFUSABLES, SENTENCES, WAKE_PHRASES

NATIVE = "native-english"
NON_NATIVE = "non-native"

MALE_VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
FEMALE_VARIANTS: tuple[str, ...] = ("f1", "f2", "f3", "f4")
RATE_RANGE_WPM = (140, 195)
PITCH_RANGE = (35, 65)


@dataclass(frozen=True)
class Accent:
    """One accent: an espeak-ng voice plus what it says for each English phrase."""

    id: str
    voice: str
    name: str
    language: str
    accent_group: str
    script: str = "latin"
    spoken: Mapping[str, str] = field(default_factory=dict, compare=False)
    sentences: tuple[str, ...] = ()

    def say(self, phrase: str) -> str:
        """The text this voice reads for an English phrase or sentence."""
        if phrase in self.spoken:
            return self.spoken[phrase]
        if self.script != "latin":
            raise ConfigError(f"accent '{self.id}' has no transliteration of {phrase!r}")
        return phrase

    def sentence_pairs(self) -> tuple[tuple[str, str], ...]:
        """(English gloss, text read) for the ordinary sentences this accent speaks."""
        if self.script == "latin":
            return tuple((s, s) for s in SENTENCES)
        return tuple(zip(SENTENCES, self.sentences, strict=False))


def _spoken(texts: tuple[str, ...]) -> dict[str, str]:
    phrases = WAKE_PHRASES + CONFUSABLES
    assert len(texts) == len(phrases)
    return dict(zip(phrases, texts, strict=True))


# Order of transliterations: alexa, hey jarvis, hey mycroft, okay nabu, hey rhasspy,
# then okay google, hey siri, hey travis, my craft, alexander.
ACCENTS: tuple[Accent, ...] = (
    Accent("en-us", "en-us", "English (America)", "en", NATIVE),
    Accent("en-gb", "en", "English (Great Britain)", "en", NATIVE),
    Accent("en-gb-scotland", "en-gb-scotland", "English (Scotland)", "en", NATIVE),
    Accent("en-gb-x-rp", "en-gb-x-rp", "English (Received Pronunciation)", "en", NATIVE),
    Accent("en-gb-x-gbclan", "en-gb-x-gbclan", "English (Lancaster)", "en", NATIVE),
    Accent("en-gb-x-gbcwmd", "en-gb-x-gbcwmd", "English (West Midlands)", "en", NATIVE),
    Accent("en-029", "en-029", "English (Caribbean)", "en", NATIVE),
    Accent("en-us-nyc", "en-us-nyc", "English (New York City)", "en", NATIVE),
    Accent("es", "es", "Spanish", "es", NON_NATIVE),
    Accent("fr", "fr", "French", "fr", NON_NATIVE),
    Accent("de", "de", "German", "de", NON_NATIVE),
    Accent("it", "it", "Italian", "it", NON_NATIVE),
    Accent("pt-br", "pt-br", "Portuguese (Brazil)", "pt", NON_NATIVE),
    Accent("nl", "nl", "Dutch", "nl", NON_NATIVE),
    Accent("pl", "pl", "Polish", "pl", NON_NATIVE),
    Accent("tr", "tr", "Turkish", "tr", NON_NATIVE),
    Accent("id", "id", "Indonesian", "id", NON_NATIVE),
    # The Vietnamese voice spells "okay" and "google" letter by letter; Vietnamese spelling fixes that.
    Accent("vi", "vi", "Vietnamese", "vi", NON_NATIVE,
           spoken={"okay nabu": "ô kê na bu", "okay google": "ô kê gu gồ"}),
    Accent("ru", "ru", "Russian", "ru", NON_NATIVE, "cyrillic", _spoken((
        "алекса", "хэй джарвис", "хэй майкрофт", "окей набу", "хэй расспи",
        "окей гугл", "хэй сири", "хэй трэвис", "май крафт", "александер")),
        ("сегодня хорошая погода", "выключи, пожалуйста, свет на кухне", "во сколько уходит поезд")),
    Accent("el", "el", "Greek", "el", NON_NATIVE, "greek", _spoken((
        "αλέξα", "χέι τζάρβις", "χέι μάικροφτ", "οκέι νάμπου", "χέι ράσπι",
        "οκέι γκούγκλ", "χέι σίρι", "χέι τράβις", "μάι κραφτ", "αλεξάντερ")),
        ("ο καιρός είναι ωραίος σήμερα", "σβήσε το φως στην κουζίνα, σε παρακαλώ",
         "τι ώρα φεύγει το τρένο")),
    Accent("hi", "hi", "Hindi", "hi", NON_NATIVE, "devanagari", _spoken((
        "अलेक्सा", "हे जार्विस", "हे माइक्रोफ़्ट", "ओके नाबू", "हे रैस्पी",
        "ओके गूगल", "हे सिरी", "हे ट्रैविस", "माइ क्राफ़्ट", "अलेक्ज़ेंडर")),
        ("आज मौसम अच्छा है", "कृपया रसोई की बत्ती बंद कर दो", "ट्रेन कितने बजे जाती है")),
    Accent("ja", "ja", "Japanese", "ja", NON_NATIVE, "kana", _spoken((
        "アレクサ", "ヘイ ジャービス", "ヘイ マイクロフト", "オーケー ナブ", "ヘイ ラスピー",
        "オーケー グーグル", "ヘイ シリ", "ヘイ トラビス", "マイ クラフト", "アレクサンダー")),
        ("きょうは いい てんきです", "だいどころの でんきを けしてください", "でんしゃは なんじに でますか")),
    Accent("ko", "ko", "Korean", "ko", NON_NATIVE, "hangul", _spoken((
        "알렉사", "헤이 자비스", "헤이 마이크로프트", "오케이 나부", "헤이 라스피",
        "오케이 구글", "헤이 시리", "헤이 트래비스", "마이 크래프트", "알렉산더")),
        ("오늘 날씨가 좋아요", "부엌 불 좀 꺼 주세요", "기차는 몇 시에 떠나요")),
    Accent("ar", "ar", "Arabic", "ar", NON_NATIVE, "arabic", _spoken((
        "أليكسا", "هاي جارفيس", "هاي مايكروفت", "أوكي نابو", "هاي راسبي",
        "أوكي جوجل", "هاي سيري", "هاي ترافيس", "ماي كرافت", "ألكساندر")),
        ("الطقس جميل اليوم", "من فضلك أطفئ ضوء المطبخ", "متى يغادر القطار")),
    Accent("cmn", "cmn-latn-pinyin", "Mandarin Chinese", "cmn", NON_NATIVE, "pinyin", _spoken((
        "a1 lei4 ke4 sa4", "hei1 jia3 wei2 si1", "hei1 mai4 ke4 luo2 fu1 te4", "ou1 kei4 na4 bu4",
        "hei1 la1 si1 pi2", "ou1 kei4 gu3 ge1", "hei1 xi1 li4", "hei1 te4 la1 wei2 si1",
        "mai3 ke4 la1 fu1 te4", "a1 lei4 ke4 san1 de2")),
        ("jin1 tian1 tian1 qi4 hen3 hao3", "qing3 ba3 chu2 fang2 de5 deng1 guan1 diao4",
         "huo3 che1 ji3 dian3 kai1")),
)

_BY_ID = {a.id: a for a in ACCENTS}


def accent(accent_id: str) -> Accent:
    """Look an accent up by id."""
    try:
        return _BY_ID[accent_id]
    except KeyError:
        raise ConfigError(f"unknown accent '{accent_id}'", hint=f"valid: {', '.join(_BY_ID)}") from None


def gender_of(variant: str) -> str:
    """The gender an espeak-ng variant models: ``m3`` -> male, ``f2`` -> female."""
    return {"m": "male", "f": "female"}.get(variant[:1], "unknown")


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: accent voice + variant + speaking rate (wpm) + pitch (0-99)."""

    accent: Accent
    variant: str
    rate: int
    pitch: int

    @property
    def id(self) -> str:
        return f"{self.accent.id}-{self.variant}-r{self.rate}-p{self.pitch}"

    @property
    def gender(self) -> str:
        return gender_of(self.variant)

    @property
    def voice(self) -> str:
        return f"{self.accent.voice}+{self.variant}"


def make_speakers(acc: Accent, n: int, rng: np.random.Generator, *, first_gender: int = 0,
                  exclude: frozenset[str] = frozenset()) -> list[Speaker]:
    """``n`` distinct speakers of one accent, genders alternating from ``first_gender`` (0 male, 1 female);
    a speaker whose id is in ``exclude`` is drawn again (another rate and pitch)."""
    if n > 2 * len(FEMALE_VARIANTS):
        raise ConfigError(f"at most {2 * len(FEMALE_VARIANTS)} distinct speakers per accent, asked for {n}")
    pools = [list(MALE_VARIANTS), list(FEMALE_VARIANTS)]
    speakers = []
    for i in range(n):
        pool = pools[(first_gender + i) % 2]
        variant = pool.pop(int(rng.integers(len(pool))))
        while True:
            rate = int(rng.integers(RATE_RANGE_WPM[0], RATE_RANGE_WPM[1] + 1))
            pitch = int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1))
            speaker = Speaker(acc, variant, rate, pitch)
            if speaker.id not in exclude:
                break
        speakers.append(speaker)
    return speakers
