"""The device farm: labgrid places named by ``labgrid://`` links, acquired for a session and released however it ends.

A real ``labgrid-coordinator`` and ``labgrid-exporter`` on 127.0.0.1 export simulated DUTs (``harness
sim-dut``): a raw TCP port as a NetworkSerialPort here, and a pty as a RawSerialPort (the exporter's
ser2net, RFC 2217) inside a loopback-only network namespace. ``labgrid-client`` plays the other lab user.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from farm_lab import Lab, is_loopback, listening_addresses, ser2net, tool

from harness.cli import cli
from harness.core.errors import ConfigError, DeviceError
from harness.core.paths import models_dir, targets_dir
from harness.devices import farm
from harness.devices.capabilities import LatencyMeter
from harness.devices.factory import DeviceSettings, open_device
from harness.dut.modes import QUICK
from harness.registry.models import ModelRegistry
from harness.registry.places import PlaceRef, parse_place_url
from harness.registry.resources import Link
from harness.registry.targets import TargetRegistry
from harness.rundir.directory import RunDirectory
from harness.runs.bench import place_port

REQUIRED = os.environ.get("HARNESS_FARM_REQUIRED") == "1"  # CI: the farm tests must run, not skip
MODEL, TARGET = "mlperf-dscnn-kws", "nucleo-l4r5zi"
ME = f"{socket.gethostname()}/{getpass.getuser()}"


def need(available: bool, reason: str) -> None:
    if not available:
        if REQUIRED:
            pytest.fail(f"{reason} (HARNESS_FARM_REQUIRED=1: .ci/run installs it)")
        pytest.skip(reason)


def have_labgrid() -> None:
    need(farm.find_spec("labgrid") is not None, "labgrid is not installed: pip install 'edge-harness[farm]'")


# ---- URLs and options (no labgrid needed) -------------------------------------------------------------


def test_place_urls_parse_into_coordinator_place_tags_and_wait() -> None:
    assert parse_place_url("labgrid://lab-ci:5000/nucleo-1") == PlaceRef("lab-ci:5000", "nucleo-1")
    assert parse_place_url("labgrid://lab-ci/nucleo-1?wait=90&port=uart") == \
        PlaceRef("lab-ci:20408", "nucleo-1", (), 90.0, "uart")
    assert parse_place_url("labgrid:///?tag=board=nucleo&tag=lab=b2") == \
        PlaceRef("", None, (("board", "nucleo"), ("lab", "b2")))
    ref = PlaceRef("127.0.0.1:9", None, (("board", "nucleo"),), 2.5)
    assert parse_place_url(ref.url()) == ref and ref.url() == "labgrid://127.0.0.1:9/?tag=board=nucleo&wait=2.5"


@pytest.mark.parametrize(("url", "says"), [
    ("labgrid://lab-ci/", "names no place and no tag"),
    ("labgrid://lab-ci/b1?tag=board=x", "names both a place and tags"),
    ("labgrid://lab-ci/b1?wait=-1", "wait=-1 is not a number of seconds >= 0"),
    ("labgrid://lab-ci/b1?wait=soon", "wait=soon is not a number of seconds >= 0"),
    ("labgrid://lab-ci/?tag=board", "tag 'board' is not KEY=VALUE"),
    ("labgrid://lab-ci:99999/b1", "the coordinator port is not a number from 1 to 65535"),
    ("labgrid://lab-ci/b1?speed=9600", "unknown query key 'speed'"),
    ("labgrid://lab-ci/a/b", "'a/b' is not a place name"),
])
def test_bad_place_urls_say_which_part_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        parse_place_url(url)
    assert "labgrid://HOST[:PORT]/PLACE" in (info.value.hint or "") or "wait=600" in (info.value.hint or "")
    with pytest.raises(ValueError, match=says):  # a target profile's link is checked when it loads
        Link(url=url)


def test_place_option_becomes_a_labgrid_url() -> None:
    assert place_port(None, "nucleo-1", "127.0.0.1:5000", 30) == "labgrid://127.0.0.1:5000/nucleo-1?wait=30"
    assert place_port(None, "board=nucleo,lab=b2", None, 0) == "labgrid:///?tag=board=nucleo&tag=lab=b2"
    assert place_port("/dev/ttyACM0", None, None, 0) == "/dev/ttyACM0"
    with pytest.raises(ConfigError, match="one of them"):
        place_port("/dev/ttyACM0", "nucleo-1", None, 0)
    with pytest.raises(ConfigError, match="go with --place"):
        place_port("/dev/ttyACM0", None, "lab:1", 0)


def test_a_farm_link_without_labgrid_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(farm, "find_spec", lambda name: None)
    target = TargetRegistry(targets_dir()).get(TARGET)
    target = target.model_copy(update={"link": Link(url="labgrid://127.0.0.1:9/nucleo-1")})
    with pytest.raises(ConfigError, match="labgrid is not installed") as info:
        open_device(target, RunDirectory(tmp_path), DeviceSettings())
    assert "pip install 'edge-harness[farm]'" in (info.value.hint or "")
    out = CliRunner().invoke(cli, ["bench-device", "--place", "nucleo-1", "--coordinator", "127.0.0.1:9",
                                   "--model", MODEL, "--target", TARGET, "--results", str(tmp_path)])
    assert out.exit_code == 2 and "pip install 'edge-harness[farm]'" in out.output


def test_an_exported_serial_port_becomes_the_url_the_dut_client_opens() -> None:
    have_labgrid()
    from harness.devices.farm.lease import serial_url

    assert serial_url({"host": "bench-a.lab", "port": 50123}) == "rfc2217://bench-a.lab:50123?ign_set_control"
    assert serial_url({"host": "127.0.0.1", "port": 4001, "protocol": "raw"}) == "socket://127.0.0.1:4001"
    with pytest.raises(DeviceError, match="speaks 'telnet'"):
        serial_url({"host": "127.0.0.1", "port": 4001, "protocol": "telnet"})


# ---- a farm on 127.0.0.1 ------------------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    have_labgrid()
    with Lab(tmp_path_factory.mktemp("lab")) as lab:
        lab.start_coordinator()
        dut = lab.start_dut()
        host, port = dut.removeprefix("socket://").rsplit(":", 1)
        lab.start_exporter("exp1", f"dut:\n  NetworkSerialPort:\n    host: {host}\n    port: {port}\n"
                                   "    protocol: raw\n    speed: 115200\n"
                                   f"dead:\n  NetworkSerialPort:\n    host: 127.0.0.1\n    port: {closed_port()}\n"
                                   "    protocol: raw\n")
        lab.add_place("nucleo-1", "exp1/dut/NetworkSerialPort", "board=nucleo")
        lab.add_place("dead-1", "exp1/dead/NetworkSerialPort")
        yield lab


def bench(lab: Lab, results: Path, *args: str) -> tuple[int, str]:
    out = CliRunner().invoke(cli, ["bench-device", "--coordinator", lab.coordinator, "--model", MODEL,
                                   "--target", TARGET, "--results", str(results), *args])
    return out.exit_code, out.output


def run_dir(output: str) -> Path:
    return Path(output.strip().splitlines()[-1])


def test_bench_device_acquires_measures_and_releases_the_place(lab: Lab, tmp_path: Path) -> None:
    code, output = bench(lab, tmp_path, "--place", "nucleo-1", "--quick")
    assert code == 0, output
    summary = json.loads((run_dir(output) / "performance.json").read_text())
    assert summary["status"] == "quick" and summary["windows"] == 3
    dut = summary["dut"]
    assert dut["link"] == lab.duts[0]  # the exported raw port, as socket://
    assert dut["labgrid_place"] == "nucleo-1" and dut["labgrid_holder"] == ME
    assert dut["labgrid_coordinator"] == lab.coordinator
    assert dut["labgrid_resource"] == "exp1/dut/NetworkSerialPort/NetworkSerialPort"
    assert dut["dut_name"] == f"sim:{TARGET}"
    row = json.loads((run_dir(output) / "efficiency.json").read_text())["rows"][0]
    assert row["labgrid_place"] == "nucleo-1" and row["backend"] == "device"
    assert lab.holder("nucleo-1") is None
    listening = listening_addresses([p.pid for p in lab.procs])
    assert listening and all(is_loopback(a) for a in listening), listening


def farm_profile(directory: Path, name: str, url: str) -> Path:
    """The board's shipped profile under a new name, linked to ``url``, among the shipped profiles."""
    shutil.copytree(targets_dir(), directory, dirs_exist_ok=True)
    profile = yaml.safe_load((targets_dir() / f"{TARGET}.yaml").read_text())
    profile.update(name=name, link={"url": url, "timeout_s": 5.0})
    profile.pop("power_monitor", None)  # performance firmware: latency from the DUT's lap timer
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


