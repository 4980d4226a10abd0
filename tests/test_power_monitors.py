"""Power monitors behind one interface: spec parsing, the registry, the simulated stream, and each
instrument's data format (LPM01A ascii_dec over real bytes, JS220 samples_get blocks, PPK2 raw words)."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from harness.core.errors import ConfigError, DataError, DeviceError, DeviceTimeout, MeasurementError
from harness.power.integrate import energy_windows
from harness.power.joulescope import convert_samples
from harness.power.lpm01a import AsciiDecParser, format_ascii_dec, parse_recording
from harness.power.lpm01a_sim import Lpm01aSimServer
from harness.power.monitor import (
    Block,
    PowerMonitor,
    assemble,
    monitor_kinds,
    open_monitor,
    parse_monitor,
    register_monitor,
)
from harness.power.ppk2 import Ppk2Calibration, Ppk2Decoder, decode_words
from harness.power.sim_stream import BLOCK_SAMPLES
from harness.power.wiring import WireEvent, WiringLog

DATA = Path(__file__).parent / "data" / "power"


# --- spec and registry -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, kind, url", [
    ("sim", "sim", None),
    ("sim:socket://127.0.0.1:40124", "sim", "socket://127.0.0.1:40124"),
    ("lpm01a:/dev/ttyACM0", "lpm01a", "/dev/ttyACM0"),
    ("PPK2:COM4", "ppk2", "COM4"),
    ("joulescope", "joulescope", None),
])
def test_a_spec_is_kind_or_kind_colon_url(text: str, kind: str, url: str | None) -> None:
    spec = parse_monitor(text)
    assert (spec.kind, spec.url) == (kind, url)


def test_an_unknown_kind_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown power monitor kind 'socket'") as info:
        parse_monitor("socket://127.0.0.1:1")
    assert info.value.hint == ("valid: joulescope, lpm01a, ppk2, sim, board-rails, android-battery (as kind or "
                               "kind:url; board-rails:jetson or board-rails:hwmon:LABEL on an SSH board, "
                               "android-battery on a phone)")
    with pytest.raises(ConfigError, match="not 'kind' or 'kind:url'"):
        parse_monitor("lpm01a:")


def test_the_registry_rejects_a_second_driver_of_the_same_kind() -> None:
    assert monitor_kinds() == ["joulescope", "lpm01a", "ppk2", "sim"]
    with pytest.raises(ConfigError, match="'sim' is registered twice"):
        @register_monitor
        class Again(PowerMonitor):  # noqa: F841 - registration is the point
            kind = "sim"


def test_an_unknown_driver_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="power monitor 'sim'"):
        open_monitor("sim", wiring=WiringLog(), sample_rate=5)


def test_blocks_with_a_gap_are_lost_samples_not_a_splice() -> None:
    blocks = [Block(0, np.ones(10, dtype=np.float32)), Block(12, np.ones(5, dtype=np.float32))]
    with pytest.raises(MeasurementError, match="samples 10..12 are missing"):
        assemble(blocks, 1000.0, 1.8, "test")


# --- the simulated streaming monitor -----------------------------------------------------------------------


def _bench(log: WiringLog, t0: float, windows: list[tuple[float, float]], idle_w: float, active_w: float) -> None:
    """What a simulated DUT in energy mode drives: active between each pair of edges, idle otherwise."""
    for start, end in windows:
        log.power(t0 + start, active_w)
        log.edge(t0 + start)
        log.edge(t0 + end)
        log.power(t0 + end, idle_w)


def test_sim_trace_matches_the_wiring_plateaus_and_edges() -> None:
    log = WiringLog()
    log.power(5.0, 2e-3)  # before start: only the draw in force matters
    rate, lead = 20_000.0, 0.01
    with open_monitor("sim", wiring=log, rate_hz=rate, voltage_v=1.8, noise=0.0, lead_s=lead, tail_s=lead) as m:
        m.start()
        _bench(log, 7.0, [(0.0, 0.25), (0.4, 0.5)], idle_w=2e-3, active_w=36e-3)
        trace = m.stop()
    # trace time 0 is lead_s before the first event (DUT time 7.0 s); edges land on the sample grid
    expected_edges = np.array([0.0, 0.25, 0.4, 0.5]) + lead
    assert np.abs(trace.events_s - expected_edges).max() <= 1 / rate
    power = trace.power_w()
    t = trace.times()
    assert power[t < lead - 1 / rate] == pytest.approx(2e-3)
    assert power[(t > lead + 1 / rate) & (t < lead + 0.25 - 1 / rate)] == pytest.approx(36e-3)
    assert power[(t > lead + 0.25 + 1 / rate) & (t < lead + 0.4 - 1 / rate)] == pytest.approx(2e-3)
    assert trace.duration_s == pytest.approx(0.5 + 2 * lead, abs=2 / rate)
    first, second = energy_windows(trace, [50, 20])
    assert first.energy.mj == pytest.approx(36 * 0.25, rel=2 / (0.25 * rate))  # 36 mW x 0.25 s, edges within a sample
    assert second.per_inference.mj == pytest.approx(36 * 0.1 / 20, rel=2 / (0.1 * rate))
    assert first.idle_power.mw == pytest.approx(2.0, rel=1e-6)


def test_sim_noise_is_seeded_and_keeps_the_plateau_mean() -> None:
    def run(seed: int) -> np.ndarray:
        log = WiringLog()
        log.power(0.0, 10e-3)
        m = open_monitor("sim", wiring=log, rate_hz=100_000, voltage_v=2.0, noise=0.05, seed=seed)
        m.start()
        log.edge(0.1)
        log.edge(0.6)
        return m.stop().current_a

    a, b, c = run(7), run(7), run(8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.mean() == pytest.approx(5e-3, rel=0.05 * 4 / np.sqrt(len(a)))  # 10 mW / 2 V, 4 sigma of the mean
    assert a.std() == pytest.approx(5e-3 * 0.05, rel=0.05)


def test_sim_streams_bounded_blocks_with_sample_times_while_acquiring() -> None:
    log = WiringLog()
    log.power(0.0, 1e-3)
    m = open_monitor("sim", wiring=log, rate_hz=1_000_000, noise=0.0)
    m.start()
    _bench(log, 1.0, [(0.0, 0.3)], idle_w=1e-3, active_w=5e-3)
    seen = []
    for block in m.blocks(timeout_s=5.0):
        seen.append(block)
        if sum(len(b.current_a) for b in seen) >= 300_000:
            break
    assert m.events().tolist() == [0.01]  # the start edge, seen before the acquisition ends
    trace = m.stop()
    assert all(len(b.current_a) <= BLOCK_SAMPLES for b in seen)
    assert [b.start for b in seen[1:]] == [b.end for b in seen[:-1]]
    assert seen[1].times(1e6)[0] == seen[1].start / 1e6
    assert np.array_equal(np.concatenate([b.current_a for b in seen]), trace.current_a[:seen[-1].end])
    assert len(trace.current_a) == 310_000 + 10_000 + 1  # lead + window + tail + the last edge's sample


def test_sim_reads_wiring_lines_from_a_socket_url() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def dut() -> None:  # like a simulated DUT's wiring URL: announce the present draw to each new reader
        conn, _ = server.accept()
        conn.sendall(WireEvent(3.0, "P", 3.3e-3).to_line().encode())
        accepted.append(conn)

    thread = threading.Thread(target=dut, daemon=True)
    thread.start()
    m = open_monitor(f"sim:socket://127.0.0.1:{server.getsockname()[1]}", rate_hz=10_000, voltage_v=3.3,
                     noise=0.0, lead_s=0.005, tail_s=0.0)
    m.start()
    thread.join(5)
    lines = [WireEvent(3.5, "P", 33e-3), WireEvent(3.5, "E"), WireEvent(3.6, "E"), WireEvent(3.6, "P", 3.3e-3)]
    accepted[0].sendall("".join(e.to_line() for e in lines).encode())
    trace = m.stop()
    m.close()
    accepted[0].close()
    server.close()
    assert trace.events_s.tolist() == [0.005, 0.105]
    assert trace.current_a[:50] == pytest.approx(1e-3)  # the announced 3.3 mW / 3.3 V during the lead
    assert trace.current_a[50:1050] == pytest.approx(10e-3)  # 33 mW / 3.3 V
    assert trace.current_a[1050] == pytest.approx(1e-3)


def test_sim_lifecycle_names_the_state() -> None:
    m = open_monitor("sim", wiring=WiringLog())
    with pytest.raises(DeviceError, match=r"stop\(\) called in state 'idle'; it needs acquiring"):
        m.stop()
    m.start()
    with pytest.raises(DeviceError, match=r"start\(\) called in state 'acquiring'"):
        m.start()
    assert len(m.stop().current_a) == 0  # nothing happened on the wiring: an empty trace, not a made-up one


@pytest.mark.parametrize("options, message", [
    ({"rate_hz": 2e6}, "outside"),
    ({}, "exactly one wiring"),
])
def test_sim_rejects_bad_options(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_monitor("sim", **options).start()


# --- LPM01A ------------------------------------------------------------------------------------------------


def test_ascii_dec_samples_are_mantissa_times_power_of_ten() -> None:
    parser = AsciiDecParser()
    chunk = parser.feed(b"6409-07\r\n1234+02\r\n0001-12\r\n98")
    assert chunk.values.tolist() == pytest.approx([6.409e-4, 123_400.0, 1e-12], rel=1e-12)
    chunk = parser.feed(b"76-05\r\nevent 1 fal\r\n1000-09\r\nTimeStamp: 002s 500ms, buff 13%\r\n")
    assert chunk.values.tolist() == pytest.approx([9.876e-2, 1e-6], rel=1e-12)  # 98|76-05 split across reads
    assert chunk.events == [4]  # the edge happened at the 5th sample (index 4)
    assert chunk.timestamps == [(2.5, 5, 13)]
    assert [format_ascii_dec(v) for v in (6.409e-4, 1e-6, 9.99995e-3, 0.0)] == ["6409-07", "1000-09", "1000-05",
                                                                                  "0000+00"]


@pytest.mark.parametrize("line, number", [(b"64O9-07", 2), (b"6409-7", 2), (b"12345", 2)])
def test_a_malformed_sample_line_is_a_data_error_naming_it(line: bytes, number: int) -> None:
    parser = AsciiDecParser("LPM01A at /dev/ttyACM0")
    with pytest.raises(DataError, match=f"LPM01A at /dev/ttyACM0 line {number}: '{line.decode()}' is not an ascii_dec"):
        parser.feed(b"6409-07\r\n" + line + b"\r\n1000-09\r\n")


def test_an_error_line_while_acquiring_is_a_device_error() -> None:
    with pytest.raises(DeviceError, match="line 2: the LPM01A reported 'error: overcurrent'"):
        AsciiDecParser().feed(b"6409-07\r\nerror: overcurrent\r\n")


def test_a_recorded_lpm01a_acquisition_gives_the_energy_by_hand() -> None:
    current, events = parse_recording((DATA / "lpm01a_energy_1k.txt").read_bytes(), 1000.0, 1.8, "energy")
    assert len(current) == 2500
    assert events.tolist() == [0.5, 1.0, 1.5, 2.0]
    # energy samples are joules per 1 ms period: 1 uJ = 1 mW = 0.5556 mA at 1.8 V
    assert current[0] == pytest.approx(1e-3 / 1.8, rel=1e-6)
    from harness.power.trace import Trace

    first, second = energy_windows(Trace(current, 1000.0, 1.8, events, "lpm01a"), [100, 10])
    # window 1: samples 500..999 at 18 mW, sample 1000 at 1 mW; trapezoid over [0.5, 1.0]:
    # 499 intervals x 18 uJ + (18 + 1) / 2 uJ = 8.9915 mJ
    assert first.energy.mj == pytest.approx(499 * 0.018 + 0.0095, rel=1e-6)
    assert first.per_inference.uj == pytest.approx((499 * 18 + 9.5) / 100, rel=1e-6)
    assert second.energy.mj == pytest.approx(499 * 0.009 + 0.005, rel=1e-6)
    assert first.idle_power.mw == pytest.approx(1.0, rel=1e-6)


@pytest.fixture
def lpm_bench():
    """A simulated LPM01A (noise-free) fed by an in-process wiring log, as a socket:// URL."""
    log = WiringLog()
    log.power(0.0, 1.8e-3)
    with Lpm01aSimServer(wiring=log, noise=0.0, lead_s=0.1, tail_s=0.1) as server:
        yield log, server


