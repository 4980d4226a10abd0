"""Corpus importers: each source format built in tmp_path in its exact layout, imported, checked by row."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.io import wavfile
from scipy.signal import resample_poly

from harness.cli.corpus_import import import_command
from harness.core.errors import ConfigError, DataError
from harness.corpus.importers import content_sha256, get_importer, importer_names, register
from harness.corpus.importers.base import Importer

CV_HEADER = [
    "client_id",
    "path",
    "sentence_id",
    "sentence",
    "sentence_domain",
    "up_votes",
    "down_votes",
    "age",
    "gender",
    "accents",
    "variant",
    "locale",
    "segment",
]


def _signal(n: int, seed: int, channels: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-8000, 8000, size=(n, channels)).astype(np.int16).squeeze()


def _wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, samples)
    return samples


def _read(corpus: Path, rel: str) -> tuple[int, np.ndarray]:
    return wavfile.read(corpus / rel)


def _manifest(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "manifest.parquet").set_index("clip_id")


def _none(value: object) -> object:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _soundfile_or_skip(fmt: str, subtype: str):  # noqa: ANN202 - the soundfile module
    sf = pytest.importorskip(
        "soundfile", reason="soundfile (libsndfile) is needed to write MP3/Opus fixtures"
    )
    if subtype not in sf.available_subtypes(fmt):
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}/{subtype}")
    return sf


# --- audio helpers ---------------------------------------------------------------------------------------


def test_audio_scaling_of_float_8_bit_and_32_bit_wavs(tmp_path: Path) -> None:
    from harness.corpus.audio import load_conformed

    cases = {
        "f32.wav": np.array([0.5, -0.25, 1.5], dtype=np.float32),  # 1.5 is over full scale: clipped
        "u8.wav": np.array([128, 192, 0], dtype=np.uint8),
        "i32.wav": np.array([1 << 30, -(1 << 31), 65536], dtype=np.int32),
    }
    expected = {"f32.wav": [16384, -8192, 32767], "u8.wav": [0, 16384, -32768], "i32.wav": [16384, -32768, 1]}
    for name, samples in cases.items():
        wavfile.write(tmp_path / name, 16_000, samples)
        conformed = load_conformed(tmp_path / name)
        assert conformed.samples.tolist() == expected[name] and conformed.clipped == (name == "f32.wav")


def test_unreadable_wav_is_an_audio_error_even_without_soundfile(tmp_path: Path, monkeypatch) -> None:
    from harness.corpus import audio

    (tmp_path / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    monkeypatch.setattr(audio, "find_spec", lambda name: None)
    with pytest.raises(audio.AudioError, match=r"bad\.wav: cannot decode"):
        audio.read_audio(tmp_path / "bad.wav")


# --- Speech Commands -------------------------------------------------------------------------------------


@pytest.fixture
def speech_commands(tmp_path: Path) -> dict:
    src = tmp_path / "speech_commands_v0.02"
    audio = {
        "yes/aaaa1111_nohash_0": _wav(src / "yes/aaaa1111_nohash_0.wav", _signal(16_000, 1)),
        "yes/bbbb2222_nohash_0": _wav(src / "yes/bbbb2222_nohash_0.wav", _signal(16_000, 2)),
        "yes/cccc3333_nohash_1": _wav(src / "yes/cccc3333_nohash_1.wav", _signal(16_000, 3)),
        "no/aaaa1111_nohash_0": _wav(src / "no/aaaa1111_nohash_0.wav", _signal(16_000, 4)),
        "no/bbbb2222_nohash_0": _wav(src / "no/bbbb2222_nohash_0.wav", _signal(8_000, 5), rate=8_000),
        "up/aaaa1111_nohash_0": _wav(src / "up/aaaa1111_nohash_0.wav", _signal(16_000, 6, channels=2)),
        "up/bbbb2222_nohash_0": _wav(src / "up/bbbb2222_nohash_0.wav", _signal(16_000, 7)),
        "_background_noise_/white_noise": _wav(
            src / "_background_noise_/white_noise.wav", _signal(48_000, 8)
        ),
    }
    (src / "yes/notes.txt").write_text("not audio")
    (src / "no/dddd4444_nohash_0.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    (src / "_background_noise_/README.md").write_text("six noise files")
    (src / "validation_list.txt").write_text("yes/cccc3333_nohash_1.wav\n")
    (src / "testing_list.txt").write_text(
        "yes/bbbb2222_nohash_0.wav\nno/bbbb2222_nohash_0.wav\nup/bbbb2222_nohash_0.wav\nup/eeee5555_nohash_0.wav\n"
    )
    return {"src": src, "audio": audio}


def test_speech_commands_manifest_splits_speakers_and_noise(speech_commands: dict, tmp_path: Path) -> None:
    out = tmp_path / "gsc"
    report = get_importer("speech_commands").import_corpus(speech_commands["src"], out)
    m = _manifest(out)
    expected = {  # clip_id: (label, split, speaker, kind)
        "yes/aaaa1111_nohash_0": ("yes", "train", "aaaa1111", "speech"),
        "yes/bbbb2222_nohash_0": ("yes", "test", "bbbb2222", "speech"),
        "yes/cccc3333_nohash_1": ("yes", "validation", "cccc3333", "speech"),
        "no/aaaa1111_nohash_0": ("no", "train", "aaaa1111", "speech"),
        "no/bbbb2222_nohash_0": ("no", "test", "bbbb2222", "speech"),
        "up/aaaa1111_nohash_0": ("up", "train", "aaaa1111", "speech"),
        "up/bbbb2222_nohash_0": ("up", "test", "bbbb2222", "speech"),
        "_background_noise_/white_noise": ("_background_noise_", None, None, "noise"),
    }
    got = {cid: (r.label, _none(r.split), _none(r.speaker), r.kind) for cid, r in m.iterrows()}
    assert got == expected
    assert list(m.columns[:5]) == ["path", "label", "split", "speaker", "kind"]
    assert not {"accent", "gender", "age_band"} & set(m.columns)
    assert m.loc["no/bbbb2222_nohash_0", "path"] == "clips/no/bbbb2222_nohash_0.wav"
    assert list(m["path"]) == sorted(m["path"])

    assert (report.rows_read, report.clips_written) == (12, 8)
    assert sorted((s.item, s.reason.split(":")[0]) for s in report.skipped) == [
        ("_background_noise_/README.md", "not a .wav file"),
        ("no/dddd4444_nohash_0.wav", "unreadable audio"),
        ("up/eeee5555_nohash_0.wav", "listed but the file is missing"),
        ("yes/notes.txt", "not a .wav file"),
    ]
    missing = next(s for s in report.skipped if s.item == "up/eeee5555_nohash_0.wav")
    assert (missing.source, missing.line) == ("testing_list.txt", 4)
    assert report.balanced
    assert dict(report.resampled) == {8000: 1} and dict(report.downmixed) == {2: 1}
    assert any("no demographic labels" in n for n in report.notes)
    assert any(n.startswith("group columns absent: accent") for n in report.notes)


def test_speech_commands_audio_is_passed_resampled_and_downmixed_exactly(
    speech_commands: dict, tmp_path: Path
) -> None:
    out = tmp_path / "gsc"
    get_importer("speech_commands").import_corpus(speech_commands["src"], out)
    audio = speech_commands["audio"]

    rate, same = _read(out, "clips/yes/aaaa1111_nohash_0.wav")
    assert rate == 16_000 and np.array_equal(same, audio["yes/aaaa1111_nohash_0"])

    rate, up = _read(out, "clips/no/bbbb2222_nohash_0.wav")
    expected = np.clip(
        np.rint(resample_poly(audio["no/bbbb2222_nohash_0"].astype(float), 2, 1)), -32768, 32767
    )
    assert rate == 16_000 and up.dtype == np.int16 and len(up) == 16_000
    assert np.array_equal(up, expected.astype(np.int16))

    rate, mono = _read(out, "clips/up/aaaa1111_nohash_0.wav")
    stereo = audio["up/aaaa1111_nohash_0"].astype(np.int32)
    assert mono.ndim == 1 and np.array_equal(mono, np.rint(stereo.sum(axis=1) / 2).astype(np.int16))

    m = _manifest(out)
    assert m.loc["no/bbbb2222_nohash_0", ["source_rate", "source_channels"]].tolist() == [8000, 1]
    assert m.loc["_background_noise_/white_noise", "duration_s"] == 3.0


def test_speech_commands_split_filter_counts_excluded_rows(speech_commands: dict, tmp_path: Path) -> None:
    out = tmp_path / "gsc-test"
    report = get_importer("speech_commands").import_corpus(speech_commands["src"], out, splits=["test"])
    m = _manifest(out)
    assert sorted(m.index) == [
        "_background_noise_/white_noise",
        "no/bbbb2222_nohash_0",
        "up/bbbb2222_nohash_0",
        "yes/bbbb2222_nohash_0",
    ]
    # train: three clips and the corrupt file, excluded before it is read
    assert dict(report.excluded) == {"split 'train' not selected": 4, "split 'validation' not selected": 1}
    assert report.balanced


def test_corpus_json_datasheet_and_content_hash(speech_commands: dict, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    importer = get_importer("speech_commands")
    report = importer.import_corpus(speech_commands["src"], first)
    importer.import_corpus(speech_commands["src"], second)
    info = json.loads((first / "corpus.json").read_text())
    assert info["name"] == "a" and info["source_format"] == "speech_commands" and info["n_clips"] == 8
    assert info["group_columns"] == [] and info["import"]["resampled_from_hz"] == {"8000": 1}
    assert info["content_sha256"] == json.loads((second / "corpus.json").read_text())["content_sha256"]
    assert (first / "manifest.parquet").read_bytes() == (second / "manifest.parquet").read_bytes()

    manifest = pd.read_parquet(first / "manifest.parquet")
    columns = sorted(manifest.columns)
    digest = hashlib.sha256(json.dumps(columns).encode())
    for row in manifest.sort_values("path").to_dict("records"):
        values = [_none(row[c].item() if hasattr(row[c], "item") else row[c]) for c in columns]
        digest.update(json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
        digest.update(hashlib.sha256((first / row["path"]).read_bytes()).digest())
    assert info["content_sha256"] == digest.hexdigest() == content_sha256(first, manifest)
    wavfile.write(first / "clips/yes/aaaa1111_nohash_0.wav", 16_000, _signal(16_000, 99))
    assert content_sha256(first, manifest) != info["content_sha256"]

    sheet = (first / "datasheet.md").read_text()
    assert "Google Speech Commands v2" in sheet and "No demographic labels" in sheet
    assert (
        "resampled to 16 kHz: 1 clips at 8000 Hz" in sheet
        and "downmixed to mono: 1 clips with 2 channels" in sheet
    )
    assert "| testing_list.txt:4 | `up/eeee5555_nohash_0.wav` | listed but the file is missing |" in sheet
    assert "| test | 3 | 1 | 37.5% |" in sheet
    with (first / "skipped.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == len(report.skipped) == 4


def test_out_folder_is_protected_and_force_replaces_only_a_corpus(
    speech_commands: dict, tmp_path: Path
) -> None:
    importer = get_importer("speech_commands")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        importer.import_corpus(speech_commands["src"], precious)
    with pytest.raises(ConfigError, match="not a corpus directory"):
        importer.import_corpus(speech_commands["src"], precious, overwrite=True)
    out = tmp_path / "gsc"
    importer.import_corpus(speech_commands["src"], out)
    importer.import_corpus(speech_commands["src"], out, overwrite=True, splits=["validation"])
    assert sorted(_manifest(out).index) == ["_background_noise_/white_noise", "yes/cccc3333_nohash_1"]
    assert not (out / "clips/yes/aaaa1111_nohash_0.wav").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_speech_commands_without_split_lists_is_not_this_format(tmp_path: Path) -> None:
    _wav(tmp_path / "src/yes/a_nohash_0.wav", _signal(100, 1))
    with pytest.raises(DataError, match="does not look like speech_commands: no validation_list.txt") as exc:
        get_importer("speech_commands").import_corpus(tmp_path / "src", tmp_path / "out")
    assert "testing_list.txt" in exc.value.hint


# --- Common Voice ----------------------------------------------------------------------------------------


def _tsv(path: Path, header: list[str], rows: list[dict]) -> None:
    lines = ["\t".join(header)] + ["\t".join(str(row.get(c, "")) for c in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def common_voice(tmp_path: Path) -> Path:
    sf = _soundfile_or_skip("MP3", "MPEG_LAYER_III")
    src = tmp_path / "cv-corpus-17.0" / "en"
    (src / "clips").mkdir(parents=True)
    t48, t44 = np.arange(48_000) / 48_000, np.arange(44_100) / 44_100
    sf.write(
        src / "clips/common_voice_en_1.mp3",
        0.3 * np.sin(2 * np.pi * 440 * t48),
        48_000,
        format="MP3",
        subtype="MPEG_LAYER_III",
    )
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 330 * t44), 0.2 * np.sin(2 * np.pi * 550 * t44)], axis=1)
    sf.write(src / "clips/common_voice_en_2.mp3", stereo, 44_100, format="MP3", subtype="MPEG_LAYER_III")
    sf.write(
        src / "clips/common_voice_en_4.mp3",
        0.3 * np.sin(2 * np.pi * 440 * t48[:24_000]),
        48_000,
        format="MP3",
        subtype="MPEG_LAYER_III",
    )
    base = {"sentence_domain": "", "up_votes": 2, "down_votes": 0, "variant": "", "locale": "en"}
    _tsv(
        src / "train.tsv",
        CV_HEADER,
        [
            {
                **base,
                "client_id": "c1",
                "path": "common_voice_en_1.mp3",
                "sentence_id": "s1",
                "sentence": "Yes.",
                "age": "twenties",
                "gender": "female_feminine",
                "accents": "United States English",
                "segment": "Benchmark",
            },
            {
                **base,
                "client_id": "c2",
                "path": "common_voice_en_2.mp3",
                "sentence_id": "s2",
                "sentence": "Hello,  there World!",
                "age": "fourties",
                "gender": "male",
                "accents": "  India and South Asia   (India, Pakistan) ",
                "segment": "",
            },
            {
                **base,
                "client_id": "c3",
                "path": "common_voice_en_3.mp3",
                "sentence_id": "s3",
                "sentence": "no",
                "age": "",
                "gender": "",
                "accents": "",
                "segment": "Benchmark",
            },
        ],
    )
    old_header = ["client_id", "path", "sentence", "up_votes", "down_votes", "gender", "locale"]
    _tsv(
        src / "test.tsv",
        old_header,
        [
            {
                "client_id": "c4",
                "path": "common_voice_en_4.mp3",
                "sentence": "Hey",
                "up_votes": 2,
                "down_votes": 0,
                "gender": "other",
                "locale": "en",
            },
        ],
    )
    (src / "validated.tsv").write_text("\t".join(CV_HEADER) + "\n")
    return src


def test_common_voice_manifest_groups_and_missing_file(common_voice: Path, tmp_path: Path) -> None:
    out = tmp_path / "cv"
    report = get_importer("common_voice").import_corpus(common_voice, out)
    m = _manifest(out)
    columns = ["label", "split", "speaker", "accent", "gender", "age_band", "language"]
    got = {cid: tuple(_none(v) for v in row) for cid, row in m[columns].iterrows()}
    assert got == {
        "common_voice_en_1": (
            "yes",
            "train",
            "c1",
            "United States English",
            "female_feminine",
            "20-29",
            "en",
        ),
        "common_voice_en_2": (
            "hello there world",
            "train",
            "c2",
            "India and South Asia (India, Pakistan)",
            "male",
            "40-49",
            "en",
        ),
        "common_voice_en_4": ("hey", "test", "c4", None, "other", None, "en"),
    }
    assert "variant" in m.columns and m["variant"].isna().all()
    assert [(s.source, s.line, s.item, s.reason) for s in report.skipped] == [
        ("train.tsv", 4, "clips/common_voice_en_3.mp3", "missing file")
    ]
    assert (report.rows_read, report.clips_written) == (4, 3) and report.balanced
    assert dict(report.resampled) == {48_000: 2, 44_100: 1} and dict(report.downmixed) == {2: 1}
    assert set(m["source_format"]) == {"mp3/mpeg_layer_iii"} and dict(report.reformatted) == {"mp3/mpeg_layer_iii": 3}
    assert "test.tsv: no 'accents' column: 'accent' is empty for those rows" in report.notes
    assert "test.tsv: no 'age' column: 'age_band' is empty for those rows" in report.notes
    for cid, n in (
        ("common_voice_en_1", 16_000),
        ("common_voice_en_2", 16_000),
        ("common_voice_en_4", 8_000),
    ):
        rate, samples = _read(out, m.loc[cid, "path"])
        assert (rate, samples.dtype, samples.shape) == (16_000, np.int16, (n,))


def test_common_voice_single_word_and_split_choice(common_voice: Path, tmp_path: Path) -> None:
    report = get_importer("common_voice").import_corpus(common_voice, tmp_path / "swts", single_word=True)
    assert sorted(_manifest(tmp_path / "swts")["label"]) == ["hey", "yes"]
    assert dict(report.excluded) == {"not a Single Word Target Segment word (--single-word)": 1}
    assert len(report.skipped) == 1 and report.balanced  # 'no' is a single word, but its file is missing

    report = get_importer("common_voice").import_corpus(common_voice, tmp_path / "t", splits=["test"])
    assert list(_manifest(tmp_path / "t").index) == ["common_voice_en_4"] and report.rows_read == 1
    with pytest.raises(DataError, match="no other.tsv") as exc:
        get_importer("common_voice").import_corpus(common_voice, tmp_path / "o", splits=["other"])
    assert exc.value.hint == "TSVs found: test, train, validated"


def test_common_voice_malformed_and_empty_rows_are_reported(tmp_path: Path) -> None:
    src = tmp_path / "cv"
    (src / "clips").mkdir(parents=True)
    (src / "dev.tsv").write_text(
        "client_id\tpath\tsentence\nc1\ta.mp3\tfine\nc2\tb.mp3\nc3\tc.mp3\t  \n\tdd.mp3\thi\n"
    )
    report = get_importer("common_voice").import_corpus(src, tmp_path / "out")
    assert [(s.line, s.item, s.reason) for s in report.skipped] == [
        (3, "c2\tb.mp3", "malformed row (2 fields, header has 3)"),
        (4, "c.mp3", "empty sentence"),
        (5, "dd.mp3", "empty client_id"),
        (2, "clips/a.mp3", "missing file"),
    ]
    assert (report.rows_read, report.clips_written) == (4, 0) and report.balanced
    assert len(pd.read_parquet(tmp_path / "out/manifest.parquet")) == 0
    assert "No clips were written." in (tmp_path / "out/datasheet.md").read_text()


def test_common_voice_missing_required_column_names_file_and_columns(tmp_path: Path) -> None:
    src = tmp_path / "cv"
    (src / "clips").mkdir(parents=True)
    _tsv(
        src / "train.tsv", ["client_id", "path", "age"], [{"client_id": "c", "path": "a.mp3", "age": "teens"}]
    )
    with pytest.raises(DataError) as exc:
        get_importer("common_voice").import_corpus(src, tmp_path / "out")
    assert exc.value.message == (
        f"{src / 'train.tsv'}: required column 'sentence' is missing; columns found: client_id, path, age"
    )


def test_common_voice_folder_without_tsvs_says_what_was_expected(tmp_path: Path) -> None:
    (tmp_path / "cv" / "en").mkdir(parents=True)
    (tmp_path / "cv" / "en" / "train.tsv").write_text("client_id\tpath\tsentence\n")
    with pytest.raises(DataError, match=r"no \.tsv files \(language folders inside: en; pass one") as exc:
        get_importer("common_voice").import_corpus(tmp_path / "cv", tmp_path / "out")
    assert "clips/<path>" in exc.value.hint and not (tmp_path / "out").exists()


# --- MSWC ------------------------------------------------------------------------------------------------


@pytest.fixture
def mswc(tmp_path: Path) -> Path:
    sf = _soundfile_or_skip("OGG", "OPUS")
    src = tmp_path / "mswc" / "en"
    for link, n in (
        ("aachen/common_voice_en_1.opus", 48_000),
        ("hello/common_voice_en_2.opus", 48_000),
        ("hello/common_voice_en_3.opus", 24_000),
    ):
        (src / "clips" / link).parent.mkdir(parents=True, exist_ok=True)
        sf.write(
            src / "clips" / link,
            0.25 * np.sin(2 * np.pi * 500 * np.arange(n) / 48_000),
            48_000,
            format="OGG",
            subtype="OPUS",
        )
    rows = [
        ["SET", "LINK", "WORD", "VALID", "SPEAKER", "GENDER"],
        ["TRAIN", "aachen/common_voice_en_1.opus", "aachen", "True", "spk1", "MALE"],
        ["TEST", "hello/common_voice_en_2.opus", "hello", "True", "spk2", "FEMALE"],
        ["DEV", "hello/common_voice_en_3.opus", "hello", "False", "spk3", "NAN"],
        ["TEST", "hello/common_voice_en_9.opus", "hello", "True", "spk2", "FEMALE"],
        ["TEST", "hello/common_voice_en_5.opus", "hello", "True", "", "FEMALE"],
    ]
    with (src / "en_splits.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    (src / "en_test.csv").write_text("LINK,WORD,VALID,SPEAKER,GENDER\n")
    return src


def test_mswc_manifest_resampling_and_skips(mswc: Path, tmp_path: Path) -> None:
    out = tmp_path / "mswc-en"
    report = get_importer("mswc").import_corpus(mswc, out)
    m = _manifest(out)
    got = {
        cid: (r.label, r.split, r.speaker, _none(r.gender), r.language, r.valid) for cid, r in m.iterrows()
    }
    assert got == {
        "aachen/common_voice_en_1": ("aachen", "train", "spk1", "male", "en", "True"),
        "hello/common_voice_en_2": ("hello", "test", "spk2", "female", "en", "True"),
        "hello/common_voice_en_3": ("hello", "dev", "spk3", None, "en", "False"),
    }
    assert [(s.line, s.item, s.reason) for s in report.skipped] == [
        (6, "hello/common_voice_en_5.opus", "empty SPEAKER"),
        (5, "clips/hello/common_voice_en_9.opus", "missing file"),
    ]
    assert dict(report.resampled) == {48_000: 3} and report.balanced
    assert set(m["source_format"]) == {"ogg/opus"} and dict(report.reformatted) == {"ogg/opus": 3}
    assert any("en_test.csv not read" in n for n in report.notes)
    assert "group columns absent: accent, accent_group, age_band, noise, snr_db, room" in " ".join(
        report.notes
    )
    for cid, n in (("aachen/common_voice_en_1", 16_000), ("hello/common_voice_en_3", 8_000)):
        rate, samples = _read(out, m.loc[cid, "path"])
        assert (rate, samples.shape) == (16_000, (n,))


def test_mswc_missing_speaker_column(tmp_path: Path) -> None:
    src = tmp_path / "mswc"
    (src / "clips").mkdir(parents=True)
    (src / "en_splits.csv").write_text("SET,LINK,WORD,VALID,GENDER\nTRAIN,a/b.opus,a,True,MALE\n")
    with pytest.raises(
        DataError,
        match=r"en_splits\.csv: required column 'SPEAKER' is missing; columns found: "
        r"SET, LINK, WORD, VALID, GENDER",
    ):
        get_importer("mswc").import_corpus(src, tmp_path / "out")


# --- generic manifest ------------------------------------------------------------------------------------


def test_generic_csv_manifest_with_group_columns(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    a = _wav(lab / "rec/a.wav", _signal(16_000, 1))
    _wav(lab / "rec/b.wav", _signal(22_050, 2), rate=22_050)
    elsewhere = _wav(tmp_path / "elsewhere/c.wav", _signal(32_000, 3, channels=2), rate=32_000)
    rows = [
        ["path", "label", "speaker", "accent", "room", "snr_db", "split"],
        ["rec/a.wav", "hey nabu", "s1", "en-scotland", "kitchen", 20, "test"],
        ["rec/b.wav", "hey nabu", "s2", "en-in", "", 10, "train"],
        [str(tmp_path / "elsewhere/c.wav"), "_negative_", "s1", "en-scotland", "car", 5, ""],
        ["rec/missing.wav", "hey nabu", "s3", "en-us", "car", 0, "test"],
        ["rec/a.wav", "hey nabu", "", "en-us", "car", 0, "test"],
    ]
    with (lab / "recordings.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    out = tmp_path / "lab-corpus"
    report = get_importer("manifest").import_corpus(lab / "recordings.csv", out)
    m = _manifest(out)
    columns = ["label", "split", "speaker", "accent", "room", "snr_db"]
    got = {cid: tuple(_none(v) for v in row) for cid, row in m[columns].iterrows()}
    c_id = "abs/" + (tmp_path / "elsewhere/c").as_posix().lstrip("/")
    assert got == {
        "rec/a": ("hey nabu", "test", "s1", "en-scotland", "kitchen", 20),
        "rec/b": ("hey nabu", "train", "s2", "en-in", None, 10),
        c_id: ("_negative_", "test", "s1", "en-scotland", "car", 5),
    }
    assert json.loads((out / "corpus.json").read_text())["group_columns"] == ["accent", "room", "snr_db"]
    assert [(s.line, s.item, s.reason) for s in report.skipped] == [
        (6, "rec/a.wav", "empty speaker"),
        (5, "rec/missing.wav", "missing file"),
    ]
    assert dict(report.resampled) == {22_050: 1, 32_000: 1} and dict(report.downmixed) == {2: 1}
    assert np.array_equal(_read(out, "clips/rec/a.wav")[1], a)
    rate, c = _read(out, m.loc[c_id, "path"])
    expected = np.rint(resample_poly(elsewhere.astype(float).mean(axis=1), 1, 2)).astype(np.int16)
    assert rate == 16_000 and np.array_equal(c, expected)
    assert len(_read(out, "clips/rec/b.wav")[1]) == 16_000


def test_generic_parquet_manifest_in_a_folder_with_chosen_groups(tmp_path: Path) -> None:
    _wav(tmp_path / "lab/x.wav", _signal(1_600, 1))
    pd.DataFrame(
        {
            "path": ["x.wav"],
            "label": ["yes"],
            "speaker": ["p1"],
            "gender": ["female"],
            "device": ["pixel"],
            "notes": ["quiet"],
        }
    ).to_parquet(tmp_path / "lab/manifest.parquet")
    report = get_importer("manifest").import_corpus(
        tmp_path / "lab", tmp_path / "out", group_columns=("gender",), default_split="eval"
    )
    m = _manifest(tmp_path / "out")
    assert m.loc["x", ["split", "gender"]].tolist() == ["eval", "female"] and "device" not in m.columns
    assert "no 'split' column: every clip is in split 'eval'" in report.notes
    with pytest.raises(DataError) as exc:
        get_importer("manifest").import_corpus(tmp_path / "lab", tmp_path / "o2", group_columns=("accent",))
    assert exc.value.message == (
        f"{tmp_path / 'lab/manifest.parquet'}: required column 'accent' is missing "
        "(asked for with --group); columns found: path, label, speaker, gender, device, notes"
    )
    with pytest.raises(ConfigError, match="--group speaker: 'speaker' has a fixed meaning"):
        get_importer("manifest").import_corpus(tmp_path / "lab", tmp_path / "o3", group_columns=("speaker",))


def test_generic_manifest_without_label_column(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path,speaker,accent\na.wav,s1,x\n")
    with pytest.raises(
        DataError,
        match=r"m\.csv: required column 'label' is missing; columns found: path, "
        r"speaker, accent",
    ):
        get_importer("manifest").import_corpus(tmp_path / "m.csv", tmp_path / "out")


# --- registry and CLI ------------------------------------------------------------------------------------


def test_registry_names_and_duplicates() -> None:
    assert importer_names() == ["common_voice", "manifest", "mswc", "speech_commands"]
    with pytest.raises(ConfigError, match="registered twice"):
        register(Importer("mswc", "again", "", lambda *a, **k: None))
    with pytest.raises(ConfigError, match="unknown corpus format 'wav2vec'"):
        get_importer("wav2vec")
    with pytest.raises(ConfigError, match="format 'mswc' has no option single_word"):
        get_importer("mswc").import_corpus(Path("."), Path("out"), single_word=True)


def test_cli_prints_report_then_out_dir_and_help_teaches_layouts(
    speech_commands: dict, tmp_path: Path
) -> None:
    out = tmp_path / "gsc"
    result = CliRunner().invoke(
        import_command,
        [
            "speech_commands",
            str(speech_commands["src"]),
            "--out",
            str(out),
            "--split",
            "test",
            "--split",
            "validation",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[-1] == str(out)
    assert "clips written: 5" in lines and "resampled to 16 kHz: 1 clips at 8000 Hz" in lines
    help_text = CliRunner().invoke(import_command, ["--help"]).output
    for fragment in (
        "validation_list.txt",
        "train.tsv dev.tsv test.tsv",
        "clips/<LINK>",
        "--group COL",
        "FORMAT mswc: Multilingual Spoken Words Corpus",
    ):
        assert fragment in help_text
