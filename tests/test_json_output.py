"""Machine-readable output: --json prints one summary object (schema named) on stdout, and 'latest' stands for the
newest run directory wherever a run directory is asked for."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from harness.cli import cli


def invoke(*args: str) -> tuple[int, str, str]:
    out = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return out.exit_code, out.stdout, out.stderr


def test_run_signoff_compare_and_verify_print_one_json_object() -> None:
    code, out, _ = invoke("run", "--model", "mww-alexa", "--target", "mcu", "--runs", "20", "--json")
    assert code == 0
    summary = json.loads(out)  # the whole of stdout is one object
    run_dir = Path(summary["run_dir"])
    assert summary["schema"] == "edge-harness/run-summary/1" and summary["status"] == "complete"
    signoff = json.loads((run_dir / "signoff.json").read_text())
    assert summary["verdict"] == signoff["verdict"] and summary["counts"] == signoff["counts"]
    (row,) = summary["efficiency"]
    assert (row["model"], row["target"]) == ("mww-alexa", "mcu") and row["provenance"].startswith("predicted")

    code, out, _ = invoke("signoff", "latest", "--json")
    decided = json.loads(out)
    assert decided["schema"] == "edge-harness/signoff/1" and decided["run_dir"] == str(run_dir)
    assert code == {"PASS": 0, "FAIL": 1, "INSUFFICIENT_EVIDENCE": 3}[decided["verdict"]]
    assert {g["id"] for g in decided["gates"]} == {g["id"] for g in signoff["gates"]}

    code, out, _ = invoke("compare", str(run_dir), "latest", "--json")
    compared = json.loads(out)
    assert code == 0 and compared["schema"] == "edge-harness/compare/1" and compared["regressions"] == 0

    code, out, _ = invoke("verify", "--json")
    audit = json.loads(out)
    assert code == 0 and audit["schema"] == "edge-harness/verify/1" and audit["tampered"] is False
    assert audit["state"] == "intact" and audit["entries"] == 1  # the same sign-off again changed no file


def test_latest_is_the_newest_run_and_a_clear_error_when_there_is_none(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_RESULTS", str(tmp_path / "empty"))
    code, _, err = invoke("signoff", "latest")
    assert code == 2 and "no run directory in" in err and "Traceback" not in err
