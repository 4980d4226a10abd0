"""A user's own targets: a profile file on the command line, --targets-dir, and [tool.edge-harness] in pyproject.toml;
results under the working directory; every environment variable documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from harness.analysis import analyze
from harness.cli import cli
from harness.core.paths import SHIPPED, checkout_root, results_dir, targets_dir
from harness.costmodel.model import default_cost_model
from harness.registry.models import ModelRegistry
from harness.registry.targets import TargetRegistry

README = Path(__file__).resolve().parents[1] / "README.md"

BOARD = {
    "name": "my-board",
    "kind": "board",
    "class": "mcu",
    "description": "a bench board of the user's own",
    "core": "cortex-m33",
    "clock_mhz": 64,
    "sram_kb": 256,
    "flash_kb": 1024,
    "stacks": ["tflm-reference"],
    "default_stack": "tflm-reference",
    "power": {"supply_v": 3.3, "active_mw": 12.5, "idle_mw": 0.01},
    "sources": {k: "the user's own measurement" for k in
                ("clock_mhz", "sram_kb", "flash_kb", "power.supply_v", "power.active_mw", "power.idle_mw")},
}


def harness(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def board_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "boards"
    folder.mkdir()
    (folder / "my-board.yaml").write_text(yaml.safe_dump(BOARD))
    return folder


def test_a_profile_path_works_like_a_model_path(board_dir: Path) -> None:
    code, out, err = harness("predict", "--model", "mww-okay-nabu", "--target", str(board_dir / "my-board.yaml"),
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    profile = TargetRegistry([targets_dir(), board_dir]).get("my-board")
    entry = ModelRegistry(SHIPPED / "models").get("mww-okay-nabu")
    expected = default_cost_model().predict(analyze(entry.artifact_path()), profile, None)
    assert result["target"] == "my-board"
    assert result["latency_ms"] == expected.latency.ms
    assert result["energy_mj"] == pytest.approx(12.5 * expected.latency.ms / 1000, rel=1e-12)


def test_a_board_of_ones_own_inherits_its_class_budgets(board_dir: Path) -> None:
    code, out, _ = harness("targets", "show", str(board_dir / "my-board.yaml"))
    shown = yaml.safe_load(out)
    mcu = yaml.safe_load((targets_dir() / "mcu.yaml").read_text())
    assert code == 0
    assert shown["budgets"] == mcu["budgets"]
    assert shown["clock_mhz"] == 64
    assert "inherited from mcu.yaml" in shown["sources"]["budgets.latency_ms"]


def test_targets_dir_adds_profiles_by_name(board_dir: Path) -> None:
    code, out, err = harness("targets", "list", "--json", "--targets-dir", str(board_dir))
    assert code == 0, err
    names = [p["name"] for p in json.loads(out)]
    assert "my-board" in names and "mcu" in names


def test_pyproject_table_adds_folders(board_dir: Path, monkeypatch) -> None:
    project = board_dir.parent
    (project / "pyproject.toml").write_text('[project]\nname = "kws-firmware"\n\n'
                                            '[tool.edge-harness]\ntargets = ["boards"]\n')
    sub = project / "firmware" / "src"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)  # found from any folder below the pyproject.toml
    code, out, err = harness("targets", "list", "--json")
    assert code == 0, err
    assert "my-board" in [p["name"] for p in json.loads(out)]


def test_a_bad_pyproject_table_is_a_clean_error(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.edge-harness]\nboards = ["boards"]\n')
    monkeypatch.chdir(tmp_path)
    code, _, err = harness("targets", "list")
    assert code == 2
    assert "tool.edge-harness.boards" in err and "valid: targets, models, plans" in err
    (tmp_path / "pyproject.toml").write_text('[tool.edge-harness]\ntargets = ["absent"]\n')
    code, _, err = harness("targets", "list")
    assert code == 2 and "folder not found" in err and "absent" in err


def test_a_name_defined_twice_is_a_clean_error(board_dir: Path) -> None:
    (board_dir / "mcu-copy.yaml").write_text((targets_dir() / "mcu.yaml").read_text())
    code, _, err = harness("targets", "list", "--targets-dir", str(board_dir))
    assert code == 0  # the listing goes on and names the clash; only a command using 'mcu' stops
    assert "target 'mcu' is already defined" in err and "Traceback" not in err
    code, _, err = harness("predict", "--model", "mww-alexa", "--target", "mcu", "--targets-dir", str(board_dir))
    assert code == 2 and "target 'mcu' is already defined" in err and "Traceback" not in err


def test_results_go_under_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HARNESS_RESULTS")
    monkeypatch.chdir(tmp_path)
    assert results_dir() == tmp_path / "results"
    monkeypatch.setenv("HARNESS_RESULTS", str(tmp_path / "elsewhere"))
    assert results_dir() == tmp_path / "elsewhere"


def test_the_checkout_folders_are_the_shipped_data() -> None:
    root = checkout_root()
    assert root is not None
    for kind in ("targets", "models", "plans"):
        assert (root / kind).resolve() == (SHIPPED / kind).resolve()
    assert (SHIPPED / "plans" / "policy-default.yaml").is_file()


def test_every_environment_variable_is_documented() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (SHIPPED.parent).rglob("*.py"))
    used = set(re.findall(r"\b(?:EDGE_)?HARNESS_[A-Z_]+\b", source)) - {"HARNESS_UPDATE_GOLDEN"}
    readme = README.read_text(encoding="utf-8")
    assert {"HARNESS_HOME", "HARNESS_CACHE", "HARNESS_RESULTS", "HARNESS_PSEUDONYM_SALT"} <= used
    assert sorted(v for v in used if f"`{v}`" not in readme) == []


def test_a_plan_is_found_by_name_in_the_plan_folders(tmp_path: Path, monkeypatch) -> None:
    from harness.cli.common import plan_file

    (tmp_path / "bench-plans").mkdir()
    (tmp_path / "bench-plans" / "nightly.yaml").write_text("name: nightly\nmodels: [mww-okay-nabu]\n")
    (tmp_path / "pyproject.toml").write_text('[tool.edge-harness]\nplans = "bench-plans"\n')
    monkeypatch.chdir(tmp_path)
    assert plan_file(Path("nightly")) == tmp_path / "bench-plans" / "nightly.yaml"
    assert plan_file(Path("demo")) == SHIPPED / "plans" / "demo.yaml"
    assert plan_file(Path("nightly.yaml")) == Path("nightly.yaml")  # a path stays a path (and its error names it)