def test_a_target_profile_links_to_a_place(lab: Lab, tmp_path: Path) -> None:
    targets = TargetRegistry(farm_profile(tmp_path / "targets", "farm-nucleo", f"labgrid://{lab.coordinator}/nucleo-1"))
    target = targets.get("farm-nucleo")
    (tmp_path / "run" / "raw").mkdir(parents=True)
    model = ModelRegistry(models_dir()).get(MODEL)
    with open_device(target, RunDirectory(tmp_path / "run"), DeviceSettings(rules=QUICK)) as device:
        assert lab.holder("nucleo-1") == ME
        deployment = device.deploy(model, target.default_stack)
        measured = device.require(LatencyMeter).measure_latency(1, 0)
    assert lab.holder("nucleo-1") is None
    assert deployment.details["link"] == lab.duts[0] and deployment.details["labgrid_place"] == "nucleo-1"
    assert measured.row_fields["labgrid_place"] == "nucleo-1" and measured.summary["windows"] == 3


def test_a_bad_place_url_in_a_profile_names_the_file(tmp_path: Path) -> None:
    targets = TargetRegistry(farm_profile(tmp_path / "targets", "farm-bad", "labgrid://127.0.0.1:9/b1?wait=soon"))
    with pytest.raises(ConfigError, match="wait=soon is not a number of seconds") as info:
        targets.get("farm-bad")
    assert "farm-bad.yaml" in str(info.value)


