"""The corpus datasheet: provenance, generation parameters, composition (from the manifest), limits."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pandas as pd

from harness.corpus.noise import ROOMS, SEGMENT_FLOOR_DB
from harness.corpus.plan import KWS_CLIP_S, LEAD_SILENCE_S, TRAIL_SILENCE_S, SizeSpec
from harness.corpus.render import ROOM_TONE_SNR_DB, SPEECH_RMS_DBFS
from harness.corpus.vocabulary import SILENCE_LABEL, UNKNOWN_LABEL, WAKE_WORD, Vocabulary
from harness.corpus.voices import ACCENTS


def md_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table (index included when it is named)."""
    if frame.index.name is not None or any(frame.index.names):
        frame = frame.reset_index()
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:g}"
    return str(value)


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def _composition(manifest: pd.DataFrame) -> list[str]:
    m = manifest.assign(hours=manifest["duration_s"] / 3600.0)
    by_kind = m.groupby("kind").agg(clips=("clip_id", "size"), hours=("hours", "sum"),
                                   speakers=("speaker", "nunique"))
    by_kind["hours"] = by_kind["hours"].round(3)
    clips = m[m["kind"] != "stream"]
    by_accent = pd.crosstab(clips["accent"], clips["kind"])
    by_accent["speakers"] = clips.groupby("accent")["speaker"].nunique()
    by_accent = by_accent.loc[[a.id for a in ACCENTS if a.id in by_accent.index]]
    by_accent.index.name = "accent"
    snr = m["snr_db"].map(lambda v: "-" if pd.isna(v) else f"{v:g}")
    by_noise = pd.crosstab(m["noise"], snr.rename("snr_db"))
    by_noise.index.name = "noise"
    by_group = pd.crosstab([clips["accent_group"], clips["gender"]], clips["kind"])
    reverb = m[m["noise"] == "reverb"]
    by_room = reverb.groupby("room").agg(clips=("clip_id", "size"), rt60_s=("rt60_s", "first"))
    negative_h = m.loc[m["kind"] != "positive", "hours"].sum()
    return [
        "## Composition (computed from manifest.parquet)",
        "",
        f"{len(m)} clips, {m['hours'].sum():.3f} h of audio; {negative_h:.3f} h contain no wake phrase "
        "(confusable, sentence and stream clips: the denominator of false accepts per hour).",
        "",
        "### By kind", "", md_table(by_kind), "",
        "### By accent (clips per kind, streams excluded)", "", md_table(by_accent), "",
        "### By accent group and gender (streams excluded)", "", md_table(by_group), "",
        "### By noise environment and SNR (dB)", "", md_table(by_noise), "",
        "### Rooms (reverb environment)", "", md_table(by_room) if len(by_room) else "(none)", "",
    ]


def _voices_table(spec: SizeSpec, vocab: Vocabulary | None) -> str:
    phrase = vocab.words[0] if vocab else "hey jarvis"
    rows = [{"accent": a.id, "espeak-ng voice": a.voice, "name": a.name, "accent_group": a.accent_group,
             "script": a.script, f"'{phrase}' is read as": a.say(phrase)}
            for a in ACCENTS if a.id in spec.accents]
    return md_table(pd.DataFrame(rows))


def _vocabulary_lines(spec: SizeSpec, vocab: Vocabulary | None) -> list[str]:
    if vocab is None:
        return [f"- wake phrases (kind `positive`): {', '.join(spec.wake_phrases)}",
                f"- confusable phrases (kind `confusable`): {', '.join(spec.confusables) or '-'}"]
    if vocab.kind == WAKE_WORD:
        return [f"- wake word (kind `positive`): {vocab.words[0]} (a user's keyword, `--keyword`)",
                f"- confusable phrases (kind `confusable`): {', '.join(vocab.others)}, generated from the keyword "
                "by sound-alike spelling edits (one onset consonant or vowel changed, or the first word dropped; "
                "`harness.corpus.vocabulary.confusables_for`)",
                f"- accents: the {len(spec.accents)} whose voices read English spelling (Latin script); other "
                "scripts would need a transliteration of the keyword"]
    return [f"- words (kind `positive`, label = the word): {', '.join(vocab.words)}",
            f"- unknown words (kind `unknown`, label = the word, scored as `{UNKNOWN_LABEL}`): one per speaker "
            f"and condition, rotating through {', '.join(vocab.others)}",
            f"- silence (kind `silence`, label `{SILENCE_LABEL}`): one per speaker and condition, the environment "
            f"with nobody speaking at its level under speech (clean: white room tone {ROOM_TONE_SNR_DB:g} dB "
            "below the speech level)",
            f"- clip layout: exactly {KWS_CLIP_S:g} s, the word at a uniformly drawn position of the free time; "
            "`phrase_start_s`/`phrase_end_s` give the word",
            f"- accents: the {len(spec.accents)} whose voices read English spelling (Latin script)"]


