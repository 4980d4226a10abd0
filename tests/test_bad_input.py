"""Everyday bad input through the CLI, one table row per case: the exit code of the one exit-code table, a
message naming the file or field, never a traceback, and an earlier run and the ledger left byte-for-byte alone."""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import _register, cli
from harness.core.errors import ExitCode
from harness.core.paths import models_dir, project_root
from harness.rundir import contract

_register()

MODEL = "mlperf-dscnn-kws"  # built by the project's deterministic builder: no download


@dataclass(frozen=True)
class World:
    """What every case may use: a results folder holding one earlier run, and an evaluation-only run elsewhere."""

    results: Path
    run: Path
    eval_run: Path
    tflite: Path


@dataclass(frozen=True)
class Case:
    id: str
    setup: Callable[[Path, World, pytest.MonkeyPatch], list[str]]  # writes files in a scratch dir, returns argv
    code: int
    expect: tuple[str, ...]  # each must appear in the output (stdout + stderr)


def _harness(*args: str) -> tuple[int, str]:
    """Exit code and everything printed (stdout, then stderr)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def _run_dir(*args: str) -> Path:
    """Run a command that must succeed; the run directory it prints as its last stdout line."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stdout + result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        results = tmp_path_factory.mktemp("results")
        run = _run_dir("run", "--model", MODEL, "--target", "mcu", "--runs", "5", "--results", str(results))
        eval_run = _run_dir("eval", "--model", "mww-alexa", "--corpus", "builtin:tiny", "--workers", "1",
                            "--results", str(tmp_path_factory.mktemp("eval-results")))
        code, out = _harness("models", "show", MODEL, "--json")
        assert code == 0, out
        tflite = Path(yaml.safe_load(out)["verified_files"][0])
    return World(results, run, eval_run, tflite)


def _fingerprint(world: World) -> dict[str, str]:
    """sha256 of every file of the earlier run and of the ledger."""
    files = [p for p in sorted(world.run.rglob("*")) if p.is_file()] + [world.results / contract.LEDGER]
    assert len(files) > 5
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


# --- helpers the cases use to write their inputs ----------------------------------------------------------------

def _home(tmp: Path, mp: pytest.MonkeyPatch) -> Path:
    """A private HARNESS_HOME (targets, models, plans copied) for cases that break a shipped file."""
    home = tmp / "home"
    for part in ("targets", "models", "plans"):
        shutil.copytree(project_root() / part, home / part)
    mp.setenv("HARNESS_HOME", str(home))
    return home


def _edit_line(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} has no line {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _plan(tmp: Path, body: str | bytes) -> str:
    path = tmp / "plan.yaml"
    head = f"name: p\nmodels: [{MODEL}]\ntargets: [mcu]\n"
    path.write_bytes(head.encode() + (body if isinstance(body, bytes) else body.encode()))
    return str(path)


def _entry(tmp: Path, name: str, **fields: object) -> str:
    """A user's model entry YAML based on the registered MODEL entry."""
    entry = yaml.safe_load((models_dir() / f"{MODEL}.yaml").read_text(encoding="utf-8"))
    entry["name"] = name
    for key, value in fields.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(entry), encoding="utf-8")
    return str(path)


def _run(*extra: str) -> list[str]:
    return ["run", "--target", "mcu", "--runs", "5", *extra]


def _broken_copy(world: World, tmp: Path, table: str, edit: Callable[[bytes], bytes],
                 source: Path | None = None) -> str:
    """A copy of the earlier run (or of ``source``) with one file edited."""
    run = tmp / "run-copy"
    shutil.copytree(source or world.run, run)
    path = run / table
    path.write_bytes(edit(path.read_bytes()))
    return str(run)


def _csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


def _csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _replace_first_number(data: bytes, column: str) -> bytes:
    rows = _csv_rows(data)
    rows[1][rows[0].index(column)] = "abc"
    return _csv_bytes(rows)


def _drop_column(data: bytes, column: str) -> bytes:
    rows = _csv_rows(data)
    i = rows[0].index(column)
    return _csv_bytes([r[:i] + r[i + 1:] for r in rows])


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as f:
        f.write(data)


