"""Real corpora count correctly: short recordings without phrase timings, imported from a manifest, score hits for a
model that fires on its own clips (not a miss plus a false accept), and the whole path writes its documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.evaluation.streaming import StreamingRules, match_untimed

_register()
RULES = StreamingRules(window=3, cutoff=0.5, step_s=0.03)


@pytest.mark.parametrize("times, expected", [
    ([], (False, 0)),
    ([0.9], (True, 0)),
    ([0.9, 1.9], (True, 0)),  # a plateau firing again one refractory period later: the same utterance
    ([0.9, 1.9, 2.9], (True, 0)),
    ([0.9, 3.0], (True, 1)),  # a second detection well after the utterance is a false accept
    ([0.9, 1.9, 4.0, 4.5], (True, 2)),
])
def test_an_untimed_positive_clip_counts_its_first_detection_as_the_hit(times: list[float],
                                                                        expected: tuple[bool, int]) -> None:
    assert match_untimed(times, tolerance_s=1.0) == expected
    assert RULES.count(times, True, None, float("nan")) == expected


def test_timings_decide_when_a_clip_has_them_and_negatives_count_every_detection() -> None:
    assert RULES.count([0.5, 2.7], True, 1.0, 1.6) == (False, 2)  # 0.5 s is before the phrase, 2.7 s after +1 s
    assert RULES.count([1.2, 2.5], True, 1.0, 1.6) == (True, 1)
    assert RULES.count([1.2, 2.5], False, 1.0, 1.6) == (False, 2)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The tiny corpus's clips as a user's recordings of speech: a manifest with no timings (the stream is left out)."""
    runner = CliRunner()
    root = tmp_path_factory.mktemp("untimed")
    tiny = root / "tiny"
    assert runner.invoke(cli, ["corpus", "synth", "--out", str(tiny), "--size", "tiny"]).exit_code == 0
    clips = pd.read_parquet(tiny / "manifest.parquet")
    chosen = clips[clips["label"] != "_stream_"]
    recordings = root / "recordings"
    recordings.mkdir()
    rows = []
    for _, clip in chosen.iterrows():
        name = f"{clip['clip_id']}.wav"
        shutil.copy(tiny / clip["path"], recordings / name)
        rows.append({"path": name, "label": clip["label"], "speaker": clip["speaker"], "accent": clip["accent"]})
    pd.DataFrame(rows).to_csv(recordings / "manifest.csv", index=False)
    out = root / "corpus"
    result = runner.invoke(cli, ["corpus", "import", "manifest", str(recordings / "manifest.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, chosen


def test_an_imported_corpus_scores_hits_and_writes_every_document(imported: tuple[Path, pd.DataFrame]) -> None:
    corpus, chosen = imported
    assert "phrase_start_s" not in pd.read_parquet(corpus / "manifest.parquet").columns
    out = CliRunner().invoke(cli, ["eval", "--model", "mww-alexa", "--corpus", str(corpus), "--workers", "1"],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    predictions = pd.read_parquet(run_dir / "raw" / "predictions.parquet")
    positives = predictions[predictions["is_positive"]]
    fired = positives[positives["predicted"]]
    assert len(fired) > 0
    # every clip on which the model fired is a hit, and a single detection is never also a false accept
    assert fired["detected"].all()
    assert (fired["false_accepts"] == 0).all()  # one utterance per short clip: no second trigger
    assert (positives.loc[~positives["predicted"], "detected"] == False).all()  # noqa: E712 - a miss stays a miss
    negatives = predictions[~predictions["is_positive"]]
    assert ((negatives["false_accepts"] > 0) == negatives["predicted"]).all()  # every firing on a negative counts
    frr = pd.read_csv(run_dir / "fairness.csv").query("attribute == 'overall' and metric == 'frr'").iloc[0]
    assert frr["value"] == pytest.approx(1 - positives["detected"].mean())
    for name in ("fairness.md", "disparity.json", "report.html", "model_cards/mww-alexa.md"):
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "status.json").read_text())["status"] == "complete"


def test_a_corpus_without_the_models_phrase_says_what_was_not_measured_and_how_to_get_it() -> None:
    out = CliRunner().invoke(cli, ["eval", "--model", "mww-okay-nabu", "--corpus", "builtin:tiny", "--workers", "1"],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    assert "not measured: mww-okay-nabu: corpus" in out.stderr and "wake phrase 'okay nabu'" in out.stderr
    assert "harness corpus synth --size demo" in out.stderr
    fairness = (run_dir / "fairness.md").read_text()
    assert "## Not measured, and why" in fairness and "labels found: " in fairness
    status = json.loads((run_dir / "status.json").read_text())
    assert len(status["not_measured"]) == 1