def render_datasheet(manifest: pd.DataFrame, info: dict, spec: SizeSpec, vocab: Vocabulary | None = None) -> str:
    """The datasheet markdown for a built corpus."""
    snrs = ", ".join(f"{s:g}" for s in spec.snrs_db)
    rooms = ", ".join(f"{r.name} (RT60 {r.rt60_s:g} s, DRR {r.drr_db:+g} dB)" for r in ROOMS)
    lines = [
        f"# Datasheet: {info['name']}",
        "",
        "A synthetic keyword-spotting test corpus generated offline by `harness corpus synth`.",
        "",
        "## Provenance",
        "",
        f"- size `{info['size']}` ({spec.summary}); seed {info['seed']}; {info['n_clips']} clips",
        f"- content sha256 `{info['content_sha256']}` (manifest rows and every WAV; see corpus.json)",
        f"- speech: espeak-ng {info['espeak_ng_version']} from espeakng-loader "
        f"{_package_version('espeakng-loader')}; harness {info['harness_version']}, "
        f"generator version {info['generator_version']}",
        "- audio: espeak-ng's 22,050 Hz int16 output, trimmed to its speech segment, resampled to 16 kHz "
        "(scipy resample_poly 320/441, rounded, no dither), 16-bit mono WAV",
        "",
        "## Generation parameters",
        "",
        *_vocabulary_lines(spec, vocab),
        f"- speakers: {spec.speakers_per_accent} per accent (espeak-ng variant m1-m7 or f1-f4, gender from "
        "the variant; rate 140-195 wpm; pitch 35-65), drawn from the seed",
        *([f"- clip layout: {LEAD_SILENCE_S[0]:g}-{LEAD_SILENCE_S[1]:g} s silence (whole 10 ms steps), the "
           f"phrase, {TRAIL_SILENCE_S:g} s silence; `phrase_start_s`/`phrase_end_s` give the phrase"]
          if vocab is None or vocab.kind == WAKE_WORD else []),
        f"- speech level: {SPEECH_RMS_DBFS:g} dBFS RMS over the speech segment; a mixture that would clip is "
        "scaled down as a whole (SNR unchanged)",
        f"- environments: {', '.join(spec.environments)}; SNRs {snrs} dB for clips; streams "
        f"{', '.join(spec.stream_environments) or 'none'} at "
        f"{', '.join(f'{s:g}' for s in spec.stream_snrs_db) or '-'} dB, {spec.stream_s:g} s each",
        "- SNR = 10 log10(speech power / noise power), both over the speech segment only: the first to last "
        f"10 ms frame of the clean signal within {-SEGMENT_FLOOR_DB:g} dB of its loudest frame",
        "- noise: white (Gaussian), pink (1/f by FFT shaping), babble (6 of 8 synthetic talkers), tv (one "
        "talker plus chord music 3 dB below, band-limited 200-5000 Hz), reverb (synthetic room impulse "
        f"response, then pink noise at the SNR); rooms: {rooms}",
        "- randomness: one numpy Generator per clip, seeded from (seed, crc32(clip_id))",
        "",
        "## Voices",
        "",
        _voices_table(spec, vocab),
        "",
        "Non-Latin-script voices read transliterations (docs/corpus.md lists them all) and, as ordinary "
        "sentences, translations of the English sentences into their own language.",
        "",
        *_composition(manifest),
        "## Known limits",
        "",
        "- Synthetic speech is a reproducible stand-in for accents, not a claim about real speaker "
        "populations: an espeak-ng voice reading English is a formant synthesiser applying one language's "
        "letter-to-sound rules, not a recording of a person. A gap between groups here shows that a model is "
        "sensitive to that kind of variation; it does not measure how the model treats real people.",
        "- Few distinct voices: every speaker of an accent shares one espeak-ng voice; speakers differ by "
        "variant, rate and pitch only. Treat speakers, not clips, as the unit of sampling.",
        "- Noise, rooms and TV are synthetic; no real recordings. Streams mix every accent.",
        "- Reports must name the corpus (name, size, seed, content sha256) that produced a number.",
        "",
    ]
    return "\n".join(lines)