def test_lpm01a_end_to_end_over_real_bytes(lpm_bench, tmp_path: Path) -> None:
    log, server = lpm_bench
    monitor = open_monitor(f"lpm01a:{server.url}", voltage_v=1.8, rate_hz=1000, log_path=tmp_path / "lpm.log")
    monitor.start()
    _bench(log, 2.0, [(0.0, 0.5), (1.0, 1.2)], idle_w=1.8e-3, active_w=18e-3)
    trace = monitor.stop()
    monitor.close()
    assert trace.events_s.tolist() == pytest.approx([0.1, 0.6, 1.1, 1.3])
    first, second = energy_windows(trace, [10, 4])
    # 18 mW from each start edge up to the sample before the end edge, 1.8 mW from the end edge on;
    # trapezoid: (n - 1) intervals at 18 uJ + one at (18 + 1.8) / 2 uJ, n = samples in the window
    assert first.energy.uj == pytest.approx(499 * 18 + 9.9, rel=1e-4)  # 4 significant digits on the wire
    assert second.per_inference.uj == pytest.approx((199 * 18 + 9.9) / 4, rel=1e-4)
    assert first.idle_power.mw == pytest.approx(1.8, rel=1e-4)
    sent = [line.split(" > ")[1] for line in (tmp_path / "lpm.log").read_text().splitlines() if " > " in line]
    assert sent == [c + "\\r\\n" for c in ["htc", "pwr off", "acqtime inf", "trigsrc sw", "eventsrc d7 fal",
                                          "output energy", "format ascii_dec", "freq 1k", "volt 1800m",
                                          "pwr on nostatus", "start", "stop", "pwr off", "hrc"]]


