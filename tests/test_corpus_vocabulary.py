"""Corpora for a user's words: `--phrases` (multi-class KWS, 1 s clips with unknown and silence) and `--keyword`
(one wake word with generated confusables), built, cached and evaluated end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.core.errors import ConfigError
from harness.corpus.audio import read_corpus_wav
from harness.corpus.plan import plan_clips
from harness.corpus.render import ROOM_TONE_SNR_DB, SPEECH_RMS_DBFS
from harness.corpus.synth import synthesize_corpus
from harness.corpus.vocabulary import (
    KWS12,
    KWS12_WORDS,
    UNKNOWN_WORDS,
    confusables_for,
    kws_vocabulary,
    wake_vocabulary,
)

_register()


def harness(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_confusables_are_the_documented_sound_alike_edits() -> None:
    assert confusables_for("hey lighthouse") == (
        "hey righthouse", "hey laythouse", "fey lighthouse", "hay lighthouse", "lighthouse")
    assert confusables_for("alexa") == ("elexa", "halexa", "alexe")
    assert wake_vocabulary("  Hey   LIGHTHOUSE ").words == ("hey lighthouse",)


def test_kws_vocabulary_takes_unknown_words_from_speech_commands_minus_its_own() -> None:
    vocab = kws_vocabulary(["yes", "Bed ", "cat"])
    assert vocab.words == ("yes", "bed", "cat")
    assert vocab.others == tuple(w for w in UNKNOWN_WORDS if w not in ("bed", "cat"))
    assert KWS12.words == KWS12_WORDS and KWS12.name == "kws12"


@pytest.mark.parametrize("phrases", [["yes", "yes"], ["hé"], [""], ["x" * 41]])
def test_bad_phrases_are_config_errors(phrases: list[str]) -> None:
    with pytest.raises(ConfigError):
        kws_vocabulary(phrases)


def test_kws_plan_has_every_word_per_speaker_and_condition_plus_one_unknown_and_one_silence() -> None:
    clips = plan_clips("tiny", 0, KWS12)
    accents = {c.speaker.accent.id for c in clips}
    assert accents == {"en-us", "es"}  # tiny's Latin-script accents for a user's words
    conditions = {(c.noise, c.snr_db) for c in clips}
    assert conditions == {("clean", None), ("babble", 10.0), ("reverb", 10.0)}
    kinds = pd.Series([c.kind for c in clips]).value_counts().to_dict()
    assert kinds == {"positive": 2 * 10 * 3, "unknown": 2 * 3, "silence": 2 * 3}
    assert {c.label for c in clips if c.kind == "silence"} == {"_silence_"}
    assert {c.label for c in clips if c.kind == "unknown"} == set(UNKNOWN_WORDS[:6])
    assert all(c.clip_s == 1.0 and 0.0 <= c.position <= 1.0 for c in clips)
    assert plan_clips("tiny", 0, KWS12) == clips and plan_clips("tiny", 1, KWS12) != clips


def test_kws_corpus_clips_are_one_second_with_the_word_inside_and_silence_at_its_level(tmp_path: Path) -> None:
    out = synthesize_corpus(tmp_path / "kws", size="tiny", seed=0, vocabulary=kws_vocabulary(["yes", "no"]))
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert len(manifest) == 2 * (2 * 3 + 3 + 3)
    assert (manifest["duration_s"] == 1.0).all()
    words = manifest[manifest["kind"] != "silence"]
    assert ((words["phrase_start_s"] >= 0) & (words["phrase_end_s"] <= 1.0)
            & (words["phrase_end_s"] - words["phrase_start_s"] > 0.15)).all()
    silent = manifest[(manifest["kind"] == "silence") & (manifest["noise"] == "clean")]
    for path in silent["path"]:
        x = read_corpus_wav(out / path).astype(np.float64) / 32767.0
        level = 20 * np.log10(np.sqrt(np.mean(np.square(x))))
        assert level == pytest.approx(SPEECH_RMS_DBFS - ROOM_TONE_SNR_DB, abs=0.5)
    info = json.loads((out / "corpus.json").read_text())
    assert info["name"] == "synthetic-kws2-yes-no-tiny"
    assert info["vocabulary"] == {"kind": "kws", "words": ["yes", "no"], "others": list(UNKNOWN_WORDS)}
    assert "unknown words (kind `unknown`" in (out / "datasheet.md").read_text()


def test_keyword_corpus_is_cached_and_rebuilt_for_another_keyword(tmp_path: Path) -> None:
    out = tmp_path / "wake"
    code, stdout, _ = harness("corpus", "synth", "--out", str(out), "--size", "tiny", "--keyword", "hey lighthouse")
    assert code == 0 and stdout.strip().endswith(str(out.resolve()))
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert set(manifest.loc[manifest["kind"] == "positive", "label"]) == {"hey_lighthouse"}
    assert set(manifest.loc[manifest["kind"] == "confusable", "phrase"]) == set(confusables_for("hey lighthouse"))
    stamp = (out / "manifest.parquet").stat().st_mtime_ns
    harness("corpus", "synth", "--out", str(out), "--size", "tiny", "--keyword", "hey lighthouse")
    assert (out / "manifest.parquet").stat().st_mtime_ns == stamp  # reused, verified
    harness("corpus", "synth", "--out", str(out), "--size", "tiny", "--keyword", "hey beacon")
    assert set(pd.read_parquet(out / "manifest.parquet").query("kind == 'positive'")["label"]) == {"hey_beacon"}


def test_phrases_option_builds_a_kws_corpus_of_those_words(tmp_path: Path) -> None:
    out = tmp_path / "kws"
    code, _, stderr = harness("corpus", "synth", "--out", str(out), "--size", "tiny", "--phrases", "Up, down")
    assert code == 0, stderr
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert set(manifest.loc[manifest["kind"] == "positive", "label"]) == {"up", "down"}
    assert json.loads((out / "corpus.json").read_text())["vocabulary"]["words"] == ["up", "down"]
    code, _, stderr = harness("corpus", "synth", "--out", str(tmp_path / "bad"), "--phrases", "up,up")
    assert code == 2 and "repeats a word" in stderr


def test_phrases_and_keyword_together_are_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["corpus", "synth", "--out", str(tmp_path / "x"), "--phrases", "yes",
                                      "--keyword", "hey you"])
    assert result.exit_code != 0 and "exclusive" in result.stderr


def test_keyword_corpus_evaluates_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's wake-word model (here microWakeWord's Hey Jarvis network standing in for one trained on the new
    phrase) is scored on the keyword corpus: its positives and confusables are counted per accent."""
    corpus = synthesize_corpus(tmp_path / "lighthouse", size="tiny", seed=0,
                               vocabulary=wake_vocabulary("hey lighthouse"))
    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "models" / "mww-hey-jarvis.yaml").read_text())
    entry = {**shipped, "name": "lighthouse-standin", "wake_phrase": "hey lighthouse"}
    (tmp_path / "my-models").mkdir()
    (tmp_path / "my-models" / "lighthouse-standin.yaml").write_text(yaml.safe_dump(entry))
    (tmp_path / "pyproject.toml").write_text('[tool.edge-harness]\nmodels = ["my-models"]\n')
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = harness("eval", "--model", "lighthouse-standin", "--corpus", str(corpus), "--workers", "1")
    assert code == 0, stderr
    run = Path(stdout.strip().splitlines()[-1])
    predictions = pd.read_parquet(run / "raw" / "predictions.parquet")
    manifest = pd.read_parquet(corpus / "manifest.parquet")
    assert len(predictions) == len(manifest)
    positive = predictions["label"] == "hey_lighthouse"
    assert (predictions["is_positive"] == positive).all() and positive.sum() == 6
    fairness = pd.read_csv(run / "fairness.csv")
    overall = fairness[(fairness["attribute"] == "overall") & (fairness["metric"] == "detection_rate")]
    assert overall["value"].iloc[0] == pytest.approx(predictions.loc[positive, "detected"].mean())
    groups = set(fairness.loc[fairness["attribute"] == "accent", "group"])
    assert groups == {"en-us", "es", "mixed"}  # the stream holds every accent