def test_a_place_is_found_by_its_tags(lab: Lab, tmp_path: Path) -> None:
    code, output = bench(lab, tmp_path, "--place", "board=nucleo", "--mode", "accuracy", "--count", "2")
    assert code == 0, output
    accuracy = json.loads((run_dir(output) / "accuracy.json").read_text())
    assert accuracy["dut"]["labgrid_place"] == "nucleo-1" and accuracy["dut"]["labgrid_url"].endswith(
        "/?tag=board=nucleo")
    assert lab.holder("nucleo-1") is None


def test_a_held_place_is_reported_with_its_holder(lab: Lab, tmp_path: Path) -> None:
    lab.client("-p", "nucleo-1", "acquire", user="alice", check=True)
    try:
        code, output = bench(lab, tmp_path, "--place", "nucleo-1", "--quick")
    finally:
        lab.client("-p", "nucleo-1", "release", user="alice", check=True)
    assert code == 4, output
    assert "place 'nucleo-1'" in output and "is held by bench2/alice since" in output
    assert "--place-wait SECONDS" in output
    assert lab.holder("nucleo-1") is None


def test_a_place_held_under_the_same_name_is_left_to_its_holder(lab: Lab, tmp_path: Path) -> None:
    lab.client("-p", "nucleo-1", "acquire", check=True)  # this host and user, as labgrid names them
    try:
        code, output = bench(lab, tmp_path, "--place", "nucleo-1", "--quick")
        assert code == 4, output
        assert f"is held by {ME} (you: another harness session" in output
        assert lab.holder("nucleo-1") == ME  # not released: that acquisition is not the session's
    finally:
        lab.client("-p", "nucleo-1", "release", check=True)