def test_lpm01a_keeps_the_dut_powered_between_acquisitions(lpm_bench, tmp_path: Path) -> None:
    log, server = lpm_bench
    with open_monitor(f"lpm01a:{server.url}", voltage_v=1.8, log_path=tmp_path / "lpm.log") as monitor:
        for k in range(2):
            monitor.start()
            _bench(log, 2.0 + 2 * k, [(0.0, 0.2)], idle_w=1.8e-3, active_w=18e-3)
            assert len(monitor.stop().events_s) == 2
    sent = [line.split(" > ")[1] for line in (tmp_path / "lpm.log").read_text().splitlines() if " > " in line]
    assert sent[9:] == [c + "\\r\\n" for c in ["pwr on nostatus", "start", "stop", "start", "stop", "pwr off", "hrc"]]


def test_lpm01a_current_output_streams_amperes(lpm_bench) -> None:
    log, server = lpm_bench
    monitor = open_monitor(f"lpm01a:{server.url}", voltage_v=3.3, rate_hz=100, output="current")
    monitor.start()
    _bench(log, 2.0, [(0.0, 1.0)], idle_w=1.8e-3, active_w=33e-3)
    trace = monitor.stop()
    monitor.close()
    assert trace.current_a[20:100] == pytest.approx(10e-3)  # 33 mW / 3.3 V inside the window
    assert trace.current_a[:9] == pytest.approx(1.8e-3 / 3.3, rel=1e-3)


