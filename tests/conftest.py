"""Shared fixtures: every test writes results and caches under its own tmp_path."""

from __future__ import annotations

import os

import pytest

REAL_ADB = {k: os.environ.get(k) for k in ("ANDROID_ADB_SERVER_HOST", "ANDROID_ADB_SERVER_PORT")}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device-url", action="append", default=[],
                     help="enable hardware tests: a DUT port URL (/dev/ttyACM0, socket://...), a power monitor "
                          "(lpm01a:/dev/ttyACM1, joulescope, ppk2:/dev/ttyACM2) or a phone "
                          "(adb://SERIAL?benchmark_model=PATH); repeat for several")


@pytest.fixture(autouse=True)
def _isolated_outputs(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("HARNESS_RESULTS", str(tmp_path_factory.mktemp("results")))
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", "1")  # never the developer's adb server (hardware tests: REAL_ADB)


SSH_MODEL = "mlperf-dscnn-kws"  # what the SSH board tests deploy


@pytest.fixture()
def model():
    """The registry entry the SSH board tests deploy (a module may define its own ``model``)."""
    from harness.core.paths import models_dir
    from harness.registry.models import ModelRegistry

    return ModelRegistry(models_dir()).get(SSH_MODEL)


@pytest.fixture()
def board(tmp_path):
    """A Linux board: a real SSH server on 127.0.0.1 with the runner's files (tests/ssh_board.py)."""
    from tests.ssh_board import BoardServer

    with BoardServer(tmp_path / "board") as server:
        yield server