def _raise_in_targets(exc: BaseException, mp: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise exc

    mp.setattr("harness.cli.targets.targets", boom)


# --- the cases ------------------------------------------------------------------------------------------------

CASES = [
    # plans
    Case("plan-yaml-syntax", lambda t, w, mp: ["run", "--plan", _plan(t, "measure: {runs: [5}\n")],
         ExitCode.USAGE, ("plan.yaml", "invalid YAML", "line")),
    Case("plan-not-utf8", lambda t, w, mp: ["run", "--plan", _plan(t, b"description: caf\xe9\n")],
         ExitCode.USAGE, ("plan.yaml", "not UTF-8", "line 4", "byte offset")),
    Case("plan-runs-zero", lambda t, w, mp: ["run", "--plan", _plan(t, "measure: {runs: 0}\n")],
         ExitCode.USAGE, ("plan.yaml", "measure.runs")),
    Case("plan-runs-absurd", lambda t, w, mp: ["run", "--plan", _plan(t, "measure: {runs: 100000000000000}\n")],
         ExitCode.USAGE, ("plan.yaml", "measure.runs", "1000000")),
    Case("plan-infinite-number", lambda t, w, mp: ["run", "--plan", _plan(t, "reporting: {grid_kg_per_kwh: .inf}\n")],
         ExitCode.USAGE, ("plan.yaml", "reporting.grid_kg_per_kwh", "finite")),
    Case("plan-negative-seed", lambda t, w, mp: ["run", "--plan", _plan(t, "seed: -3\n")],
         ExitCode.USAGE, ("plan.yaml", "'seed'", "greater than or equal to 0")),
    Case("plan-missing", lambda t, w, mp: ["run", "--plan", str(t / "absent.yaml")],
         ExitCode.USAGE, ("absent.yaml", "not found")),
    # options
    Case("runs-zero", lambda t, w, mp: _run("--model", MODEL, "--runs", "0"), ExitCode.USAGE, ("--runs", "1<=x")),
    Case("runs-absurd", lambda t, w, mp: _run("--model", MODEL, "--runs", "100000000000000"),
         ExitCode.USAGE, ("--runs", "1000000")),
    Case("runs-not-integer", lambda t, w, mp: _run("--model", MODEL, "--runs", "1e14"), ExitCode.USAGE, ("--runs",)),
    Case("seed-negative", lambda t, w, mp: _run("--model", MODEL, "--seed", "-1"), ExitCode.USAGE, ("--seed", "0<=x")),
    Case("eval-seed-negative", lambda t, w, mp: ["eval", "--corpus", "builtin:tiny", "--seed", "-1"],
         ExitCode.USAGE, ("--seed",)),
    Case("target-twice", lambda t, w, mp: _run("--model", MODEL, "--target", "mcu"),
         ExitCode.USAGE, ("field 'targets'", "listed more than once: mcu")),
    Case("eval-model-twice",
         lambda t, w, mp: ["eval", "--corpus", "builtin:tiny", "--model", "mww-alexa", "--model", "mww-alexa"],
         ExitCode.USAGE, ("field 'models'", "listed more than once: mww-alexa")),
    Case("unknown-target", lambda t, w, mp: ["run", "--model", MODEL, "--target", "nucleo-xyz"],
         ExitCode.USAGE, ("unknown target 'nucleo-xyz'", "nucleo-l4r5zi")),
    Case("unknown-model", lambda t, w, mp: _run("--model", "no-such-model"),
         ExitCode.USAGE, ("unknown model 'no-such-model'", MODEL)),
    # target profiles
    Case("class-clock-infinite",
         lambda t, w, mp: (_edit_line(_home(t, mp) / "targets/mcu.yaml", "clock_mhz: 120", "clock_mhz: 1e400"),
                           ["predict", "--model", MODEL, "--target", "mcu"])[1],
         ExitCode.USAGE, ("mcu.yaml", "clock_mhz", "finite")),
    Case("class-negative-budget-blamed-on-class",
         lambda t, w, mp: (_edit_line(_home(t, mp) / "targets/mcu.yaml", "latency_ms: 1000", "latency_ms: -1000"),
                           ["targets", "show", "disco-f746ng"])[1],
         ExitCode.USAGE, ("mcu.yaml", "budgets.latency_ms", "class profile 'mcu' is invalid")),
    Case("class-negative-stack-power",
         lambda t, w, mp: (_edit_line(_home(t, mp) / "targets/mcu.yaml", "tflm-cmsis-nn: 52.402", "tflm-cmsis-nn: -52"),
                           ["targets", "list"])[1],
         ExitCode.OK, ("mcu.yaml", "power.active_mw_by_stack.tflm-cmsis-nn", "'disco-f746ng' is not listed: its")),
    Case("broken-profile-spares-the-others",
         lambda t, w, mp: ((_home(t, mp) / "targets/wearable.yaml").write_bytes(b"name: wearable\n\xff\n"),
                           ["predict", "--model", MODEL, "--target", "phone", "--json"])[1],
         ExitCode.OK, ("latency_ms",)),
    Case("targets-list-names-the-broken-file",
         lambda t, w, mp: ((_home(t, mp) / "targets/wearable.yaml").write_bytes(b"name: wearable\n\xff\n"),
                           ["targets", "list"])[1],
         ExitCode.OK, ("wearable.yaml", "not UTF-8", "line 2", "nucleo-l4r5zi")),
    Case("target-not-utf8-when-used",
         lambda t, w, mp: ((_home(t, mp) / "targets/wearable.yaml").write_bytes(b"name: wearable\n\xff\n"),
                           ["targets", "show", "nrf5340-dk"])[1],
         ExitCode.USAGE, ("nrf5340-dk.yaml", "wearable.yaml", "not UTF-8")),
    # models
    Case("model-unpinned", lambda t, w, mp: _run("--model", _entry(t, "mine", artifact={"file": str(w.tflite)})),
         ExitCode.USAGE, ("mine.yaml", "artifact.sha256", "--allow-unpinned")),
    Case("model-name-collision",
         lambda t, w, mp: _run("--model", _entry(t, "mww-alexa", artifact={"file": str(w.tflite)}),
                               "--allow-unpinned"),
         ExitCode.USAGE, ("mww-alexa.yaml", "field 'name'", "already a registered model")),
    Case("model-hash-mismatch",
         lambda t, w, mp: _run("--model", _entry(t, "mine", artifact={"file": str(w.tflite), "sha256": "f" * 64})),
         ExitCode.USAGE, ("sha256 mismatch", "f" * 64)),
    Case("model-wrong-input-shape",
         lambda t, w, mp: _run("--model", _entry(t, "mine", input={"shape": [1, 7, 7, 1], "dtype": "int8"})),
         ExitCode.USAGE, ("mine", "input shape [1, 7, 7, 1]")),
    Case("file-not-a-model",
         lambda t, w, mp: ((t / "notes.tflite").write_text("my notes\n"), _run("--model", str(t / "notes.tflite")))[1],
         ExitCode.USAGE, ("notes.tflite",)),
    Case("model-entry-not-utf8",
         lambda t, w, mp: ((t / "m.yaml").write_bytes(b"name: m\n# \xc3\x28\n"), _run("--model", str(t / "m.yaml")))[1],
         ExitCode.USAGE, ("m.yaml", "not UTF-8", "line 2")),
    Case("broken-model-entry-spares-the-others",
         lambda t, w, mp: ((_home(t, mp) / "models/oww-alexa.yaml").write_text("name: oww-alexa\ntask: [\n"),
                           ["predict", "--model", MODEL, "--target", "mcu", "--json"])[1],
         ExitCode.OK, ("latency_ms",)),
    Case("models-list-names-the-broken-entry",
         lambda t, w, mp: ((_home(t, mp) / "models/oww-alexa.yaml").write_text("name: oww-alexa\ntask: [\n"),
                           ["models", "list"])[1],
         ExitCode.OK, ("oww-alexa.yaml", "invalid YAML", "line 3", "mww-alexa")),
    Case("broken-model-entry-when-used",
         lambda t, w, mp: ((_home(t, mp) / "models/oww-alexa.yaml").write_text("name: oww-alexa\ntask: [\n"),
                           _run("--model", "oww-alexa"))[1],
         ExitCode.USAGE, ("oww-alexa.yaml", "invalid YAML")),
    # plan references and resumption
    Case("plan-policy-missing", lambda t, w, mp: ["run", "--plan", _plan(t, "policy: nope.yaml\n")],
         ExitCode.USAGE, ("plan.yaml", "field 'policy'", "nope.yaml", "not found")),
    Case("resume-not-a-run", lambda t, w, mp: ["run", "--resume", str(t)],
         ExitCode.USAGE, ("not a run directory", "manifest.json")),
    # results folder
    Case("results-is-a-file",
         lambda t, w, mp: ((t / "afile").write_text("x"), _run("--model", MODEL, "--results", str(t / "afile")))[1],
         ExitCode.USAGE, ("--results", "afile", "is a file, not a folder")),
    Case("results-under-a-file",
         lambda t, w, mp: ((t / "afile").write_text("x"), _run("--model", MODEL, "--results", str(t / "afile/sub")))[1],
         ExitCode.USAGE, ("afile", "is a file, not a folder")),
    Case("compare-out-under-a-file",
         lambda t, w, mp: ((t / "afile").write_text("x"), ["compare", str(w.run), str(w.run), "--out",
                                                            str(t / "afile" / "cmp")])[1],
         ExitCode.USAGE, ("afile", "not a folder")),
    # compare and sign-off of run directories
    Case("compare-efficiency-with-eval", lambda t, w, mp: ["compare", str(w.run), str(w.eval_run)],
         ExitCode.USAGE, ("nothing to compare", "efficiency.csv", "fairness.csv")),
    Case("signoff-non-number",
         lambda t, w, mp: ["signoff", _broken_copy(w, t, "efficiency.csv",
                                                   lambda d: _replace_first_number(d, "n_runs"))],
         ExitCode.USAGE, ("efficiency.csv", "column 'n_runs'", "line 2", "'abc' is not a number")),
    Case("signoff-missing-column",
         lambda t, w, mp: ["signoff", _broken_copy(w, t, "efficiency.csv", lambda d: _drop_column(d, "arena_bytes"))],
         ExitCode.USAGE, ("efficiency.csv", "missing", "arena_bytes")),
    Case("signoff-empty-table", lambda t, w, mp: ["signoff", _broken_copy(w, t, "efficiency.csv", lambda d: b"")],
         ExitCode.USAGE, ("efficiency.csv", "not a readable CSV")),
    Case("signoff-not-utf8",
         lambda t, w, mp: ["signoff", _broken_copy(w, t, "efficiency.csv", lambda d: d[:40] + b"\xff" + d[40:])],
         ExitCode.USAGE, ("efficiency.csv", "not UTF-8", "byte offset 40")),
    Case("compare-manifest-not-json",
         lambda t, w, mp: ["compare", str(w.run), _broken_copy(w, t, contract.MANIFEST, lambda d: d[:20])],
         ExitCode.USAGE, ("manifest.json", "not valid JSON", "line 2")),
    Case("signoff-disparity-not-utf8",
         lambda t, w, mp: ["signoff", _broken_copy(w, t, contract.DISPARITY, lambda d: b"\xff" + d, w.eval_run)],
         ExitCode.USAGE, ("disparity.json", "not UTF-8", "byte offset 0")),
    Case("signoff-fairness-json-not-json",
         lambda t, w, mp: ["signoff", _broken_copy(w, t, contract.FAIRNESS.json, lambda d: b"[", w.eval_run)],
         ExitCode.USAGE, ("fairness.json", "not valid JSON")),
    Case("signoff-policy-not-utf8",
         lambda t, w, mp: ((t / "policy.yaml").write_bytes(b"name: p\n\xfe\n"),
                           ["signoff", str(w.run), "--policy", str(t / "policy.yaml")])[1],
         ExitCode.USAGE, ("policy.yaml", "not UTF-8", "line 2")),
    Case("bench-device-timeout-negative",
         lambda t, w, mp: ["bench-device", "--port", "socket://127.0.0.1:1", "--model", MODEL, "--timeout", "-1"],
         ExitCode.USAGE, ("--timeout",)),
    Case("bench-device-seed-negative",
         lambda t, w, mp: ["bench-device", "--port", "socket://127.0.0.1:1", "--model", MODEL, "--seed", "-1"],
         ExitCode.USAGE, ("--seed",)),
    Case("bench-device-count-zero",
         lambda t, w, mp: ["bench-device", "--port", "socket://127.0.0.1:1", "--model", MODEL, "--mode", "accuracy",
                           "--count", "0"],
         ExitCode.USAGE, ("--count",)),
    Case("verify-ledger-not-utf8",
         lambda t, w, mp: (shutil.copytree(w.results, t / "res"),
                           _append(t / "res" / contract.LEDGER, b"\xc3\x28\n"),
                           ["verify", str(t / "res")])[2],
         ExitCode.USAGE, ("ledger.jsonl", "not UTF-8", "line 2")),
    # the user's environment, and a bug
    Case("disk-full",
         lambda t, w, mp: (_raise_in_targets(OSError(errno.ENOSPC, "No space left on device", str(t / "out.csv")), mp),
                           ["targets", "list"])[1],
         ExitCode.USAGE, ("out.csv", "no space left")),
    Case("permission-denied",
         lambda t, w, mp: (_raise_in_targets(PermissionError(errno.EACCES, "Permission denied", str(t / "x")), mp),
                           ["targets", "list"])[1],
         ExitCode.USAGE, ("permission denied",)),
    Case("serial-port-denied",
         lambda t, w, mp: (_raise_in_targets(PermissionError(errno.EACCES, "Permission denied", "/dev/ttyACM7"), mp),
                           ["targets", "list"])[1],
         ExitCode.DEVICE, ("/dev/ttyACM7", "permission denied")),
    Case("internal-error",
         lambda t, w, mp: (_raise_in_targets(ZeroDivisionError("division by zero"), mp), ["targets", "list"])[1],
         ExitCode.INTERNAL, ("internal error", "ZeroDivisionError", "logs", ".log")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_RESULTS", str(world.results))
    before = _fingerprint(world)
    argv = case.setup(tmp_path, world, monkeypatch)
    code, out = _harness(*argv)
    assert code == case.code, out
    assert "Traceback" not in out
    for text in case.expect:
        assert text in out, f"{text!r} not in:\n{out}"
    assert _fingerprint(world) == before


def test_an_internal_error_writes_its_traceback_to_the_log_it_names(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    _raise_in_targets(ZeroDivisionError("division by zero"), monkeypatch)
    code, out = _harness("targets", "list")
    assert code == ExitCode.INTERNAL and "Traceback" not in out
    logs = list((tmp_path / "cache" / "logs").glob("*.log"))
    assert len(logs) == 1 and str(logs[0]) in out
    text = logs[0].read_text(encoding="utf-8")
    assert "Traceback" in text and "ZeroDivisionError: division by zero" in text and "boom" in text


def test_odd_file_and_folder_names_work(world: World, tmp_path: Path) -> None:
    """Spaces and brackets in a model file name and in --results are ordinary names."""
    model = tmp_path / "my model [v2] (1).tflite"
    shutil.copy(world.tflite, model)
    results = tmp_path / "res [a]"
    run = _run_dir(*_run("--model", str(model), "--results", str(results)))
    assert run.parent == results and (run / contract.EFFICIENCY.csv).is_file()
    assert "my-model-v2-1" in (run / contract.EFFICIENCY.csv).read_text(encoding="utf-8")


def test_allow_unpinned_runs_and_the_manifest_says_so(world: World, tmp_path: Path) -> None:
    import json

    entry = _entry(tmp_path, "mine", artifact={"file": str(world.tflite)})
    run = _run_dir(*_run("--model", entry, "--allow-unpinned", "--results", str(tmp_path / "res")))
    manifest = json.loads((run / contract.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["allow_unpinned"] is True
    assert manifest["unpinned_artifacts"] == {"mine": ["artifact"]}
    assert manifest["models"][0]["sha256"] == hashlib.sha256(world.tflite.read_bytes()).hexdigest()


def test_the_help_and_the_readme_show_the_exit_code_table() -> None:
    code, out = _harness("--help")
    readme = (project_root() / "README.md").read_text(encoding="utf-8")
    assert code == 0
    for member in ExitCode:
        assert f"\n    {int(member):<3} " in out
        assert f"| {int(member)} |" in readme