def test_lpm01a_error_reply_names_the_command_and_the_transcript(tmp_path: Path) -> None:
    with Lpm01aSimServer(wiring=WiringLog(), firmware="1.0.5") as server:  # no eventsrc before 1.0.6
        monitor = open_monitor(f"lpm01a:{server.url}", voltage_v=1.8, log_path=tmp_path / "lpm.log")
        with pytest.raises(DeviceError, match="answered 'error eventsrc d7 fal' to 'eventsrc d7 fal': unknown comm") \
                as info:
            monitor.start()
        monitor.close()
    assert info.value.log_path == tmp_path / "lpm.log"
    assert "1.0.6" in (info.value.hint or "")
    assert "< error eventsrc d7 fal" in info.value.log_path.read_text()


def test_an_lpm01a_that_never_answers_times_out_with_the_transcript(tmp_path: Path) -> None:
    silent = socket.create_server(("127.0.0.1", 0))
    monitor = open_monitor(f"lpm01a:socket://127.0.0.1:{silent.getsockname()[1]}", voltage_v=1.8,
                           timeout_s=0.3, log_path=tmp_path / "lpm.log")
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="did not answer 'htc' within 0.3 s") as info:
        monitor.start()
    assert time.monotonic() - t0 < 1.0
    assert info.value.log_path == tmp_path / "lpm.log"
    monitor.close()
    silent.close()