def test_a_second_acquirer_waits_for_the_release(lab: Lab, tmp_path: Path) -> None:
    lab.client("-p", "nucleo-1", "acquire", user="alice", check=True)
    released = threading.Event()

    def release() -> None:
        lab.client("-p", "nucleo-1", "release", user="alice", check=True)
        released.set()

    timer = threading.Timer(2.0, release)
    timer.start()
    try:
        code, output = bench(lab, tmp_path, "--place", "nucleo-1", "--place-wait", "120", "--mode", "accuracy",
                             "--count", "2")
    finally:
        timer.join()
    assert released.is_set()
    assert code == 0, output  # without waiting it would have failed: alice held the place when it started
    assert json.loads((run_dir(output) / "accuracy.json").read_text())["dut"]["labgrid_holder"] == ME
    assert lab.holder("nucleo-1") is None


def test_the_place_is_released_after_a_device_error(lab: Lab, tmp_path: Path) -> None:
    code, output = bench(lab, tmp_path, "--place", "dead-1", "--quick", "--timeout", "2")
    assert code == 4, output
    assert "cannot open socket://127.0.0.1:" in output
    status = json.loads((next(tmp_path.iterdir()) / "status.json").read_text())
    assert status["status"] == "failed"
    assert lab.holder("dead-1") is None


def test_an_unknown_place_lists_the_places(lab: Lab, tmp_path: Path) -> None:
    code, output = bench(lab, tmp_path, "--place", "nucleo-9", "--quick")
    assert code == 2, output
    assert "has no place 'nucleo-9' (places: dead-1, nucleo-1)" in output


def test_an_unreachable_coordinator_is_a_device_error(tmp_path: Path) -> None:
    have_labgrid()
    out = CliRunner().invoke(cli, ["bench-device", "--place", "nucleo-1", "--coordinator",
                                   f"127.0.0.1:{closed_port()}", "--model", MODEL, "--target", TARGET, "--quick",
                                   "--results", str(tmp_path)])
    assert out.exit_code == 4, out.output
    assert "cannot reach the labgrid coordinator at 127.0.0.1:" in out.output


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_place_is_released_when_the_session_is_stopped(lab: Lab, tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen([tool("harness"), "bench-device", "--place", "nucleo-1", "--coordinator", lab.coordinator,
                             "--model", MODEL, "--target", TARGET, "--results", str(tmp_path)],  # MLPerf: >= 50 s
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lab.wait_for(lambda: lab.holder("nucleo-1") == ME, "the session to acquire nucleo-1")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert lab.holder("nucleo-1") is None, err
    assert json.loads((next(tmp_path.iterdir()) / "status.json").read_text())["status"] == "interrupted"


# ---- a pty through the exporter's ser2net, in a loopback-only network namespace ----------------------------------


def namespace_command() -> list[str] | None:
    """``unshare`` into new network and PID namespaces (as root, or mapped to root in a user namespace)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None
    plain = ["unshare", "--net", "--pid", "--fork"]
    for command in (plain, [*plain[:1], "--map-root-user", *plain[1:]]):
        if subprocess.run([*command, "true"], capture_output=True).returncode == 0:
            return command
    return None


@pytest.mark.slow
def test_a_pty_exported_through_ser2net_is_measured_over_rfc2217(tmp_path: Path) -> None:
    have_labgrid()
    need(ser2net() is not None, "ser2net is not installed (apt-get install ser2net)")
    command = namespace_command()
    need(command is not None, "cannot make a network namespace (unshare --net), which keeps ser2net off the network")
    assert command is not None
    scenario = Path(__file__).with_name("farm_lab.py")
    done = subprocess.run([*command, sys.executable, str(scenario), "pty", str(tmp_path)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    assert report["exit"] == "0", done.stderr[-3000:]
    assert report["interfaces"].startswith("lo ") and ";" not in report["interfaces"]  # loopback only
    assert report["holder after"] == "None"
    summary = json.loads((Path(report["run"]) / "performance.json").read_text())
    assert summary["status"] == "quick" and summary["windows"] == 3
    link = summary["dut"]["link"]
    assert link.startswith("rfc2217://127.0.0.1:") and link.endswith("?ign_set_control")
    assert summary["dut"]["labgrid_resource"] == "exp-pty/dut/NetworkSerialPort/RawSerialPort"
