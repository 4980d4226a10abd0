"""The built-in synthetic corpus: espeak-ng speech, noise environments, SNR mixing, determinism, CLI."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.signal import welch

from harness.core.errors import DataError
from harness.corpus import noise
from harness.corpus.espeak import SAMPLE_RATE, synthesize, synthesize_native, to_16k
from harness.corpus.phrases import CONFUSABLES, WAKE_PHRASES, label_for
from harness.corpus.synth import synthesize_corpus
from harness.corpus.voices import ACCENTS, accent

MANIFEST_COLUMNS = {
    "clip_id", "path", "label", "phrase", "kind", "split", "speaker", "accent", "accent_group", "language",
    "gender", "rate", "pitch", "noise", "snr_db", "room", "duration_s", "phrase_start_s", "phrase_end_s",
    "seed",
}


def _speech_seconds(x: np.ndarray) -> float:
    loud = np.flatnonzero(np.abs(x.astype(np.float64)) > 300)
    return (loud[-1] - loud[0]) / SAMPLE_RATE


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))


# --- speech -------------------------------------------------------------------------------------

def test_en_us_speech_is_non_silent_16k_int16():
    x = synthesize("hey jarvis", "en-us")
    assert x.dtype == np.int16
    assert 0.4 < x.size / SAMPLE_RATE < 2.0
    assert _rms(x) > 500


def test_resampling_is_22050_to_16000():
    native = synthesize_native("alexa", "en-us")
    assert to_16k(native).size == -(-native.size * 320 // 441)


def test_transliterated_voice_speaks_russian_script():
    x = synthesize(accent("ru").say("hey jarvis"), "ru", variant="f2")
    assert x.dtype == np.int16 and _rms(x) > 500
    assert 0.4 < _speech_seconds(x) < 1.5


def test_every_accent_says_every_phrase_in_plausible_time():
    """A voice spelling letters takes ~3x longer than en-us (Japanese reading Latin text does)."""
    english = {p: _speech_seconds(synthesize(p, "en-us")) for p in WAKE_PHRASES + CONFUSABLES}
    assert _speech_seconds(synthesize("hey jarvis", "ja")) > 2.0 * english["hey jarvis"]
    for acc in ACCENTS:
        for phrase, seconds in english.items():
            ratio = _speech_seconds(synthesize(acc.say(phrase), acc.voice)) / seconds
            assert 0.5 < ratio < 2.0, (acc.id, phrase, ratio)


def test_synthesis_does_not_depend_on_what_was_said_before():
    first = synthesize("hey mycroft", "en-gb-x-rp", variant="f3", rate=160, pitch=60)
    synthesize("the weather is nice today", "fr", variant="m2", rate=190, pitch=30)
    assert np.array_equal(first, synthesize("hey mycroft", "en-gb-x-rp", variant="f3", rate=160, pitch=60))


def test_unknown_voice_and_variant_are_data_errors():
    with pytest.raises(DataError, match="voice 'xx-nowhere'"):
        synthesize("alexa", "xx-nowhere")
    with pytest.raises(DataError, match="variant 'm99'"):
        synthesize("alexa", "en-us", variant="m99")


def test_labels_are_normalised_phrases():
    assert label_for("hey jarvis") == "hey_jarvis"
    assert label_for("Okay  Nabu!") == "okay_nabu"


# --- noise --------------------------------------------------------------------------------------

def _padded_speech(rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    clean = np.zeros(3 * SAMPLE_RATE)
    start, end = 8000, 32000  # whole 10 ms frames
    t = np.arange(end - start) / SAMPLE_RATE
    clean[start:end] = 0.1 * np.sin(2 * np.pi * 220 * t) * (1.2 + np.sin(2 * np.pi * 3 * t))
    return clean, start, end


def _talkers(rng: np.random.Generator) -> list[np.ndarray]:
    gate = np.arange(SAMPLE_RATE * 2) % 8000 < 5000  # talk 5000 samples, pause 3000
    return [rng.standard_normal(SAMPLE_RATE * 2) * gate for _ in range(8)]


@pytest.mark.parametrize("env", ["white", "pink", "babble", "tv"])
@pytest.mark.parametrize("target", [20.0, 10.0, 5.0, 0.0])
def test_mix_hits_target_snr_over_the_speech_segment(env, target):
    rng = np.random.default_rng(7)
    clean, start, end = _padded_speech(rng)
    n = clean.size
    source = {"white": lambda: noise.white(n, rng), "pink": lambda: noise.pink(n, rng),
              "babble": lambda: noise.babble(n, rng, _talkers(rng)),
              "tv": lambda: noise.tv(n, rng, _talkers(rng), SAMPLE_RATE)}[env]()
    mixture = noise.mix_at_snr(clean, source, target)
    added = mixture - clean
    achieved = 10 * np.log10(np.sum(clean[start:end] ** 2) / np.sum(added[start:end] ** 2))
    assert abs(achieved - target) < 0.01
    assert np.allclose(added, added[start] / source[start] * source)  # noise only scaled, never reshaped


def test_speech_segment_ignores_padding():
    clean, start, end = _padded_speech(np.random.default_rng(0))
    assert noise.speech_segment(clean, SAMPLE_RATE) == (start, end)
    with pytest.raises(DataError, match="silent"):
        noise.speech_segment(np.zeros(1600), SAMPLE_RATE)


def _log_slope(x: np.ndarray) -> float:
    freqs, power = welch(x, fs=SAMPLE_RATE, nperseg=4096)
    keep = (freqs >= 50) & (freqs <= 7000)
    return float(np.polyfit(np.log10(freqs[keep]), np.log10(power[keep]), 1)[0])


def test_pink_noise_falls_one_decade_per_decade():
    assert _log_slope(noise.pink(2**18, np.random.default_rng(3))) == pytest.approx(-1.0, abs=0.08)
    assert _log_slope(noise.white(2**18, np.random.default_rng(3))) == pytest.approx(0.0, abs=0.05)


@pytest.mark.parametrize("room", noise.ROOMS, ids=lambda r: r.name)
def test_room_impulse_response_has_its_rt60(room):
    rir = noise.room_impulse_response(room, SAMPLE_RATE, np.random.default_rng(5))
    edc = np.cumsum(rir[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    fit = (edc_db <= -5) & (edc_db >= -25)
    slope_db_per_s = np.polyfit(np.flatnonzero(fit) / SAMPLE_RATE, edc_db[fit], 1)[0]
    assert -60 / slope_db_per_s == pytest.approx(room.rt60_s, rel=0.1)


def test_noise_is_a_function_of_the_generator_state():
    a = noise.pink(5000, np.random.default_rng(11))
    assert np.array_equal(a, noise.pink(5000, np.random.default_rng(11)))
    assert not np.array_equal(a, noise.pink(5000, np.random.default_rng(12)))


# --- corpus -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return synthesize_corpus(tmp_path_factory.mktemp("corpus") / "tiny", "tiny", seed=0)


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_manifest_follows_the_corpus_contract(tiny):
    m = pd.read_parquet(tiny / "manifest.parquet")
    assert MANIFEST_COLUMNS <= set(m.columns)
    assert m["clip_id"].is_unique
    assert set(m["kind"]) == {"positive", "confusable", "sentence", "stream"}
    assert set(m["split"]) == {"test"}
    assert m["snr_db"].isna().tolist() == (m["noise"] == "clean").tolist()
    phrases = m[m["kind"].isin(["positive", "confusable"])]
    assert (phrases["label"] == phrases["phrase"].map(label_for)).all()
    assert set(m.loc[m["kind"] == "sentence", "label"]) == {"_sentence_"}
    assert set(m.loc[m["kind"] == "stream", "label"]) == {"_stream_"}
    assert set(m.loc[m["kind"] == "positive", "phrase"]) <= set(WAKE_PHRASES)
    for row in m.itertuples():
        assert not Path(row.path).is_absolute() and row.path.startswith("clips/")
        samples = _read_wav(tiny / row.path)
        assert samples.size == round(row.duration_s * SAMPLE_RATE)
        if row.kind != "stream":
            assert 0.5 <= row.phrase_start_s <= 1.0
            assert row.duration_s - row.phrase_end_s == pytest.approx(1.0)


def test_clean_clips_are_silent_outside_the_phrase(tiny):
    m = pd.read_parquet(tiny / "manifest.parquet")
    for row in m[(m["noise"] == "clean") & (m["kind"] != "stream")].itertuples():
        samples = _read_wav(tiny / row.path)
        start, end = round(row.phrase_start_s * SAMPLE_RATE), round(row.phrase_end_s * SAMPLE_RATE)
        assert not samples[:start].any() and not samples[end:].any()
        assert samples[start:start + 160].any() and _rms(samples[start:end]) > 500


def test_same_seed_gives_the_same_bytes(tiny, tmp_path):
    again = synthesize_corpus(tmp_path / "again", "tiny", seed=0, workers=2)
    info, info_again = (json.loads((d / "corpus.json").read_text()) for d in (tiny, again))
    assert info["content_sha256"] == info_again["content_sha256"]
    m = pd.read_parquet(tiny / "manifest.parquet")
    for rel in list(m["path"].iloc[::5]) + ["manifest.parquet", "datasheet.md", "corpus.json"]:
        assert (tiny / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = synthesize_corpus(tmp_path / "other", "tiny", seed=1)
    assert json.loads((other / "corpus.json").read_text())["content_sha256"] != info["content_sha256"]


def test_corpus_json_and_cache(tiny):
    info = json.loads((tiny / "corpus.json").read_text())
    m = pd.read_parquet(tiny / "manifest.parquet")
    assert (info["size"], info["seed"], info["n_clips"]) == ("tiny", 0, len(m))
    assert {"name", "harness_version", "content_sha256"} <= set(info)
    stamp = (tiny / "manifest.parquet").stat().st_mtime_ns
    assert synthesize_corpus(tiny, "tiny", seed=0) == tiny
    assert (tiny / "manifest.parquet").stat().st_mtime_ns == stamp


def test_datasheet_lists_every_accent_and_group(tiny):
    sheet = (tiny / "datasheet.md").read_text()
    m = pd.read_parquet(tiny / "manifest.parquet")
    for acc in set(m.loc[m["kind"] != "stream", "accent"]):
        assert f"| {acc} |" in sheet
    assert "espeak-ng 1." in sheet and "seed 0" in sheet and "not a claim about real speaker" in sheet
    assert "native-english" in sheet and "non-native" in sheet


def test_refuses_to_overwrite_what_is_not_a_corpus(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        synthesize_corpus(tmp_path / "file", "tiny")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        synthesize_corpus(tmp_path / "busy", "tiny")


# --- CLI ----------------------------------------------------------------------------------------

def _cli():
    from harness.cli import cli
    from harness.cli.corpus import command

    cli.add_command(command)
    return cli


def test_cli_synth_prints_the_corpus_directory_last(tmp_path):
    out = tmp_path / "cli-corpus"
    args = ["corpus", "synth", "--out", str(out), "--size", "tiny", "--seed", "0"]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(out.resolve())
    assert (out / "manifest.parquet").is_file() and (out / "datasheet.md").is_file()


def test_cli_reports_a_file_as_out_dir_without_traceback(tmp_path):
    (tmp_path / "f").write_text("x")
    result = CliRunner().invoke(_cli(), ["corpus", "synth", "--out", str(tmp_path / "f"), "--size", "tiny"])
    assert result.exit_code == DataError.exit_code
    assert "is a file" in result.stderr and "Traceback" not in result.output