@pytest.mark.parametrize("options, message", [
    ({"rate_hz": 10_000}, "at up to 5000 Hz"),
    ({"rate_hz": 3000}, "not one the board offers"),
    ({"voltage_v": 5.0}, "outside 1.8-3.3 V"),
    ({"output": "power"}, "not 'energy' or 'current'"),
])
def test_lpm01a_settings_outside_the_boards_range_are_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_monitor("lpm01a:/dev/ttyACM0", **{"voltage_v": 1.8, **options})


class _ReplayLpm:
    """A fake LPM01A at the transport boundary: acks every command, then replays recorded stream bytes."""

    def __init__(self, stream: bytes) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self.stream = stream
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        buffer = b""
        while data := conn.recv(4096):
            buffer += data
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                if line == b"stop":
                    conn.sendall(b"Acquisition completed\r\n")
                else:
                    conn.sendall(b"ack " + line + b"\r\n" + (self.stream if line == b"start" else b""))


def test_a_corrupted_line_in_the_stream_surfaces_at_stop_with_its_line_number(tmp_path: Path) -> None:
    good = (DATA / "lpm01a_energy_1k.txt").read_bytes().replace(b"Acquisition completed\r\n", b"")
    lines = good.split(b"\r\n")
    lines[700] = b"18#0-08"
    replay = _ReplayLpm(b"\r\n".join(lines))
    monitor = open_monitor(f"lpm01a:{replay.url}", voltage_v=1.8, log_path=tmp_path / "lpm.log")
    monitor.start()
    with pytest.raises(DataError, match="line 701: '18#0-08' is not an ascii_dec sample"):
        monitor.stop()
    monitor.close()


def test_samples_missing_against_the_timestamp_lines_are_a_measurement_error(tmp_path: Path) -> None:
    good = (DATA / "lpm01a_energy_1k.txt").read_bytes().replace(b"Acquisition completed\r\n", b"")
    lines = good.split(b"\r\n")
    del lines[100:150]  # 50 samples lost before the 1 s TimeStamp
    replay = _ReplayLpm(b"\r\n".join(lines))
    monitor = open_monitor(f"lpm01a:{replay.url}", voltage_v=1.8, log_path=tmp_path / "lpm.log")
    monitor.start()
    with pytest.raises(MeasurementError, match=r"reported 1 s of acquisition but only 950 samples had arrived \(50"):
        monitor.stop()
    monitor.close()


# --- Joulescope --------------------------------------------------------------------------------------------


def _js220(k: int) -> dict:
    """Block k of the fixture as joulescope's StreamBuffer.samples_get returns it."""
    f = np.load(DATA / "js220_blocks.npz")
    return {"time": {"sample_id_range": {"value": f[f"b{k}_range"].tolist(), "units": "samples"},
                     "sampling_frequency": {"value": float(f["rate"]), "units": "Hz"}},
            "signals": {"current": {"value": f[f"b{k}_current"], "units": "A"},
                        "voltage": {"value": f[f"b{k}_voltage"], "units": "V"},
                        "current_lsb": {"value": f[f"b{k}_gpi"], "units": ""}}}


