"""Device profiles in targets/*.yaml: they load, inherit budgets, cite their numbers, and fail loudly."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
import yaml

import harness.costmodel
from harness.core.errors import ConfigError
from harness.registry.targets import STACKS, ProfileKind, TargetRegistry

TARGETS = Path(__file__).resolve().parents[1] / "targets"
MLPERF_CSV = Path(harness.costmodel.__file__).parent / "data" / "mlperf_tiny_results.csv"

CLASSES = ("phone", "mcu", "embedded_camera", "wearable")
BOARDS = {
    "nucleo-l4r5zi": "mcu",
    "nucleo-u575zi": "mcu",
    "nucleo-h7a3zi": "mcu",
    "nucleo-u385rg": "mcu",
    "nucleo-g0b1re": "mcu",
    "disco-f746ng": "mcu",
    "ek-ra6m4": "mcu",
    "ek-ra8d1": "mcu",
    "nrf5340-dk": "wearable",
    "efr32xg24-dk": "mcu",
    "esp32-s3": "mcu",
    "esp32-s3-eye": "embedded_camera",
    "rpi4-camera": "embedded_camera",
    "pixel-7-tensor-g2": "phone",
}
MCU_CORES = {"cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "cortex-m85",
             "xtensa-lx7"}
APP_CORES = {"cortex-a53", "cortex-a72", "cortex-a76", "cortex-a78", "cortex-x"}
# Class budgets of docs/sources.md, "Target class budgets".
CLASS_BUDGETS = {
    "phone": (100, 5000),
    "mcu": (1000, 100),
    "embedded_camera": (33, 1000),
    "wearable": (500, 500),
}
L4R5_REFERENCE_MW = 7373.704 / 181.917  # MLPerf Tiny v0.5 reference row: energy uJ / latency ms


@pytest.fixture(scope="module")
def registry() -> TargetRegistry:
    return TargetRegistry(TARGETS)


@pytest.fixture()
def tmp_targets(tmp_path: Path) -> Path:
    """A private copy of the real targets/ directory for tests that break a profile."""
    copy = tmp_path / "targets"
    shutil.copytree(TARGETS, copy)
    return copy


def _edit(path: Path, **changes: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


# --- the real profiles ---------------------------------------------------------------------------


def test_registry_loads_every_file(registry: TargetRegistry) -> None:
    files = sorted(TARGETS.glob("*.yaml"))
    assert len(registry.names()) == len(files)
    assert {p.source_file for p in registry.all()} == {str(f) for f in files}


def test_four_classes_exist_with_their_budgets(registry: TargetRegistry) -> None:
    for name in CLASSES:
        profile = registry.get(name)
        assert profile.kind is ProfileKind.cls
        assert profile.target_class.value == name
        latency, power = CLASS_BUDGETS[name]
        assert profile.budgets.latency_ms == latency
        assert profile.budgets.power_mw == power
        assert "docs/sources.md#target-class-budgets" in profile.sources["budgets.latency_ms"]
        assert "docs/sources.md#target-class-budgets" in profile.sources["budgets.power_mw"]
    classes = {p.name for p in registry.all() if p.kind is ProfileKind.cls}
    assert classes == set(CLASSES)


def test_phone_class_notes_the_sustained_figure(registry: TargetRegistry) -> None:
    assert "3 W sustained" in registry.get("phone").description


@pytest.mark.parametrize("name,cls", sorted(BOARDS.items()))
def test_every_listed_board_exists_in_its_class(registry: TargetRegistry, name: str, cls: str) -> None:
    board = registry.get(name)
    assert board.kind is ProfileKind.board
    assert board.target_class.value == cls
    assert board.is_simulated and board.link.url == f"sim://{name}"
    assert board.link.baud == 115200


def test_every_board_inherits_budgets_from_its_class(registry: TargetRegistry) -> None:
    for board in registry.all():
        if board.kind is not ProfileKind.board:
            continue
        cls = registry.get(board.target_class.value)
        assert cls.kind is ProfileKind.cls
        raw = yaml.safe_load(Path(board.source_file).read_text(encoding="utf-8"))
        if "budgets" not in raw:
            assert board.budgets == cls.budgets
            assert "(inherited from" in board.sources["budgets.latency_ms"]


def test_l4r5zi_inherits_the_mcu_latency_budget(registry: TargetRegistry) -> None:
    assert registry.get("nucleo-l4r5zi").budgets.latency_ms == registry.get("mcu").budgets.latency_ms == 1000


def test_l4r5zi_reference_power_is_the_mlperf_reference_row(registry: TargetRegistry) -> None:
    board = registry.get("nucleo-l4r5zi")
    assert board.power.active_for("tflm-reference") == pytest.approx(L4R5_REFERENCE_MW, rel=1e-4)
    mcu = registry.get("mcu")
    assert mcu.default_stack == "tflm-reference"
    assert mcu.power.active_mw == pytest.approx(L4R5_REFERENCE_MW, rel=1e-4)


def _mlperf_rows() -> dict[tuple[str, str, str, str], tuple[float, float]]:
    text = MLPERF_CSV.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    return {(r["version"], r["submitter"], r["board"], r["stack"]):
            (float(r["energy_uj"]), float(r["latency_ms"]))
            for r in csv.DictReader(lines) if r["task"] == "kws" and r["energy_uj"]}


_ROW = re.compile(r"row v(?P<version>[\d.]+) (?P<submitter>\S+) (?P<board>\S+) (?P<stack>\S+) kws[^:]*: "
                  r"(?P<energy>[\d.]+) uJ / (?P<latency>[\d.]+) ms = (?P<mw>[\d.]+) mW")


def test_every_cited_mlperf_power_matches_its_row(registry: TargetRegistry) -> None:
    rows = _mlperf_rows()
    checked = 0
    for profile in registry.all():
        for field, source in profile.sources.items():
            match = _ROW.search(source)
            if not match or not field.startswith("power.active_mw"):
                continue
            key = (match["version"], match["submitter"], match["board"], match["stack"])
            assert key in rows, f"{profile.name} {field} cites a row not in the MLPerf file: {key}"
            energy, latency = rows[key]
            assert (float(match["energy"]), float(match["latency"])) == (energy, latency)
            value = (profile.power.active_mw if field == "power.active_mw"
                     else profile.power.active_mw_by_stack[field.rsplit(".", 1)[1]])
            assert value == pytest.approx(energy / latency, rel=1e-4), f"{profile.name} {field}"
            checked += 1
    assert checked >= 10


def test_cores_and_stacks_are_consistent(registry: TargetRegistry) -> None:
    for p in registry.all():
        assert p.core in MCU_CORES | APP_CORES, p.name
        assert set(p.stacks) <= set(STACKS)
        if p.core in APP_CORES:
            assert p.stacks == ["litert-xnnpack"], p.name
        else:
            assert "tflm-reference" in p.stacks, p.name
            assert "litert-xnnpack" not in p.stacks, p.name
        if "esp-nn" in p.stacks:
            assert p.core == "xtensa-lx7", p.name
        if "tflm-cmsis-nn" in p.stacks:
            assert p.core.startswith("cortex-m"), p.name
        if "x-cube-ai" in p.stacks:
            assert p.name.startswith(("nucleo-", "disco-")), p.name
        assert set(p.power.active_mw_by_stack) <= set(p.stacks), p.name
        assert p.power.active_mw_by_stack.get(p.default_stack, p.power.active_mw) == p.power.active_mw


def test_every_number_has_a_nonempty_source_and_files_say_what_they_are(registry: TargetRegistry) -> None:
    for p in registry.all():
        assert all(text.strip() for text in p.sources.values()), p.name
        first = Path(p.source_file).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# "), f"{p.source_file}: start with a comment saying what the device is"


def test_lpm01a_examples_on_the_mlperf_energy_boards(registry: TargetRegistry) -> None:
    monitored = {p.name for p in registry.all() if p.power_monitor is not None}
    assert monitored == {"nucleo-l4r5zi", "nucleo-u575zi", "nucleo-h7a3zi"}
    for name in monitored:
        p = registry.get(name)
        assert p.power_monitor.kind == "lpm01a"
        assert p.power_monitor.voltage == p.power.supply_v


# --- errors --------------------------------------------------------------------------------------


def test_bad_yaml_names_file_and_line(tmp_targets: Path) -> None:
    bad = tmp_targets / "broken-board.yaml"
    bad.write_text("name: broken-board\nkind: board\nstacks: [tflm-reference\nclass: mcu\n", encoding="utf-8")
    registry = TargetRegistry(tmp_targets)
    assert "broken-board" in registry.broken and "mcu" in registry.names()  # the others still load
    with pytest.raises(ConfigError) as err:
        registry.get("broken-board")
    message = str(err.value)
    assert "broken-board.yaml" in message
    assert re.search(r"line \d+", message)


def test_unknown_stack_lists_valid_stacks(tmp_targets: Path) -> None:
    _edit(tmp_targets / "nucleo-u385rg.yaml", stacks=["tflm-reference", "tvm-magic"],
          default_stack="tflm-reference")
    with pytest.raises(ConfigError) as err:
        TargetRegistry(tmp_targets).get("nucleo-u385rg")
    message = str(err.value)
    assert "nucleo-u385rg.yaml" in message
    assert "unknown stack" in message and "tvm-magic" in message
    assert all(stack in message for stack in STACKS)


def test_default_stack_outside_stacks_is_rejected(tmp_targets: Path) -> None:
    _edit(tmp_targets / "nucleo-u385rg.yaml", default_stack="esp-nn")
    with pytest.raises(ConfigError, match="default_stack 'esp-nn'"):
        TargetRegistry(tmp_targets).get("nucleo-u385rg")


def test_number_without_source_names_the_missing_source(tmp_targets: Path) -> None:
    _edit(tmp_targets / "ek-ra6m4.yaml", sources__clock_mhz=None)
    with pytest.raises(ConfigError) as err:
        TargetRegistry(tmp_targets).get("ek-ra6m4")
    assert "ek-ra6m4.yaml" in str(err.value)
    assert "sources" in str(err.value) and "clock_mhz" in str(err.value)


def test_per_stack_power_without_source_is_rejected(tmp_targets: Path) -> None:
    by_stack = {"x-cube-ai": 25.74, "tflm-reference": 30}
    _edit(tmp_targets / "nucleo-u575zi.yaml", power__active_mw_by_stack=by_stack)
    with pytest.raises(ConfigError, match=r"power\.active_mw_by_stack\.tflm-reference"):
        TargetRegistry(tmp_targets).get("nucleo-u575zi")


def test_board_whose_class_profile_is_missing(tmp_targets: Path) -> None:
    (tmp_targets / "wearable.yaml").unlink()
    with pytest.raises(ConfigError) as err:
        TargetRegistry(tmp_targets).get("nrf5340-dk")
    assert "nrf5340-dk.yaml" in str(err.value)
    assert "no class profile named 'wearable'" in str(err.value)


def test_board_naming_an_unknown_class(tmp_targets: Path) -> None:
    _edit(tmp_targets / "esp32-s3.yaml", **{"class": "toaster"})
    with pytest.raises(ConfigError, match="toaster"):
        TargetRegistry(tmp_targets).get("esp32-s3")


def test_unknown_target_lists_known_names(registry: TargetRegistry) -> None:
    with pytest.raises(ConfigError) as err:
        registry.get("nucleo-l4r5")
    message = str(err.value)
    assert "unknown target 'nucleo-l4r5'" in message
    assert "nucleo-l4r5zi" in message and "mcu" in message


def test_duplicate_names_are_rejected(tmp_targets: Path) -> None:
    shutil.copy(tmp_targets / "nucleo-u385rg.yaml", tmp_targets / "zz-copy.yaml")
    with pytest.raises(ConfigError) as err:
        TargetRegistry(tmp_targets).get("nucleo-u385rg")
    message = str(err.value)
    assert "nucleo-u385rg" in message and "already defined" in message
    assert "zz-copy.yaml" in message and "nucleo-u385rg.yaml" in message


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        TargetRegistry(tmp_path / "nope")


def test_unknown_core_is_rejected_with_the_valid_list(tmp_path) -> None:
    for f in TARGETS.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / "nucleo-g0b1re.yaml"
    path.write_text(path.read_text().replace("core: cortex-m0plus", "core: cortex-m0"))
    with pytest.raises(ConfigError, match=r"field 'core': .*unknown core 'cortex-m0'.*cortex-m0plus"):
        TargetRegistry(tmp_path).get("nucleo-g0b1re")


def test_a_board_inherits_its_class_battery() -> None:
    reg = TargetRegistry(TARGETS)
    assert reg.get("nrf5340-dk").battery_mwh == reg.get("wearable").battery_mwh == 1110
    assert "inherited from wearable.yaml" in reg.get("nrf5340-dk").sources["battery_mwh"]
