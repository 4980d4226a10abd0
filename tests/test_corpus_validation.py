"""A bad corpus or bad audio is refused through the CLI with exit 2 and a message naming file, clip and field.

Every case runs ``harness eval`` (or ``harness corpus import manifest``) on a copy of a small valid corpus
with one defect, after a good run has written a run directory and the ledger: neither may change, no
new run directory may appear, and no traceback may be printed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.io import wavfile

from harness.cli import _register, cli
from harness.core.errors import DataError
from harness.corpus import audio
from harness.corpus.directory import load_corpus
from harness.evaluation.det import group_rates_figure, literal
from harness.evaluation.engine import read_clip

_register()
RATE = 16_000


def _tone(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.rint(rng.normal(0, 1500, int(seconds * RATE))).astype(np.int16)


def _write_corpus(root: Path) -> Path:
    """Four 1.5 s clips by two speakers in two accents, as a hand-made corpus directory."""
    rows = []
    for i in range(4):
        rel = f"clips/c{i}.wav"
        (root / "clips").mkdir(parents=True, exist_ok=True)
        wavfile.write(root / rel, RATE, _tone(1.5, i))
        rows.append({"clip_id": f"c{i}", "path": rel, "label": "okay_nabu" if i % 2 else "_sentence_",
                     "speaker": f"s{i % 2}", "accent": ["en-us", "es"][i // 2],
                     "phrase_start_s": 0.2 if i % 2 else np.nan, "phrase_end_s": 1.0 if i % 2 else np.nan})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    (root / "corpus.json").write_text(json.dumps({"name": "hand-made", "n_clips": 4, "group_columns": ["accent"]}))
    return root


@pytest.fixture(scope="module")
def good_corpus(tmp_path_factory) -> Path:
    return _write_corpus(tmp_path_factory.mktemp("good") / "corpus")


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory, good_corpus: Path) -> Path:
    """A results folder holding one finished evaluation of the good corpus (and its ledger line)."""
    results = tmp_path_factory.mktemp("results")
    result = CliRunner().invoke(cli, ["eval", "--model", "mww-okay-nabu", "--corpus", str(good_corpus),
                                      "--workers", "1", "--results", str(results)])
    assert result.exit_code == 0, result.output
    return results


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _edit_manifest(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def apply(corpus: Path) -> None:
        frame = pd.read_csv(corpus / "manifest.csv")
        change(frame).to_csv(corpus / "manifest.csv", index=False)
    return apply


def _set(column: str, row: int, value: object) -> Callable[[Path], None]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return _edit_manifest(change)


def _rewrite_wav(clip: int, rate: int, samples: np.ndarray) -> Callable[[Path], None]:
    def apply(corpus: Path) -> None:
        wavfile.write(corpus / f"clips/c{clip}.wav", rate, samples)
    return apply


def _cut_wav(clip: int, size: int) -> Callable[[Path], None]:
    def apply(corpus: Path) -> None:
        path = corpus / f"clips/c{clip}.wav"
        path.write_bytes(path.read_bytes()[:size])
    return apply


def _write(name: str, text: str) -> Callable[[Path], None]:
    def apply(corpus: Path) -> None:
        (corpus / name).write_text(text)
    return apply


_TONE = _tone(1.5, 9)
_NAN = (_TONE / 32768).astype(np.float32)
_NAN[100] = np.nan

# case id -> (defect, substrings the error must contain)
EVAL_CASES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "wav-cut-to-30-bytes": (_cut_wav(2, 30), ["manifest.csv", "clip_id 'c2'", "field 'path'", "c2.wav",
                                              "truncated or malformed WAV header"]),
    "truncated-audio-data": (_cut_wav(1, 20_000), ["clip_id 'c1'", "c1.wav", "truncated audio data"]),
    "sample-rate-8k": (_rewrite_wav(0, 8000, _TONE), ["clip_id 'c0'", "8000 Hz", "16 kHz mono 16-bit PCM"]),
    "stereo": (_rewrite_wav(3, RATE, np.stack([_TONE, _TONE], axis=1)), ["clip_id 'c3'", "2 channels"]),
    "int32-samples": (_rewrite_wav(0, RATE, _TONE.astype(np.int32) << 16), ["clip_id 'c0'", "int32 samples"]),
    "nan-samples": (_rewrite_wav(0, RATE, _NAN), ["clip_id 'c0'", "float32 samples"]),
    "null-speaker": (_set("speaker", 1, None), ["manifest.csv", "line 3 (clip_id 'c1')", "field 'speaker'",
                                                "unknown-<clip_id>"]),
    "null-clip-id": (_set("clip_id", 2, None), ["manifest.csv", "line 4", "field 'clip_id' is empty"]),
    "duplicate-clip-id": (_set("clip_id", 3, "c0"), ["manifest.csv", "line 5 (clip_id 'c0')",
                                                     "field 'clip_id' repeats", "line 2"]),
    "empty-manifest": (_write("manifest.csv", ""), ["manifest.csv", "empty"]),
    "header-only-manifest": (_edit_manifest(lambda f: f.iloc[:0]), ["manifest.csv", "no rows"]),
    "missing-column": (_edit_manifest(lambda f: f.drop(columns=["label"])), ["manifest.csv", "label"]),
    "path-with-dotdot": (_set("path", 0, "../outside.wav"), ["line 2 (clip_id 'c0')", "field 'path'",
                                                             "inside the corpus folder"]),
    "absolute-path": (_set("path", 1, "/etc/passwd"), ["line 3 (clip_id 'c1')", "field 'path'"]),
    "duration-not-a-number": (_edit_manifest(lambda f: f.assign(duration_s=[1.5, "long", 1.5, -1.0])),
                              ["line 3 (clip_id 'c1'); line 5 (clip_id 'c3')", "field 'duration_s'"]),
    "missing-wav": (_set("path", 2, "clips/gone.wav"), ["clip_id 'c2'", "missing file"]),
    "corpus-json-invalid": (_write("corpus.json", "{name: "), ["corpus.json", "not valid JSON"]),
    "corpus-json-a-list": (_write("corpus.json", "[]"), ["corpus.json", "JSON object"]),
    "corpus-json-unknown-group": (_write("corpus.json", '{"group_columns": ["dialect"]}'),
                                  ["corpus.json", "field 'group_columns'", "dialect"]),
    "corpus-json-n-clips-stale": (_write("corpus.json", '{"n_clips": 9}'), ["corpus.json", "field 'n_clips'"]),
}


@pytest.mark.parametrize("case", sorted(EVAL_CASES))
def test_eval_refuses_a_bad_corpus_before_scoring(case: str, good_corpus: Path, earlier_run: Path,
                                                  tmp_path: Path) -> None:
    defect, expected = EVAL_CASES[case]
    corpus = tmp_path / "corpus"
    shutil.copytree(good_corpus, corpus)
    defect(corpus)
    before = _snapshot(earlier_run)
    result = CliRunner().invoke(cli, ["eval", "--model", "mww-okay-nabu", "--corpus", str(corpus),
                                      "--workers", "1", "--results", str(earlier_run)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert _snapshot(earlier_run) == before  # the earlier run and the ledger are untouched, no run was added


def test_the_good_corpus_evaluates_and_its_run_is_in_the_ledger(earlier_run: Path) -> None:
    runs = [p for p in earlier_run.iterdir() if p.is_dir()]
    predictions = pd.read_parquet(runs[0] / "raw" / "predictions.parquet")
    assert len(runs) == 1 and predictions["duration_s"].tolist() == [1.5] * 4  # measured from the WAVs
    assert len((earlier_run / "ledger.jsonl").read_text().splitlines()) == 1


def test_group_names_with_mathtext_are_plotted_literally_through_eval(good_corpus: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(good_corpus, corpus)
    frame = pd.read_csv(corpus / "manifest.csv")
    frame["accent"] = ["$\\frac{$", "$\\frac{$", "cost $5$", "cost $5$"]
    frame["accent_group"] = frame["accent"]
    frame.to_csv(corpus / "manifest.csv", index=False)
    (corpus / "corpus.json").write_text('{"group_columns": ["accent", "accent_group"]}')
    result = CliRunner().invoke(cli, ["eval", "--model", "mww-okay-nabu", "--corpus", str(corpus), "--workers", "1",
                                      "--results", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1])
    assert sorted(p.name for p in (run / "plots").glob("*.png")) == [
        "mww-okay-nabu__det_by_accent_group.png", "mww-okay-nabu__detection_rate_by_accent.png"]
    assert set(pd.read_csv(run / "fairness.csv")["group"]) >= {"$\\frac{$", "cost $5$"}


# --- harness corpus import manifest: per-row skips -----------------------------------------------------


def test_import_skips_truncated_and_nan_wavs_per_row(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    wavfile.write(src / "good.wav", 8000, _TONE[:8000])  # converted: resampled from 8 kHz
    wavfile.write(src / "cut.wav", RATE, _TONE)
    (src / "cut.wav").write_bytes((src / "cut.wav").read_bytes()[:30])
    wavfile.write(src / "short.wav", RATE, _TONE)
    (src / "short.wav").write_bytes((src / "short.wav").read_bytes()[:1000])
    wavfile.write(src / "nan.wav", RATE, _NAN)
    pd.DataFrame({"path": ["good.wav", "cut.wav", "short.wav", "nan.wav"], "label": "yes",
                  "speaker": ["a", "b", "c", "d"]}).to_csv(src / "manifest.csv", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["corpus", "import", "manifest", str(src / "manifest.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    skipped = pd.read_csv(out / "skipped.csv")
    reasons = dict(zip(skipped["item"], skipped["reason"], strict=True))
    assert set(reasons) == {"cut.wav", "short.wav", "nan.wav"}
    assert reasons["cut.wav"] == "unreadable audio: truncated or malformed WAV header (30 bytes)"
    assert reasons["short.wav"].startswith("unreadable audio: truncated audio data")
    assert reasons["nan.wav"].startswith("unreadable audio: 1 frame(s) with NaN or infinite samples (first at 0.006 s)")
    assert list(skipped["line"]) == [3, 4, 5]
    corpus = load_corpus(out)  # the imported corpus passes the load checks
    row = corpus.manifest.iloc[0]
    assert (row["clip_id"], row["source_rate"], row["source_channels"], row["source_format"]) == ("good", 8000, 1,
                                                                                                  "int16")
    info = json.loads((out / "corpus.json").read_text())
    assert info["import"]["resampled_from_hz"] == {"8000": 1} and info["import"]["rows_skipped"] == 3
    assert info["import"]["converted_from_format"] == {}


def test_import_records_sample_format_conversions_per_clip_and_counts_them(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    wavfile.write(src / "a.wav", RATE, _TONE)
    wavfile.write(src / "b.wav", RATE, _TONE.astype(np.int32) << 16)
    wavfile.write(src / "c.wav", RATE, (_TONE / 32768).astype(np.float32))
    wavfile.write(src / "d.wav", RATE, (_TONE / 32768).astype(np.float32))
    pd.DataFrame({"path": ["a.wav", "b.wav", "c.wav", "d.wav"], "label": "yes",
                  "speaker": list("abcd")}).to_csv(src / "manifest.csv", index=False)
    result = CliRunner().invoke(cli, ["corpus", "import", "manifest", str(src), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "converted to int16: 2 clips of float32" in result.stdout
    assert "converted to int16: 1 clips of int32" in result.stdout
    manifest = pd.read_parquet(tmp_path / "out" / "manifest.parquet").set_index("clip_id")
    assert manifest["source_format"].to_dict() == {"a": "int16", "b": "int32", "c": "float32", "d": "float32"}
    info = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert info["import"]["converted_from_format"] == {"float32": 2, "int32": 1}
    for clip in "abcd":  # each conversion lands on the original int16 samples exactly
        assert np.array_equal(wavfile.read(tmp_path / "out" / "clips" / f"{clip}.wav")[1], _TONE)


def test_import_of_a_source_with_only_bad_rows_reports_them_and_eval_refuses_the_empty_corpus(
        tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    wavfile.write(src / "ok.wav", RATE, _TONE)
    (src / "cut.wav").write_bytes((src / "ok.wav").read_bytes()[:30])
    (src / "manifest.csv").write_text("path,label,speaker\ncut.wav,yes,a\nok.wav,yes,\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["corpus", "import", "manifest", str(src / "manifest.csv"), "--out", str(out)])
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "skipped manifest.csv:2: cut.wav: unreadable audio: truncated or malformed WAV header" in result.stdout
    assert "skipped manifest.csv:3: ok.wav: empty speaker" in result.stdout
    result = CliRunner().invoke(cli, ["eval", "--model", "mww-okay-nabu", "--corpus", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{out / 'manifest.parquet'}: the manifest has no rows" in result.stderr
    assert "skipped.csv" in result.stderr


def test_import_of_an_empty_source_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text("")
    result = CliRunner().invoke(cli, ["corpus", "import", "manifest", str(tmp_path / "manifest.csv"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "manifest.csv: not a readable CSV file" in result.stderr and not (tmp_path / "out").exists()


# --- the conversions an importer records, and what evaluation refuses ------------------------------------


@pytest.mark.parametrize(("rate", "samples", "resampled", "downmixed", "source_format", "length"), [
    (RATE, np.array([1, -2, 3], dtype=np.int16), False, False, "int16", 3),
    (8000, np.zeros(80, dtype=np.int16), True, False, "int16", 160),
    (48_000, np.zeros((480, 2), dtype=np.int16), True, True, "int16", 160),
    (RATE, np.array([1 << 30, -(1 << 31)], dtype=np.int32), False, False, "int32", 2),
    (RATE, np.array([128, 0], dtype=np.uint8), False, False, "uint8", 2),
    (22_050, np.zeros(2205, dtype=np.float64), True, False, "float64", 1600),
])
def test_conformed_records_each_conversion(tmp_path: Path, rate: int, samples: np.ndarray, resampled: bool,
                                           downmixed: bool, source_format: str, length: int) -> None:
    wavfile.write(tmp_path / "x.wav", rate, samples)
    conformed = audio.load_conformed(tmp_path / "x.wav")
    assert (conformed.resampled, conformed.downmixed, len(conformed.samples)) == (resampled, downmixed, length)
    assert (conformed.source_format, conformed.reformatted) == (source_format, source_format != "int16")
    assert (conformed.source_rate, conformed.source_channels) == (rate, 1 if samples.ndim == 1 else samples.shape[1])
    assert conformed.samples.dtype == np.int16


def test_infinite_samples_are_refused_not_zeroed(tmp_path: Path) -> None:
    wavfile.write(tmp_path / "inf.wav", RATE, np.array([0.1, np.inf, -np.inf, 0.2], dtype=np.float32))
    with pytest.raises(audio.AudioError, match=r"inf\.wav: 2 frame\(s\) with NaN or infinite samples \(first at 0\.0"):
        audio.load_conformed(tmp_path / "inf.wav")


def test_read_clip_names_the_clip_and_never_converts(tmp_path: Path) -> None:
    wavfile.write(tmp_path / "a.wav", 44_100, _TONE)
    with pytest.raises(DataError, match=r"clip 'a': .*a\.wav: 44100 Hz; a corpus clip must be 16 kHz mono") as err:
        read_clip(tmp_path, {"clip_id": "a", "path": "a.wav"})
    assert "harness corpus import manifest" in (err.value.hint or "")
    wavfile.write(tmp_path / "b.wav", RATE, _TONE)
    assert np.array_equal(read_clip(tmp_path, {"clip_id": "b", "path": "b.wav"}), _TONE)


# --- plot labels are user strings, drawn literally -------------------------------------------------------


def test_group_names_with_dollars_are_drawn_literally() -> None:
    assert literal("$x^2$ accent") == r"\$x^2\$ accent"
    assert literal("_hidden") == "\u200b_hidden"
    fairness = pd.DataFrame({"model": "m", "attribute": "accent", "group": ["$\\frac{$", "plain"],
                             "metric": "detection_rate", "value": [0.5, 0.7], "ci_low": [0.4, 0.6],
                             "ci_high": [0.6, 0.8], "n": [10, 10], "sufficient": [True, True]})
    fig = group_rates_figure(fairness, "detection_rate", model="m", attribute="accent")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # mathtext would raise on the unbalanced \frac
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == ["plain (n=10)", "\\$\\frac{\\$ (n=10)"]  # worst group at the top
