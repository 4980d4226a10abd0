"""Devices declare capabilities; the runner asks for one and gets the device or an error saying what would add it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.errors import ConfigError, DeviceError
from harness.core.paths import targets_dir
from harness.devices.capabilities import EnergyMeter, Inference, LatencyMeter
from harness.devices.factory import DeviceSettings, open_device
from harness.devices.serial_dut import SerialDutDevice
from harness.devices.sim import SimulatedDevice
from harness.registry.resources import Link, MonitorSpec
from harness.registry.targets import TargetRegistry
from harness.rundir.directory import RunDirectory

TARGETS = TargetRegistry(targets_dir())
MCU = TARGETS.get("mcu")


def attached(url: str, monitor: MonitorSpec | None = None):
    return MCU.model_copy(update={"link": Link(url=url), "power_monitor": monitor})


def test_the_simulated_device_measures_latency_and_energy_but_runs_no_given_inputs(tmp_path: Path) -> None:
    device = open_device(MCU, RunDirectory(tmp_path), DeviceSettings())
    assert isinstance(device, SimulatedDevice)
    assert device.capabilities() == [LatencyMeter, EnergyMeter]
    assert device.require(EnergyMeter) is device
    with pytest.raises(ConfigError) as info:
        device.require(Inference)
    assert info.value.message == ("target 'mcu' (sim://mcu) cannot run inference on given inputs "
                                  "(it can: measure latency, measure energy per inference)")


def test_a_serial_dut_offers_energy_only_with_a_monitor_and_says_how_to_add_one(tmp_path: Path) -> None:
    performance = open_device(attached("socket://127.0.0.1:1"), RunDirectory(tmp_path), DeviceSettings())
    assert isinstance(performance, SerialDutDevice)
    assert performance.capabilities() == [LatencyMeter, Inference]
    with pytest.raises(ConfigError, match=r"cannot measure energy per inference \(it can: measure latency, run") as e:
        performance.require(EnergyMeter)
    assert "power monitor" in (e.value.hint or "")
    energy = open_device(attached("socket://127.0.0.1:1", MonitorSpec(kind="sim", url="socket://127.0.0.1:2")),
                         RunDirectory(tmp_path), DeviceSettings())
    assert energy.capabilities() == [EnergyMeter, Inference]
    with pytest.raises(ConfigError, match="cannot measure latency"):
        energy.require(LatencyMeter)


@pytest.mark.parametrize("url", ["/dev/ttyACM0", "COM3", "socket://127.0.0.1:4000", "rfc2217://lab:2217",
                                 "spy:///dev/ttyACM0", "loop://"])
def test_serial_ports_and_pyserial_urls_open_the_serial_dut(tmp_path: Path, url: str) -> None:
    assert isinstance(open_device(attached(url), RunDirectory(tmp_path), DeviceSettings()), SerialDutDevice)


def test_an_unknown_scheme_is_named_with_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="link URL 'gopher://lab' has an unknown scheme 'gopher'") as info:
        open_device(attached("gopher://lab"), RunDirectory(tmp_path), DeviceSettings())
    assert "sim://" in (info.value.hint or "") and "socket://" in (info.value.hint or "")


def test_a_capability_before_deploy_names_the_state(tmp_path: Path) -> None:
    device = open_device(attached("loop://"), RunDirectory(tmp_path), DeviceSettings())
    with pytest.raises(DeviceError, match=r"infer\(\) called in state 'idle'; it needs deployed"):
        device.require(Inference).infer(None)  # type: ignore[arg-type]


def test_devices_lists_ssh_boards_named_in_profiles_and_probes_only_when_asked(monkeypatch: pytest.MonkeyPatch,
                                                                                tmp_path: Path) -> None:
    import json
    import socket

    from click.testing import CliRunner

    from harness.cli import _register, cli
    from harness.cli import devices as devices_cli
    from harness.devices import discovery

    _register()
    listening = socket.create_server(("127.0.0.1", 0))
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    boards = [MCU.model_copy(update={"name": "pi-up", "link": Link(url=f"ssh://pi@127.0.0.1:{listening.getsockname()[1]}"
                                                                      "?host_key=accept-new")}),
              MCU.model_copy(update={"name": "pi-down", "link": Link(url=f"ssh://pi@127.0.0.1:{closed_port}")}), MCU]

    class Profiles:
        def all(self):
            return boards

    monkeypatch.setattr(devices_cli, "targets", Profiles)
    monkeypatch.setattr(discovery.list_ports, "comports", lambda: [])
    try:
        quiet = json.loads(CliRunner().invoke(cli, ["devices", "--json"]).stdout)
        rows = json.loads(CliRunner().invoke(cli, ["devices", "--json", "--probe"]).stdout)
        probed = {r["description"]: r for r in rows}
    finally:
        listening.close()
    assert [r["description"] for r in quiet] == ["target profile pi-up", "target profile pi-down"]
    assert all(r["reachable"] == "" for r in quiet)  # nothing is contacted without --probe
    assert probed["target profile pi-up"]["reachable"] == "yes"
    assert probed["target profile pi-down"]["reachable"].startswith("no")
    assert "?" not in probed["target profile pi-up"]["port"]
