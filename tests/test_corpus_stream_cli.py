"""``harness corpus stream``: sww01-style streams per group from a corpus, with the runner's truth file."""

from __future__ import annotations

import json
import wave
from pathlib import Path

from click.testing import CliRunner

from harness.cli import cli


def test_streams_per_accent_with_their_detection_windows(tmp_path: Path) -> None:
    out = tmp_path / "streams"
    result = CliRunner().invoke(cli, ["corpus", "stream", "builtin:tiny", "--wake-label", "alexa", "--by", "accent",
                                      "--length", "30", "--words", "2", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    truth = json.loads(Path(result.stdout.strip()).read_text())
    index = json.loads((out / "sww_streams_index.json").read_text())
    assert len(truth) == len(index["streams"]) >= 1
    for entry, stream in zip(truth, index["streams"], strict=True):
        assert entry["wav_file"] == stream["wav_file"] and entry["sample_rate"] == 16000
        assert len(entry["detection_windows"]) == 2
        with wave.open(str(out / entry["wav_file"])) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 16000)
            assert w.getnframes() == 30 * 16000
    bad = CliRunner().invoke(cli, ["corpus", "stream", "builtin:tiny", "--wake-label", "okay_nabu", "--out",
                                   str(tmp_path / "x")])
    assert bad.exit_code == 2 and "no clip labelled 'okay_nabu'" in bad.stderr
