"""The pytest plugin: one test item per sign-off gate, outcomes and JUnit XML matching signoff.json.

The inner sessions run in subprocesses: in-process, pytester would unload numpy between them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow  # each inner session is a subprocess that runs a plan

PLAN = {"name": "gate-check", "models": ["mww-okay-nabu"], "targets": ["mcu"], "measure": {"warmup": 2, "runs": 20},
        "seed": 3}


@pytest.fixture
def plan(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "gate-check.yaml"
    path.write_text(yaml.safe_dump(PLAN))
    return path


def run_dirs(results: Path) -> list[Path]:
    return sorted(p.parent for p in results.glob("*/signoff.json"))


def junit_cases(path: Path) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.parse(path).getroot().iter("testcase")}


def test_one_item_per_gate_and_junit_matching_signoff(pytester: pytest.Pytester, plan: Path) -> None:
    results, xml = pytester.path / "results", pytester.path / "gates.xml"
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--edge-plan", str(plan),
                                            "--edge-results", str(results), f"--junitxml={xml}")
    (run_dir,) = run_dirs(results)
    signoff = json.loads((run_dir / "signoff.json").read_text())
    gates = {g["id"]: g for g in signoff["gates"]}
    by_status = {s: sorted(i for i, g in gates.items() if g["status"] == s)
                 for s in ("PASS", "WAIVED", "FAIL", "INSUFFICIENT_EVIDENCE")}
    assert by_status["FAIL"] or by_status["INSUFFICIENT_EVIDENCE"]  # the case must exercise more than passes
    outcome.assert_outcomes(passed=len(by_status["PASS"]) + len(by_status["WAIVED"]), failed=len(by_status["FAIL"]),
                            skipped=len(by_status["INSUFFICIENT_EVIDENCE"]))

    cases = junit_cases(xml)
    assert sorted(cases) == sorted(gates)
    failed = sorted(n for n, c in cases.items() if c.find("failure") is not None)
    skipped = sorted(n for n, c in cases.items() if c.find("skipped") is not None)
    assert failed == by_status["FAIL"]
    assert skipped == by_status["INSUFFICIENT_EVIDENCE"]
    for name in failed:
        assert gates[name]["reason"] in cases[name].find("failure").get("message", "")
    for name in skipped:
        assert gates[name]["reason"] in cases[name].find("skipped").get("message", "")


def test_a_marked_test_names_the_plan_and_the_plan_runs_once(pytester: pytest.Pytester, plan: Path) -> None:
    pytester.makepyfile(test_board="""
        import pytest

        @pytest.mark.edge_plan("gate-check.yaml")
        def test_release_gates():
            raise AssertionError("the body of a marked test is not run")

        def test_ordinary():
            assert 1 + 1 == 2
    """)
    results = pytester.path / "results"
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--edge-plan", str(plan),
                                            "--edge-results", str(results), "-rA")
    (run_dir,) = run_dirs(results)  # the marker and the option name one plan: one run
    gates = json.loads((run_dir / "signoff.json").read_text())["gates"]
    counts = outcome.parseoutcomes()
    assert sum(counts.get(k, 0) for k in ("passed", "failed", "skipped")) == 2 * len(gates) + 1
    passed = next(g["id"] for g in gates if g["status"] == "PASS")  # the summary names passed items by node id
    outcome.stdout.fnmatch_lines([f"*test_board.py::test_release_gates::{passed}*"])


def test_a_plan_that_cannot_run_is_a_clean_collection_error(pytester: pytest.Pytester) -> None:
    bad = pytester.path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**PLAN, "targets": ["nucleo-xyz"]}))
    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--edge-plan", str(bad),
                                            "--edge-results", str(pytester.path / "results"))
    assert outcome.ret != 0
    outcome.stdout.fnmatch_lines(["*unknown target 'nucleo-xyz'*", "*hint: known targets:*"])
    assert "Traceback" not in outcome.stdout.str()
