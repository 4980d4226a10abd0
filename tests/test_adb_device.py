"""An Android phone over adb: the real adbutils client against a stand-in adb server on 127.0.0.1 (adb_server.py).

The stand-in speaks the adb host protocol and replays benchmark_model's output in the formats of several
builds, with latencies from lists the tests hold, so every number the device reports is checked against
the value the phone printed. Inference runs the pushed model with the real LiteRT behind the stand-in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml

from harness.core.errors import ConfigError, DeviceError
from harness.core.paths import models_dir, targets_dir
from harness.devices.adb import power
from harness.devices.adb.address import AdbAddress
from harness.devices.adb.device import AdbDevice
from harness.devices.adb.session import server_listening
from harness.devices.capabilities import EnergyMeter, Inference, LatencyMeter
from harness.devices.factory import DeviceSettings, open_device
from harness.registry.models import ModelRegistry
from harness.registry.targets import TargetProfile, TargetRegistry
from harness.rundir.directory import RunDirectory
from harness.runtimes import RuntimeOptions
from harness.runtimes.inputs import seeded_inputs
from tests.adb_server import BUILDS, MEMORY_MB, SCALE, SERIAL, AdbStandIn, Phone, cpp

MODEL = "mlperf-dscnn-kws"
PHONE = "pixel-7-tensor-g2"
BINARY_BYTES = b"\x7fELF\x02\x01\x01" + bytes(200)  # stands for the user's benchmark_model (pushed, not run here)


def phone_target(tmp_path: Path, url: str, monitor: dict[str, str] | None = None, name: str = "phone-bench",
                 timeout_s: float = 5.0) -> TargetProfile:
    """A copy of the Pixel 7 profile under ``name``, reached at ``url``."""
    directory = tmp_path / "targets"
    if not directory.is_dir():
        shutil.copytree(targets_dir(), directory)
    profile = yaml.safe_load((targets_dir() / f"{PHONE}.yaml").read_text())
    profile.update(name=name, link={"url": url, "timeout_s": timeout_s})
    if monitor is not None:
        profile["power_monitor"] = monitor
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return TargetRegistry(directory).get(name)


def binary(tmp_path: Path) -> Path:
    path = tmp_path / "benchmark_model"
    path.write_bytes(BINARY_BYTES)
    return path


def phone_device(tmp_path: Path, adb: AdbStandIn, monitor: dict[str, str] | None = None, **kwargs: object) -> AdbDevice:
    url = adb.url(benchmark_model=str(binary(tmp_path)))
    run = RunDirectory.create(tmp_path / "results", f"adb-{len(list((tmp_path / 'results').glob('*')))}"
                              if (tmp_path / "results").is_dir() else "adb-0")
    return AdbDevice(phone_target(tmp_path, url, monitor), run, **kwargs)  # type: ignore[arg-type]


@pytest.fixture()
def model():
    return ModelRegistry(models_dir()).get(MODEL)


def test_address_parses_every_link_form_and_rejects_what_it_cannot_use() -> None:
    a = AdbAddress.parse("adb://R5CT1234ABC?benchmark_model=~/bm&delegate=gpu&server=127.0.0.1:5038", "t")
    assert (a.serial, a.tcp, a.delegate, a.server) == ("R5CT1234ABC", False, "gpu", "127.0.0.1:5038")
    assert a.benchmark_model == Path("~/bm").expanduser()
    tcp = AdbAddress.parse("adb://192.168.1.40:5555", "t")
    assert (tcp.serial, tcp.tcp, tcp.workdir) == ("192.168.1.40:5555", True, "/data/local/tmp/edge-harness")
    only = AdbAddress.parse("adb://", "t")
    assert only.serial is None and only.label == "the only adb device"
    with pytest.raises(ConfigError, match="unknown query key.*binary"):
        AdbAddress.parse("adb://X?binary=/bm", "t")
    with pytest.raises(ConfigError, match="delegate='hexagon'"):
        AdbAddress.parse("adb://X?delegate=hexagon", "t")
    with pytest.raises(ConfigError, match="port in 1-65535"):
        AdbAddress.parse("adb://192.168.1.40:99999", "t")
    with pytest.raises(ConfigError, match="absolute path"):
        AdbAddress.parse("adb://X?dir=tmp", "t")


def test_the_factory_opens_adb_links(tmp_path: Path) -> None:
    with AdbStandIn() as adb:
        run = RunDirectory.create(tmp_path / "results", "factory")
        target = phone_target(tmp_path, adb.url(benchmark_model=str(binary(tmp_path))))
        with open_device(target, run, DeviceSettings()) as d:
            assert isinstance(d, AdbDevice)
            assert d.capabilities() == [LatencyMeter, Inference]
            with pytest.raises(ConfigError, match="cannot measure energy") as e:
                d.require(EnergyMeter)
            assert power.BATTERY_MONITOR in (e.value.hint or "")


@pytest.mark.parametrize("build", BUILDS)
def test_latency_is_what_benchmark_model_printed_on_the_phone(tmp_path: Path, model, build: str) -> None:
    singles = [2222, 1510, 1432, 1618, 1475, 1702]  # the first is the run at deploy
    loop = [1400, 1450, 1380, 1520, 1610, 1405]
    phone = Phone(build=build, singles_us=list(singles), loop_us=loop)
    with AdbStandIn(phone) as adb, \
            phone_device(tmp_path, adb, options=RuntimeOptions(threads=2, xnnpack=True)) as d:
        deployment = d.deploy(model, "litert-xnnpack")
        m = d.measure_latency(runs=5, warmup=3)
    scale = SCALE[build]
    assert m.backend == "device" and m.energy is None and m.host_latency_s is None
    assert np.array_equal(m.device_latency_s, np.array(singles[1:]) * scale / 1e6)
    # the loop in one process: its statistics as printed (6 significant digits), its memory line
    looped = [v * scale for v in (loop * 2)[:5]]
    fields = m.row_fields
    assert fields["loop_runs"] == 5 and fields["loop_avg_ms"] == float(cpp(sum(looped) / 5)) / 1e3
    assert (fields["loop_min_ms"], fields["loop_max_ms"]) == (min(looped) / 1e3, max(looped) / 1e3)
    assert fields["loop_memory_overall_mb"] == MEMORY_MB
    assert (fields["loop_median_ms"] is None) == (build != "percentiles")
    assert (fields["loop_peak_memory_mb"] == 11.25) == (build == "percentiles")
    assert deployment.details["loop"]["memory_kind"] == ("peak" if build == "peak-line" else "delta")
    # what ran: the plan's threads and delegate, exactly the plan's warm-ups and runs, on the pushed files
    bench = [c for c in phone.commands if "benchmark_model" in c]
    assert len(bench) == 1 + 5 + 1
    assert all("--num_threads=2" in c and "--use_xnnpack=true" in c and "--min_secs=0 " in c for c in bench)
    assert all("--num_runs=1 --warmup_runs=3" in c for c in bench[1:6])
    assert "--num_runs=5 --warmup_runs=3" in bench[6] and "--report_peak_memory_footprint=true" in bench[6]
    assert phone.files["/data/local/tmp/edge-harness/benchmark_model"] == BINARY_BYTES
    assert phone.files[f"/data/local/tmp/edge-harness/{model.artifact_path().name}"] == \
        model.artifact_path().read_bytes()
    # the phone's facts, from getprop and dumpsys
    facts = deployment.details["phone"]
    assert (facts["model"], facts["soc"], facts["android_version"], facts["abi"]) == \
        ("Pixel 7", "GS201", "14", "arm64-v8a")
    assert (facts["thermal"], facts["battery_temperature_c"], facts["powered_by"]) == ("none", 28.1, "battery")
    assert deployment.details["dut_name"] == "Pixel 7" and deployment.details["serial"] == SERIAL
    assert deployment.details["init_ms"] == 18.342
    assert deployment.details["benchmark_model_sha256"] == hashlib.sha256(BINARY_BYTES).hexdigest()
    assert deployment.runtime == "LiteRT benchmark_model (xnnpack)"
    assert (fields["phone_soc"], fields["android_version"], fields["phone_abi"], fields["phone_serial"]) == \
        ("GS201", "14", "arm64-v8a", SERIAL)


def test_the_only_device_and_a_phone_over_tcp(tmp_path: Path, model) -> None:
    with AdbStandIn() as adb:
        only = phone_target(tmp_path, adb.url(None, benchmark_model=str(binary(tmp_path))), name="only-phone")
        run = RunDirectory.create(tmp_path / "results", "only")
        with AdbDevice(only, run) as d:
            assert d.deploy(model, "litert-xnnpack").details["serial"] == SERIAL
        wifi = phone_target(tmp_path, adb.url("192.168.1.40:5555", benchmark_model=str(binary(tmp_path))),
                            name="wifi-phone")
        with AdbDevice(wifi, run) as d:
            assert d.deploy(model, "litert-xnnpack").details["serial"] == "192.168.1.40:5555"
        assert "host:connect:192.168.1.40:5555" in adb.requests


@pytest.mark.slow
@pytest.mark.parametrize(("current", "voltage", "convention"), [
    ((-250_000, -650_000), 3_900_000, "current_now in uA, voltage_now in uV, negative while discharging"),
    ((250, 650), 3_900, "current_now in mA, voltage_now in mV, positive while discharging"),
])
def test_energy_is_active_minus_idle_battery_power_times_the_loop_time(tmp_path: Path, model, current, voltage,
                                                                       convention) -> None:
    loop = [1400, 1450, 1380, 1520, 1610, 1405]
    phone = Phone(loop_us=loop, current_idle=current[0], current_active=current[1], voltage=voltage)
    with AdbStandIn(phone) as adb, phone_device(tmp_path, adb, monitor={"model": power.BATTERY_MONITOR}) as d:
        d.deploy(model, "litert-xnnpack")
        assert d.capabilities() == [LatencyMeter, EnergyMeter, Inference]
        m = d.measure_energy(runs=4, warmup=1)
    assert m.energy is not None
    # --min_secs makes the tool run more than 4 times: the count it printed is the count used
    count = max(4, -(-int(power.LOOP_MIN_S * 1e6) // int(sum(loop) / len(loop))))
    avg_s = float(cpp(sum((loop * count)[:count]) / count)) / 1e6
    idle_w, active_w = 0.25 * 3.9, 0.65 * 3.9
    assert m.energy.n_inferences == count
    assert m.energy.per_inference.joules == pytest.approx((active_w - idle_w) * avg_s, rel=1e-9)
    assert m.energy.idle_power.watts == pytest.approx(idle_w, rel=1e-9)
    assert m.row_fields["power_source"] == f"android power_supply ({convention}" + \
        m.row_fields["power_source"].split(convention, 1)[1]
    assert m.row_fields["power_reads_active"] >= 2 and m.row_fields["power_reads_idle"] >= 2
    assert m.row_fields["active_power_mw"] == pytest.approx(active_w * 1e3)


def test_energy_needs_a_discharging_battery(tmp_path: Path, model) -> None:
    phone = Phone(status="Charging")
    with AdbStandIn(phone) as adb, phone_device(tmp_path, adb, monitor={"model": power.BATTERY_MONITOR}) as d:
        d.deploy(model, "litert-xnnpack")
        with pytest.raises(Exception, match="never reported Discharging") as e:
            d.measure_energy(runs=2, warmup=0)
    assert "unplug USB power" in (e.value.hint or "")


def test_inference_on_the_phone_returns_the_models_output_for_the_input(tmp_path: Path, model) -> None:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # the plan leaves XNNPACK off, so the phone's tool runs LiteRT's built-in kernels (--use_xnnpack=false)
    interpreter = Interpreter(model_path=str(model.artifact_path()),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    source, output = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    with AdbStandIn() as adb, phone_device(tmp_path, adb) as d:
        d.deploy(model, "litert-xnnpack")
        from harness.devices.parity import HostReference

        host = HostReference.load(model)
        inputs = seeded_inputs(host.input, 3, seed=5, model=model.name)
        host.close()
        for x in inputs:
            scores = d.require(Inference).infer(x)
            interpreter.set_tensor(source["index"], np.frombuffer(x.data, source["dtype"]).reshape(source["shape"]))
            interpreter.invoke()
            scale, zero = output["quantization"]
            expected = (interpreter.get_tensor(output["index"]).astype(np.float64).ravel() - zero) * scale
            assert np.array_equal(scores, expected)
    run = [c for c in adb.phone.commands if "--output_filepath" in c]
    assert len(run) == 3 and all("--input_layer_value_files=" in c and "--input_layer_shape=1,49,10,1" in c
                                 and "--use_xnnpack=false" in c for c in run)


def test_a_link_without_the_binary_says_how_to_get_one(tmp_path: Path, model) -> None:
    with AdbStandIn() as adb:
        run = RunDirectory.create(tmp_path / "results", "nobinary")
        with AdbDevice(phone_target(tmp_path, adb.url()), run) as d:
            with pytest.raises(ConfigError, match="names no benchmark_model binary") as e:
                d.deploy(model, "litert-xnnpack")
    assert "never downloads" in (e.value.hint or "") and "android_arm64" in (e.value.hint or "")


def test_gpu_and_nnapi_delegates_reach_the_command_line(tmp_path: Path, model) -> None:
    with AdbStandIn() as adb:
        for delegate, flag in (("gpu", "--use_gpu=true"), ("nnapi", "--use_nnapi=true")):
            url = adb.url(benchmark_model=str(binary(tmp_path)), delegate=delegate)
            run = RunDirectory.create(tmp_path / "results", delegate)
            with AdbDevice(phone_target(tmp_path, url, name=f"phone-{delegate}"), run,
                           options=RuntimeOptions(xnnpack=True)) as d:
                d.deploy(model, "litert-xnnpack")
            last = adb.phone.commands[-1]
            assert flag in last and "--use_xnnpack=false" in last


def test_devices_lists_the_phones_the_adb_server_lists(monkeypatch) -> None:
    from click.testing import CliRunner

    from harness.cli import _register, cli

    _register()
    with AdbStandIn() as adb:
        monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb.port))
        out = CliRunner().invoke(cli, ["devices", "--json"])
    assert out.exit_code == 0, out.output
    phones = [r for r in json.loads(out.stdout) if r["role"] == "phone"]
    assert phones == [{"port": f"adb://{SERIAL}", "vid_pid": "", "serial_number": SERIAL,
                       "description": "Pixel 7 (device)", "match": "Android phone over adb", "role": "phone",
                       "use": f"harness run --target TARGET --device-url adb://{SERIAL}?benchmark_model=PATH",
                       "source": f"adb server 127.0.0.1:{adb.port}"}]
    assert "host:devices-l" in adb.requests


def test_devices_without_an_adb_server_says_so_and_starts_none(monkeypatch) -> None:
    from click.testing import CliRunner

    from harness.cli import _register, cli

    _register()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    out = CliRunner().invoke(cli, ["devices"])
    assert out.exit_code == 0 and "Traceback" not in out.output
    assert f"no adb server at 127.0.0.1:{port}" in out.stderr and "adb start-server" in out.stderr
    assert not server_listening("127.0.0.1", port)  # the harness did not start one


@pytest.mark.hardware
def test_a_real_phone(request, tmp_path: Path, model, monkeypatch) -> None:
    """Opt-in: pytest -m hardware --device-url 'adb://SERIAL?benchmark_model=/path/to/benchmark_model'."""
    urls = [u for u in request.config.getoption("--device-url") or [] if u.startswith("adb://")]
    if not urls:
        pytest.skip("needs a phone: run pytest --device-url 'adb://SERIAL?benchmark_model=PATH' (README, lab bench)")
    from harness.devices.parity import HostReference
    from tests.conftest import REAL_ADB

    for key, value in REAL_ADB.items():  # the adb server the developer runs, which other tests keep away from
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    host = HostReference.load(model)
    inputs = seeded_inputs(host.input, 5, seed=1, model=model.name)
    for n, url in enumerate(urls):
        run = RunDirectory.create(tmp_path / "results", f"phone-{n}")
        with AdbDevice(phone_target(tmp_path, url, name=f"phone-{n}", timeout_s=30.0), run) as d:
            deployment = d.deploy(model, "litert-xnnpack")
            m = d.measure_latency(runs=20, warmup=5)
            scores = [d.require(Inference).infer(x) for x in inputs]
        assert deployment.details["phone"]["model"] and deployment.details["phone"]["android_version"]
        assert len(m.device_latency_s) == 20 and (m.device_latency_s > 0).all()
        assert m.row_fields["loop_runs"] >= 20 and m.row_fields["loop_avg_ms"] > 0
        agree = [int(np.argmax(s)) == int(np.argmax(host.scores(x.data))) for s, x in zip(scores, inputs, strict=True)]
        assert sum(agree) >= 4, f"top-1 agreement with the host {sum(agree)}/5 (log: {d.log_path})"
    host.close()


def test_no_adb_server_is_a_device_error_that_says_so(tmp_path: Path, model) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    url = f"adb://{SERIAL}?server=127.0.0.1:{port}&benchmark_model={binary(tmp_path)}"
    run = RunDirectory.create(tmp_path / "results", "noserver")
    with AdbDevice(phone_target(tmp_path, url), run) as d, \
            pytest.raises(DeviceError, match=f"no adb server answers at 127.0.0.1:{port}") as e:
        d.deploy(model, "litert-xnnpack")
    assert "adb start-server" in (e.value.hint or "") and e.value.log_path == d.log_path
    assert not server_listening("127.0.0.1", port)


def test_a_phone_that_is_not_attached_or_not_authorized(tmp_path: Path, model) -> None:
    with AdbStandIn() as adb:
        run = RunDirectory.create(tmp_path / "results", "absent")
        url = adb.url("OTHER123", benchmark_model=str(binary(tmp_path)))
        with AdbDevice(phone_target(tmp_path, url, name="other-phone"), run) as d, \
                pytest.raises(DeviceError, match=f"lists no device 'OTHER123' \\(it lists: {SERIAL}\\)"):
            d.deploy(model, "litert-xnnpack")


@pytest.mark.parametrize(("state", "hint"), [("unauthorized", "accept the USB debugging prompt"),
                                             ("offline", "rebooted, unplugged")])
def test_a_phone_listed_but_not_online_says_what_to_do(tmp_path: Path, model, state: str, hint: str) -> None:
    with AdbStandIn(Phone(state=state)) as adb:
        run = RunDirectory.create(tmp_path / "results", state)
        with AdbDevice(phone_target(tmp_path, adb.url(benchmark_model=str(binary(tmp_path)))), run) as d, \
                pytest.raises(DeviceError, match=f"device '{SERIAL}' is {state}, not online") as e:
            d.deploy(model, "litert-xnnpack")
    assert hint in (e.value.hint or "")