def test_js220_blocks_become_current_and_gpi0_falling_edges() -> None:
    first, level, volts = convert_samples(_js220(0), origin=1000, previous_gpi=1)
    assert (first.start, len(first.current_a), level, volts) == (0, 1000, 1, pytest.approx(1.8))
    assert first.events_s.tolist() == [200e-6]  # id 1200 - origin 1000 at 1 MS/s
    second, level, _ = convert_samples(_js220(1), origin=1000, previous_gpi=level)
    assert second.start == 1000 and second.events_s.tolist() == [pytest.approx(1000e-6)]  # edge on the boundary
    trace = assemble([first, second], 1e6, volts, "joulescope")
    (window,) = energy_windows(trace, [2])
    # ids 1200..1799 at 5 mA, 1800..2000 at 2 mA; trapezoid over [200, 1000] us at 1.8 V:
    # 599 intervals x 5 mA + one (5 + 2) / 2 mA + 200 intervals x 2 mA, each 1 us
    assert window.energy.joules == pytest.approx(1.8e-6 * (599 * 5e-3 + 3.5e-3 + 200 * 2e-3), rel=1e-6)


def test_js220_edge_on_the_first_sample_needs_the_previous_level() -> None:
    second, _, _ = convert_samples(_js220(1), origin=1000, previous_gpi=0)  # pin was already low
    assert second.events_s.size == 0


def test_js220_malformed_blocks_are_data_errors() -> None:
    short = _js220(0)
    short["signals"]["current_lsb"]["value"] = short["signals"]["current_lsb"]["value"][:-1]
    with pytest.raises(DataError, match="holds 1000 current, 1000 voltage and 999 GPI samples"):
        convert_samples(short, 1000, 1)
    wide = _js220(0)
    wide["signals"]["current_lsb"]["value"] = wide["signals"]["current_lsb"]["value"] * 2
    with pytest.raises(DataError, match="other than 0/1"):
        convert_samples(wide, 1000, 1)
    with pytest.raises(DataError, match="lack 'current_lsb'"):
        del wide["signals"]["current_lsb"]
        convert_samples(wide, 1000, 1)


@pytest.mark.parametrize("spec, module", [("joulescope", "joulescope"), ("ppk2:/dev/ttyACM1", "ppk2_api")])
def test_a_missing_driver_package_names_the_extra(monkeypatch, spec: str, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monitor = open_monitor(spec, voltage_v=1.8)
    with pytest.raises(ConfigError, match=f"needs the Python package '{module}") as info:
        monitor.start()
    assert info.value.hint == "pip install 'edge-harness[power]'"


# --- PPK2 --------------------------------------------------------------------------------------------------


def _ppk2_cal() -> Ppk2Calibration:
    return Ppk2Calibration.from_modifiers(json.loads((DATA / "ppk2_modifiers.json").read_text()), 1800)


def test_ppk2_words_decode_with_the_calibration_formula() -> None:
    current, logic = decode_words((DATA / "ppk2_stream.bin").read_bytes(), _ppk2_cal())
    adc_mult = 1.8 / 163840
    # range 1: ADC 2000 -> 8000 counts; (8000 - O1 8) x adc_mult / R1 101.65 x GI1 1.02 + I1 1e-7
    range1 = (8000 - 8) * adc_mult / 101.65 * 1.02 + 1e-7
    # range 2: ADC 3000 -> 12000 counts; (12000 + 4) x adc_mult / R2 10.15 x GI2 0.98
    range2 = (12000 + 4) * adc_mult / 10.15 * 0.98
    assert current[:500] == pytest.approx(range1, rel=1e-6)
    assert current[500:] == pytest.approx(range2, rel=1e-6)
    assert logic[0] == 0b1000_0001 and logic[300] == 0b1000_0000


def test_ppk2_stream_split_mid_word_keeps_samples_and_d0_edges() -> None:
    raw = (DATA / "ppk2_stream.bin").read_bytes()
    decoder = Ppk2Decoder(_ppk2_cal(), channel=0)
    blocks = [decoder.feed(raw[a:a + 1001]) for a in range(0, len(raw), 1001)]  # 1001: never a word boundary
    trace = assemble(blocks, 100_000.0, 1.8, "ppk2")
    whole, _ = decode_words(raw, _ppk2_cal())
    assert np.array_equal(trace.current_a, whole)
    assert trace.events_s.tolist() == [pytest.approx(300e-5), pytest.approx(700e-5)]  # 100 kS/s
    d7 = assemble([Ppk2Decoder(_ppk2_cal(), channel=7).feed(raw)], 1e5, 1.8, "ppk2")
    assert d7.events_s.size == 0  # D7 never falls


def test_ppk2_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="D8 does not exist"):
        Ppk2Decoder(_ppk2_cal(), channel=8)
    with pytest.raises(ConfigError, match="100000 S/s only"):
        open_monitor("ppk2:/dev/ttyACM1", voltage_v=1.8, rate_hz=1000)
    with pytest.raises(ConfigError, match="0.8-5.0 V"):
        open_monitor("ppk2:/dev/ttyACM1")


