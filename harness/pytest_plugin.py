"""pytest plugin: a plan's sign-off gates as test items, so ``pytest --junitxml`` carries them into any CI dashboard.

``pytest --edge-plan plans/x.yaml`` (or a test function marked ``@pytest.mark.edge_plan("plans/x.yaml")``) runs
the plan once per session, while collecting (the gates are known only once it ran), and yields one item per gate:
PASS and WAIVED pass, FAIL fails with the gate's reason, INSUFFICIENT_EVIDENCE is skipped with its reason.
Registered as a ``pytest11`` entry point; the harness itself is imported only when a plan is asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

MARKER = "edge_plan"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("edge-harness", "edge-harness sign-off gates as tests")
    group.addoption("--edge-plan", action="append", default=[], metavar="PLAN",
                    help="run this plan once and collect one test per sign-off gate (repeatable)")
    group.addoption("--edge-results", default=None, metavar="DIR",
                    help="where the plans' run directories go (default: $HARNESS_RESULTS, else ./results)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(plan): run the plan once and collect one test per sign-off gate "
                                       "(the marked function names the plan; its body is not run)")
    config.stash[_RUNS] = {}


_RUNS = pytest.StashKey[dict[Path, Path]]()


class GateFailed(Exception):
    """A gate whose whole interval is beyond its threshold."""


class PlanRunError(Exception):
    """The plan could not run: the harness's own message and hint, without a traceback."""


def run_once(config: pytest.Config, plan_path: Path) -> Path:
    """The run directory of ``plan_path``, running it the first time it is asked for in this session."""
    runs = config.stash[_RUNS]
    key = plan_path.resolve()
    if key not in runs:
        from harness.core.errors import HarnessError
        from harness.core.paths import model_dirs, results_dir, target_dirs
        from harness.registry.models import ModelRegistry
        from harness.registry.plans import load_plan
        from harness.registry.targets import TargetRegistry
        from harness.runs.runner import Context, run_plan

        option = config.getoption("edge_results")
        results = Path(option) if option else results_dir()
        try:
            context = Context(ModelRegistry(model_dirs()), TargetRegistry(target_dirs()), results)
            runs[key] = run_plan(load_plan(plan_path), context)
        except HarnessError as exc:
            raise PlanRunError(f"{plan_path}: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else "")) \
                from None
    return runs[key]


def signoff_of(run_dir: Path) -> dict[str, Any]:
    from harness.rundir import contract

    path = run_dir / contract.SIGNOFF
    if not path.is_file():
        raise PlanRunError(f"{run_dir}: the run wrote no {contract.SIGNOFF} (a plan without targets or corpus "
                           "has no gates)")
    return json.loads(path.read_text(encoding="utf-8"))


class PlanGates(pytest.Collector):
    """The gates of one plan's sign-off, collected by running the plan."""

    def __init__(self, *, plan_path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan_path = plan_path

    def collect(self) -> list[GateItem]:
        run_dir = run_once(self.config, self.plan_path)
        record = signoff_of(run_dir)
        return [GateItem.from_parent(self, name=gate["id"], gate=gate, run_dir=run_dir) for gate in record["gates"]]

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, PlanRunError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)  # type: ignore[return-value]


class GateItem(pytest.Item):
    """One sign-off gate as a test: its status decides the outcome, its reason is the message."""

    fixturenames: tuple[str, ...] = ()  # none; plugins that read every item's fixtures (labgrid's) see that

    def __init__(self, *, gate: dict[str, Any], run_dir: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.run_dir = run_dir
        self.user_properties += [("status", gate["status"]), ("run_dir", str(run_dir))]
        if gate["status"] == "INSUFFICIENT_EVIDENCE":  # a skip marker: reported at the gate, not in this module
            self.add_marker(pytest.mark.skip(reason=describe(gate)))

    def runtest(self) -> None:
        if self.gate["status"] == "FAIL":
            raise GateFailed(describe(self.gate))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        if isinstance(excinfo.value, GateFailed):
            return f"{excinfo.value}\n  details: {self.run_dir / 'signoff.md'}"
        return super().repr_failure(excinfo)  # type: ignore[return-value]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"gate {self.gate['id']}"  # the plan file (line numbers are 0-based here)


def describe(gate: dict[str, Any]) -> str:
    """The gate's status and reason, as signoff.md states them."""
    return f"{gate['status']}: {gate['reason']}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Gates of the --edge-plan plans, appended after the collected tests."""
    for plan in config.getoption("edge_plan"):
        plan_path = Path(plan)
        nodeid = _relative(plan_path.resolve(), config.rootpath)  # like a test file: "plans/x.yaml::<gate id>"
        collector = PlanGates.from_parent(session, name=nodeid, nodeid=nodeid, path=plan_path.resolve(),
                                          plan_path=plan_path)
        report = collector.ihook.pytest_make_collect_report(collector=collector)
        collector.ihook.pytest_collectreport(report=report)
        if report.passed:
            items.extend(report.result)  # type: ignore[arg-type]


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else path.as_posix()


def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object) -> PlanGates | None:
    """A test function marked ``edge_plan(path)`` becomes the gates of that plan (path relative to rootdir)."""
    marks = [m for m in getattr(obj, "pytestmark", []) if getattr(m, "name", None) == MARKER]
    if not marks or not callable(obj):
        return None
    plan = Path(marks[0].args[0])
    plan_path = plan if plan.is_absolute() else Path(collector.config.rootpath) / plan
    return PlanGates.from_parent(collector, name=name, path=plan_path, plan_path=plan_path)
