"""Where a run computes is not what it measures: the plan's ``scheduler`` reaches the evaluation, stays out of
manifests of local runs, and a resumed run may move between a cluster and this machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cluster.client import scheduler_or_none
from harness.core.errors import ConfigError
from harness.registry.plans import Plan, load_plan
from harness.runs.manifest import build_manifest
from harness.runs.resume import _differences
from harness.runs.settings import eval_settings


def test_a_plan_names_its_scheduler_and_the_evaluation_uses_it(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("name: p\nmodels: [mww-alexa]\ncorpus: builtin:tiny\nscheduler: tcp://127.0.0.1:8786\n")
    assert eval_settings(load_plan(path)).scheduler == "tcp://127.0.0.1:8786"
    path.write_text("name: p\nmodels: [mww-alexa]\n")
    assert eval_settings(load_plan(path)).scheduler is None


@pytest.mark.parametrize(("given", "expected"), [(None, None), ("local", None), ("", None),
                                                 ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786")])
def test_local_means_this_machine(given: str | None, expected: str | None) -> None:
    assert scheduler_or_none(given) == expected


def test_a_local_runs_manifest_has_no_scheduler_and_a_cluster_runs_names_it() -> None:
    local = Plan(name="p", models=["m"])
    assert "scheduler" not in build_manifest("r", local, [], [], {})["plan"]
    remote = local.model_copy(update={"scheduler": "tcp://127.0.0.1:8786"})
    assert build_manifest("r", remote, [], [], {})["plan"]["scheduler"] == "tcp://127.0.0.1:8786"


def test_resuming_on_another_cluster_or_here_is_not_a_change_of_plan() -> None:
    started = build_manifest("r", Plan(name="p", models=["m"], scheduler="tcp://127.0.0.1:8786"), [], [], {})["plan"]
    for now in (None, "tcp://127.0.0.1:9000"):
        assert _differences(started, Plan(name="p", models=["m"], scheduler=now).model_dump(), ()) == []
    changed = Plan(name="p", models=["m"], seed=1).model_dump()
    assert _differences(started, changed, ()) == ["plan field 'seed': the run has 0, this command gives 1"]


def test_a_scheduler_without_distributed_installed_says_what_to_install(monkeypatch) -> None:
    import builtins

    real = builtins.__import__

    def no_distributed(name, *args, **kwargs):
        if name == "distributed" or name.startswith("distributed."):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_distributed)
    from harness.cluster.client import require_distributed

    with pytest.raises(ConfigError) as caught:
        require_distributed()
    assert caught.value.hint == "pip install 'edge-harness[cluster]'"


def test_a_worker_that_cannot_reach_the_corpus_or_models_says_which(tmp_path: Path) -> None:
    from harness import __version__
    from harness.evaluation.sharded import worker_problems

    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    assert worker_problems(str(tmp_path), [str(model)], __version__) == []
    assert worker_problems(str(tmp_path / "corpus"), [str(model), str(tmp_path / "gone.tflite")], "0.0.0") == [
        f"no corpus folder {tmp_path / 'corpus'}", f"no model file {tmp_path / 'gone.tflite'}",
        f"edge-harness {__version__}, the controller 0.0.0"]