def test_ppk2_decoding_agrees_with_ppk2_api() -> None:
    ppk2_api = pytest.importorskip("ppk2_api.ppk2_api", reason="ppk2-api is the optional 'power' extra")
    import os

    controller, device = os.openpty()  # ppk2-api opens a real serial port; a pseudo-terminal stands in
    try:
        api = ppk2_api.PPK2_API(os.ttyname(device))
        api.modifiers = json.loads((DATA / "ppk2_modifiers.json").read_text())
        api.current_vdd = 1800
        raw = (DATA / "ppk2_stream.bin").read_bytes()
        samples_ua, bits = api.get_samples(raw[:2000])  # range 1 only: its spike filter acts on range switches
        ours, logic = decode_words(raw[:2000], _ppk2_cal())
        assert np.asarray(samples_ua) / 1e6 == pytest.approx(ours.astype(np.float64), rel=1e-6)
        assert bits == logic.tolist()
        api.ser.close()
    finally:
        os.close(controller)
        os.close(device)


def test_ppk2_end_to_end_through_ppk2_api_on_a_pseudo_terminal() -> None:
    pytest.importorskip("ppk2_api.ppk2_api", reason="ppk2-api is the optional 'power' extra")
    from harness.power.ppk2_sim import Ppk2SimDevice

    log = WiringLog()
    log.power(0.0, 1.8e-3)
    with Ppk2SimDevice(wiring=log, lead_s=0.01, tail_s=0.01) as device:
        monitor = open_monitor(f"ppk2:{device.port}", voltage_v=1.8)
        monitor.start()
        assert device.measuring.wait(2.0)
        _bench(log, 1.0, [(0.0, 0.5)], idle_w=1.8e-3, active_w=18e-3)
        trace = monitor.stop()
        monitor.close()
    assert device.vdd_mv == 1800  # set_source_voltage(1800) as ppk2-api encodes it
    assert trace.events_s.tolist() == pytest.approx([0.01, 0.51])
    (window,) = energy_windows(trace, [25])
    # 18 mW x 0.5 s = 9 mJ; 10 mA is about 2310 ADC counts in range 2, so quantisation stays under 1/4000
    assert window.energy.mj == pytest.approx(9.0, rel=3e-4)
    assert window.idle_power.mw == pytest.approx(1.8, rel=3e-4)  # 1 mA: about 2300 counts in range 1


# --- real hardware (opt-in) --------------------------------------------------------------------------------


@pytest.mark.hardware
def test_a_real_monitor_acquires_samples(request) -> None:
    urls = [u for u in request.config.getoption("--device-url") or [] if u.split(":")[0] in monitor_kinds()]
    if not urls:
        pytest.skip("needs a power monitor: run pytest --device-url lpm01a:/dev/ttyACM0 (or joulescope, ppk2:PORT)")
    monitor = open_monitor(urls[0], voltage_v=1.8)
    monitor.start()
    time.sleep(1.5)
    trace = monitor.stop()
    monitor.close()
    assert trace.duration_s == pytest.approx(1.5, rel=0.3)
    assert np.isfinite(trace.current_a).all() and (trace.current_a > -1e-3).all()
