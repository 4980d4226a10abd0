"""`harness verify`: a clean chain passes; a changed file or ledger line is named with both hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner
from run_fixture import RunSpec, write_run

from harness.cli import _register, cli
from harness.ledger import chain

_register()
FILES = {"manifest_sha256": "manifest.json", "efficiency_sha256": "efficiency.csv",
         "fairness_sha256": "fairness.csv", "disparity_sha256": "disparity.json"}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def results_with_two_runs(tmp_path: Path) -> Path:
    results = tmp_path / "results"
    for run_id in ("run-1", "run-2"):
        run = write_run(results, RunSpec(), run_id)
        chain.append(results / "ledger.jsonl", {"run_id": run_id, "run_dir": str(run),
                                                **{k: sha(run / f) for k, f in FILES.items()}})
    return results


def verify(results: Path):
    return CliRunner().invoke(cli, ["verify", str(results)], catch_exceptions=False)


def test_a_clean_chain_passes(tmp_path) -> None:
    results = results_with_two_runs(tmp_path)
    out = verify(results)
    assert out.exit_code == 0, out.output
    assert "2 entries, 8 files checked, intact" in out.stdout
    last = (results / "ledger.jsonl").read_text().splitlines()[-1]
    assert hashlib.sha256(last.encode()).hexdigest() in out.stdout


def test_a_modified_file_is_named_with_expected_and_actual_hash(tmp_path) -> None:
    results = results_with_two_runs(tmp_path)
    target = results / "run-2" / "efficiency.csv"
    before = sha(target)
    target.write_text(target.read_text().replace("kws-a", "kws-b"))
    out = verify(results)
    assert out.exit_code == 1
    assert f"TAMPERED: run run-2: {target}: file changed since the run recorded it" in out.stdout
    assert f"expected {before}" in out.stdout and f"actual   {sha(target)}" in out.stdout
    assert "run-1" not in out.stdout.split("TAMPERED")[1].splitlines()[0]


def test_a_modified_ledger_line_breaks_the_next_link(tmp_path) -> None:
    results = results_with_two_runs(tmp_path)
    ledger = results / "ledger.jsonl"
    lines = ledger.read_text().splitlines()
    original = hashlib.sha256(lines[0].encode()).hexdigest()
    lines[0] = lines[0].replace('"run_id":"run-1"', '"run_id":"run-X"')
    ledger.write_text("\n".join(lines) + "\n")
    out = verify(results)
    assert out.exit_code == 1
    assert f"TAMPERED: {ledger}:2 (run run-2): chain broken" in out.stdout
    assert f"expected {original}" in out.stdout
    assert f"actual   {hashlib.sha256(lines[0].encode()).hexdigest()}" in out.stdout


def test_a_deleted_run_file_is_tampering_and_an_unrecorded_run_is_only_noted(tmp_path) -> None:
    results = results_with_two_runs(tmp_path)
    (results / "run-1" / "disparity.json").unlink()
    write_run(results, RunSpec(), "run-3")
    out = verify(results)
    assert out.exit_code == 1
    assert "recorded file is missing" in out.stdout
    assert f"note: {results / 'run-3'}: run directory not in the ledger" in out.stdout


def test_no_ledger_is_a_usage_error(tmp_path) -> None:
    out = CliRunner().invoke(cli, ["verify", str(tmp_path)])
    assert out.exit_code == 2 and "no ledger.jsonl" in out.stderr
