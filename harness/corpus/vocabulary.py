"""What a corpus for a user's own words says: a multi-class KWS vocabulary or one wake word with near misses.

A KWS vocabulary (``--phrases yes,no,up``) gives Speech Commands-style one-second clips: each word
(kind ``positive``), words outside the vocabulary (kind ``unknown``, counted as ``_unknown_``) and
background-only clips (kind ``silence``, label ``_silence_``). The built-in one is the MLPerf Tiny
12-class set. A wake word (``--keyword "hey lighthouse"``) gives the wake-word layout of the built-in
corpus, with confusables generated from the phrase by :func:`confusables_for`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.core.errors import ConfigError

KWS = "kws"
WAKE_WORD = "wake_word"
SILENCE_LABEL = "_silence_"
UNKNOWN_LABEL = "_unknown_"

# MLPerf Tiny KWS (Speech Commands v2, 12 classes): ten words, then silence and unknown.
KWS12_WORDS: tuple[str, ...] = ("down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes")
KWS12_LABELS: tuple[str, ...] = (*KWS12_WORDS, SILENCE_LABEL, UNKNOWN_LABEL)
# Speech Commands v2's other words: what the unknown class is made of.
UNKNOWN_WORDS: tuple[str, ...] = (
    "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward", "four", "happy", "house",
    "learn", "marvin", "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "visual", "wow", "zero",
)  # fmt: skip
N_CONFUSABLES = 5
_PHRASE = re.compile(r"^[a-z][a-z' ]*[a-z]$|^[a-z]$")


@dataclass(frozen=True)
class Vocabulary:
    """The words a corpus is built for. ``others`` are unknown words (kws) or confusables (wake word)."""

    kind: str
    words: tuple[str, ...]
    others: tuple[str, ...]

    @property
    def name(self) -> str:
        if self.kind == KWS:
            return "kws12" if self.words == KWS12_WORDS else f"kws{len(self.words)}-" + "-".join(self.words)
        return "wake-" + "-".join(self.words[0].split())

    def as_json(self) -> dict:
        """What corpus.json records (and the cache compares)."""
        return {"kind": self.kind, "words": list(self.words), "others": list(self.others)}


def normalise_phrase(phrase: str, where: str) -> str:
    """Lower case, single spaces; ConfigError unless it is English letters, spaces and apostrophes."""
    text = " ".join(phrase.lower().split())
    if not _PHRASE.match(text) or len(text) > 40:
        raise ConfigError(f"{where}: {phrase!r} is not a phrase the synthesiser can read",
                          hint="use English letters, spaces and apostrophes, 1-40 characters (e.g. 'hey lighthouse')")
    return text


def kws_vocabulary(phrases: list[str] | tuple[str, ...]) -> Vocabulary:
    """A multi-class vocabulary; the unknown class gets Speech Commands' other words not in it."""
    words = tuple(normalise_phrase(p, "--phrases") for p in phrases if p.strip())
    if not words:
        raise ConfigError("--phrases names no word", hint="e.g. --phrases yes,no,up,down")
    if len(set(words)) != len(words):
        raise ConfigError(f"--phrases repeats a word: {', '.join(words)}", hint="name each word once")
    return Vocabulary(KWS, words, tuple(w for w in UNKNOWN_WORDS if w not in words))


KWS12 = kws_vocabulary(KWS12_WORDS)


def wake_vocabulary(keyword: str) -> Vocabulary:
    """One wake phrase and :data:`N_CONFUSABLES` generated near misses."""
    phrase = normalise_phrase(keyword, "--keyword")
    return Vocabulary(WAKE_WORD, (phrase,), confusables_for(phrase))


# Sound-alike substitutions, tried in this order. Onsets: a consonant swapped for one differing in one
# feature (voicing, place or manner: l/r, h/f, p/b, ...). Vowel letters: a neighbouring vowel spelling.
_ONSETS: dict[str, tuple[str, ...]] = {
    "b": ("p", "d"), "c": ("g", "t"), "ch": ("sh", "j"), "d": ("t", "b"), "f": ("v", "th"), "g": ("k", "d"),
    "h": ("f", "p"), "j": ("ch", "y"), "k": ("g", "t"), "l": ("r", "w"), "m": ("n", "b"), "n": ("m", "d"),
    "p": ("b", "t"), "q": ("k",), "r": ("l", "w"), "s": ("sh", "z"), "sh": ("s", "ch"), "t": ("d", "k"),
    "th": ("f", "s"), "v": ("f", "b"), "w": ("r", "v"), "y": ("j", "l"), "z": ("s", "j"),
}  # fmt: skip
_VOWELS: dict[str, str] = {"ey": "ay", "ay": "ey", "igh": "ay", "ou": "ow", "ow": "oo", "ee": "i", "ea": "ai",
                           "oo": "oh", "a": "e", "e": "i", "i": "e", "o": "u", "u": "o"}  # fmt: skip


def _onset(word: str) -> str:
    for n in (2, 1):
        if word[:n] in _ONSETS:
            return word[:n]
    return ""


def _vowel_edit(word: str) -> str | None:
    for spelling in sorted(_VOWELS, key=len, reverse=True):
        at = word.find(spelling)
        if at >= 0:
            return word[:at] + _VOWELS[spelling] + word[at + len(spelling):]
    return None


def _last_vowel_edit(word: str) -> str | None:
    at = max(word.rfind(v) for v in "aeiou")
    return word[:at] + _VOWELS[word[at]] + word[at + 1:] if at > 0 else None


def confusables_for(phrase: str, n: int = N_CONFUSABLES) -> tuple[str, ...]:
    """Up to ``n`` phonetically close edits of ``phrase``, deterministic (no randomness, no lexicon).

    Candidates, in order, taking the words from the last (the most distinctive) to the first: (1) the
    onset consonant swapped for a one-feature neighbour (``lighthouse`` -> ``righthouse``, ``hey`` ->
    ``fey``), then the first vowel spelling swapped for a neighbouring one (``laythouse``, ``hay``), or
    for a word starting with a vowel an ``h`` put before it (``alexa`` -> ``halexa``); (2) the phrase
    without its first word (``lighthouse``), a truncated utterance; (3) each word's second onset
    neighbour and its last vowel swapped (``alexa`` -> ``alexe``). Candidates equal to the phrase or
    to an earlier one are skipped. The edits are spellings read by the synthesiser's letter-to-sound
    rules, so each sounds about one phoneme away from the phrase, as a near miss should.
    """
    words = phrase.split()
    order = list(range(len(words)))[::-1]
    candidates: list[str] = []

    def swap(i: int, new: str) -> None:
        candidates.append(" ".join([*words[:i], new, *words[i + 1:]]))

    for i in order:
        onset = _onset(words[i])
        if onset:
            swap(i, _ONSETS[onset][0] + words[i][len(onset):])
        vowel = _vowel_edit(words[i])
        if vowel:
            swap(i, vowel)
        if not onset:
            swap(i, "h" + words[i])
    if len(words) > 1:
        candidates.append(" ".join(words[1:]))
    for i in order:
        onset = _onset(words[i])
        if onset and len(_ONSETS[onset]) > 1:
            swap(i, _ONSETS[onset][1] + words[i][len(onset):])
        last = _last_vowel_edit(words[i])
        if last:
            swap(i, last)
    out: list[str] = []
    for c in candidates:
        if c != phrase and c not in out:
            out.append(c)
    return tuple(out[:n])
