"""What the synthetic corpus says: wake phrases, confusable phrases, ordinary sentences, and labels."""

from __future__ import annotations

import re

# The wake phrases the harness's models detect (microWakeWord / openWakeWord models).
WAKE_PHRASES: tuple[str, ...] = ("alexa", "hey jarvis", "hey mycroft", "okay nabu", "hey rhasspy")

# Near misses: other assistants' wake words and sound-alikes of the wake phrases.
CONFUSABLES: tuple[str, ...] = ("okay google", "hey siri", "hey travis", "my craft", "alexander")

# Ordinary speech. Non-Latin-script accents read translations of these (see voices.py).
SENTENCES: tuple[str, ...] = (
    "the weather is nice today",
    "please turn off the kitchen light",
    "what time does the train leave",
    "i left my keys on the table",
    "can you play some music",
    "we need more milk and bread",
)

SENTENCE_LABEL = "_sentence_"
STREAM_LABEL = "_stream_"

KINDS: tuple[str, ...] = ("positive", "confusable", "sentence", "stream", "unknown", "silence")


def label_for(phrase: str) -> str:
    """A phrase as a label: lower case, words joined by underscores (``hey jarvis`` -> ``hey_jarvis``)."""
    return "_".join(re.findall(r"[a-z0-9]+", phrase.lower()))
