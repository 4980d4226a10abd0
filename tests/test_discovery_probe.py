"""``harness devices --probe`` tells the MLPerf Tiny enhanced interface board from a Nucleo DUT on the same ST-LINK
VID:PID by asking ``name%``; the ports are real pyserial transports (socket://) to the simulated board and DUT."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from serial.tools.list_ports_common import ListPortInfo

from harness.cli import _register, cli
from harness.cli import devices as devices_cli
from harness.devices import discovery
from harness.dut.sww.sim import SimBoardServer, SimInterfaceBoard, SimSwwDut

_register()


class QuietDetector:
    """The DUT's detector is not what this test is about: it hears nothing."""

    frame_samples = 512
    latency_s = 0.004
    latency_source = "given"
    description = "quiet"

    def detections(self, audio: np.ndarray) -> np.ndarray:
        return np.empty(0, dtype=np.int64)


def port(device: str, vid: int | None, pid: int | None) -> ListPortInfo:
    info = ListPortInfo(device)
    info.vid, info.pid, info.serial_number, info.description = vid, pid, "SN", "STLINK-V3"
    return info


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    dut = SimSwwDut(QuietDetector(), name="nucleo-u575zi")
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, reads, never answers
    heard: list[bytes] = []
    done = threading.Event()

    def swallow() -> None:
        conn, _ = silent.accept()
        with conn:
            heard.append(conn.recv(100))
            done.wait(5)  # holds the line open, silent

    threading.Thread(target=swallow, daemon=True).start()
    closed = socket.create_server(("127.0.0.1", 0))
    closed_url = f"socket://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    with SimBoardServer(SimInterfaceBoard(tmp_path, dut)) as board, SimBoardServer(dut) as dut_port:
        urls = {"board": board.url, "dut": dut_port.url, "silent": f"socket://127.0.0.1:{silent.getsockname()[1]}",
                "closed": closed_url}
        ports = [port(urls["board"], 0x0483, 0x374E), port(urls["dut"], 0x0483, 0x374E),
                 port(urls["silent"], 0x0483, 0x374B), port(urls["closed"], 0x0483, 0x374E),
                 port("socket://127.0.0.1:9", 0x1915, 0xC00A)]  # a PPK2 is never asked (nothing listens there)
        monkeypatch.setattr(discovery.list_ports, "comports", lambda: ports)
        monkeypatch.setattr(devices_cli, "targets", lambda: type("P", (), {"all": lambda self: []})())
        monkeypatch.setattr(discovery, "PROBE_TIMEOUT_S", 0.5)
        yield urls
    done.set()
    silent.close()
    assert heard in ([], [b"name%"])


def rows(*args: str) -> dict[str, dict]:
    out = CliRunner().invoke(cli, ["devices", "--json", *args], catch_exceptions=False)
    return {r["port"]: r for r in json.loads(out.stdout)}


def test_without_probe_the_shared_vid_pid_is_named_ambiguous_and_nothing_is_asked(bench) -> None:
    found = rows()
    board = found[bench["board"]]
    assert board["vid_pid"] == "0483:374e" and board["role"] == "dut" and board["probe"] == ""
    assert "STM32H573I-DK" in board["match"] and "--probe" in board["match"]
    assert "devices_sww.yaml" in board["source"]


def test_probe_tells_the_interface_board_from_a_dut(bench) -> None:
    found = rows("--probe")
    board = found[bench["board"]]
    assert board["match"] == discovery.INTERFACE_BOARD and board["role"] == "interface-board"
    assert board["use"] == f"harness bench-device --mode stream --board {bench['board']} --streams DIR"
    assert board["probe"] == "tinyML Enhanced Interface Board | m-ready"
    dut = found[bench["dut"]]
    assert dut["match"] == "MLPerf Tiny DUT firmware (nucleo-u575zi)" and dut["role"] == "dut"
    silent = found[bench["silent"]]
    assert silent["probe"] == "no reply to name% within 0.5 s" and silent["match"].startswith("ST-LINK/V2-1")
    closed = found[bench["closed"]]
    assert closed["probe"].startswith(f"cannot ask {bench['closed']} its name") and closed["role"] == "dut"
    assert found["socket://127.0.0.1:9"]["probe"] == ""
