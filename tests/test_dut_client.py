"""The host DUT driver against a scripted responder on a real socket: the happy path and every fault class."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from dut_responder import TOP_SCORE, ScriptedDut

from harness.core.errors import DeviceError, DeviceTimeout
from harness.core.transcript import Transcript
from harness.dut import protocol as p
from harness.dut.client import DutClient
from harness.dut.records import DutReplyError, RetryPolicy
from harness.dut.validation import ScoreSpec
from harness.registry.resources import Link

FAST = RetryPolicy(attempts=3, backoff_s=0.01)
INPUT = bytes([7]) + bytes(range(1, 100))  # 100 bytes; the responder's top-1 is 7 % 12 = 7


def client(dut: ScriptedDut, tmp_path: Path, timeout_s: float = 2.0, **link: object) -> DutClient:
    return DutClient(Link(url=dut.url, timeout_s=timeout_s, **link), Transcript(tmp_path / "transcript.log"),
                     retry=FAST, wake_s=0.3)


def test_identify_load_infer_and_count_the_wire_bytes(tmp_path: Path) -> None:
    with ScriptedDut(latency_us=20_000) as dut, client(dut, tmp_path) as c:
        assert (c.info.name, c.info.firmware, c.info.model) == ("scripted", "scripted-fw 1.0", "kws01")
        stats = c.load(INPUT)
        result = c.infer(50, 3, timeout_s=2.0)
    assert bytes(dut._buffer) == INPUT
    assert dut.commands[:3] == ["name", "profile", "db load 100"]
    assert dut.commands[3:7] == ["db " + INPUT[i:i + 31].hex() for i in range(0, 100, 31)]
    assert dut.commands[7] == "infer 50 3"
    assert stats.wire_bytes == p.reference_load_wire_bytes(100) and stats.attempts == 1
    assert result.elapsed_us == 50 * 20_000
    assert result.scores == tuple(TOP_SCORE if i == 7 else 0.0 for i in range(12))
    log = (tmp_path / "transcript.log").read_text()
    assert "> db load 100%" in log and "< m-lap-us-" in log and "\\r\\n" in log


def test_a_device_that_never_answers_fails_within_its_timeout_naming_the_transcript(tmp_path: Path) -> None:
    with ScriptedDut(silent=True) as dut:
        c = client(dut, tmp_path, timeout_s=1.0)
        t0 = time.monotonic()
        with pytest.raises(DeviceTimeout) as err:
            c.open()
        elapsed = time.monotonic() - t0
        c.close()
    assert elapsed < 1.0 + 0.3
    assert err.value.log_path == tmp_path / "transcript.log"
    assert str(tmp_path / "transcript.log") in str(err.value)
    assert dut.commands.count("name") >= 3  # asked again every wake_s


def test_a_board_that_ignores_the_first_name_is_asked_again(tmp_path: Path) -> None:
    with ScriptedDut(ignore_first_name=True) as dut, client(dut, tmp_path) as c:
        assert c.info.name == "scripted"
    assert dut.commands[:3] == ["name", "name", "profile"]


def test_debug_noise_after_m_ready_is_ignored(tmp_path: Path) -> None:
    with ScriptedDut(noise_after_ready=True) as dut, client(dut, tmp_path) as c:
        c.load(INPUT)
        result = c.infer(10, 0, timeout_s=2.0)
        assert c.results() == result.scores
    assert result.elapsed_us == 10 * 20_000
    assert "debug: heap 1234 free" in (tmp_path / "transcript.log").read_text()


def test_a_dropped_hex_digit_sends_that_chunk_again(tmp_path: Path) -> None:
    chunk = "db " + INPUT[62:93].hex()
    with ScriptedDut(drop_digit_in_chunks={2}) as dut, client(dut, tmp_path) as c:
        stats = c.load(INPUT)
    assert stats.attempts == 1 and dut.commands.count("db load 100") == 1
    assert dut.commands.count(chunk) == 2  # the odd digit count is rejected before the DUT stores anything
    assert bytes(dut._buffer) == INPUT
    assert "Insufficent number of hex digits" in (tmp_path / "transcript.log").read_text()


def test_a_corrupted_hex_digit_restarts_the_whole_load(tmp_path: Path) -> None:
    with ScriptedDut(corrupt_digit_in_chunks={1}) as dut, client(dut, tmp_path) as c:
        stats = c.load(INPUT)
    assert stats.attempts == 2 and dut.commands.count("db load 100") == 2  # part of that chunk was stored
    assert bytes(dut._buffer) == INPUT


def test_a_reset_mid_infer_reconnects_reloads_and_runs_the_window_again(tmp_path: Path) -> None:
    with ScriptedDut(reset_on_infers={0}) as dut, client(dut, tmp_path) as c:
        c.load(INPUT)
        result = c.infer(20, 0, timeout_s=2.0)
        assert c.resets == 1
    assert result.elapsed_us == 20 * 20_000 and result.scores[7] == TOP_SCORE
    after = dut.commands[dut.commands.index("infer 20 0") + 1:]
    assert after[:3] == ["name", "profile", "db load 100"] and after[-1] == "infer 20 0"
    assert bytes(dut._buffer) == INPUT


def test_a_lost_link_is_reopened_and_the_input_reloaded(tmp_path: Path) -> None:
    with ScriptedDut(hangup_on_infers={0}) as dut, client(dut, tmp_path) as c:
        c.load(INPUT)
        result = c.infer(5, 0, timeout_s=2.0)
        assert c.reconnects == 1
    assert result.elapsed_us == 5 * 20_000
    assert dut.commands.count("db load 100") == 2 and bytes(dut._buffer) == INPUT


def test_an_error_reply_to_infer_is_a_device_error_with_the_transcript(tmp_path: Path) -> None:
    with ScriptedDut() as dut, client(dut, tmp_path) as c:
        with pytest.raises(DutReplyError) as err:
            c.command("selftest")
    assert "e-[Unknown command: selftest]" in err.value.message
    assert err.value.log_path == tmp_path / "transcript.log"
    assert dut.commands.count("selftest") == 1  # an answer is not retried


def test_io_manager_pass_through_uses_26_byte_chunks_and_strips_the_prefix(tmp_path: Path) -> None:
    with ScriptedDut(io_manager=True) as dut, client(dut, tmp_path, io_manager=True) as c:
        assert c.info.name == "scripted"
        c.load(INPUT)
        result = c.infer(4, 1, timeout_s=2.0)
    assert dut.commands[:3] == ["name", "dut name", "dut profile"]
    assert dut.commands[4:8] == ["dut db " + INPUT[i:i + 26].hex() for i in range(0, 100, 26)]
    assert result.elapsed_us == 4 * 20_000 and result.scores[7] == TOP_SCORE


def test_a_dead_device_after_the_handshake_reports_a_timeout(tmp_path: Path) -> None:
    with ScriptedDut() as dut, client(dut, tmp_path, timeout_s=0.5) as c:
        dut.silent = True
        with pytest.raises(DeviceError) as err:
            c.infer(1, 0, timeout_s=0.5)
    assert isinstance(err.value, DeviceTimeout)
    assert "stopped answering" in err.value.message


# ---- corruption on the link: never passed off as a result (issue 10) ----------------------------------------

KWS = ScoreSpec.quantized(12, 1 / 256, -128, np.dtype(np.int8))  # the int8 softmax of mlperf-dscnn-kws
GOOD = tuple(TOP_SCORE if i == 7 else 0.0 for i in range(12))


def scored_client(dut: ScriptedDut, tmp_path: Path) -> DutClient:
    return DutClient(Link(url=dut.url, timeout_s=2.0), Transcript(tmp_path / "transcript.log"), retry=FAST,
                     wake_s=0.3, scores=KWS)


@pytest.mark.parametrize("line", [
    "m-results-[0.000,0.000,0.000,0.000,0.000,0.000,0.000,4.000,0.000,0.000,0.000,0.000]",  # a flipped digit: range
    "m-results-[0.000,0.000,0.000,0.000,0.000,0.000,0.000,0.996,0.000,0.000,0.000]",  # a lost score: count
    "m-results-[0.000,0.000,0.000,0.000,0.000,0.000,0.000,0.996,0.000,0.000,0.000,0.0p0]",  # grammar
    "m-results-[0.000,0.000,0.000,0.000,0.000,0.000,0.000,0.996,0.000,0.000,0.000,0.001]",  # no int8 step
])
def test_a_corrupted_result_line_runs_the_inference_again(tmp_path: Path, line: str) -> None:
    with ScriptedDut(results_lines={0: line}) as dut, scored_client(dut, tmp_path) as c:
        c.load(INPUT)
        result = c.infer(5, 0, timeout_s=2.0)
    assert result.scores == GOOD
    assert [cmd for cmd in dut.commands if cmd.startswith("infer")] == ["infer 5 0"] * 2
    assert "was corrupted" in (tmp_path / "transcript.log").read_text()


def test_persistent_result_corruption_is_a_device_error_naming_the_transcript(tmp_path: Path) -> None:
    bad = "m-results-[" + ",".join(["4.000"] * 12) + "]"
    with ScriptedDut(results_lines=dict.fromkeys(range(10), bad)) as dut, scored_client(dut, tmp_path) as c:
        c.load(INPUT)
        with pytest.raises(DeviceError) as err:
            c.infer(5, 0, timeout_s=2.0)
    assert "failed 3 times" in err.value.message and "outside what the output can represent" in err.value.message
    assert err.value.log_path == tmp_path / "transcript.log"


@pytest.mark.parametrize("reason", ["Insfficent number of hex digits", "Command 'db' requires a subcommand",
                                    "Unknmwn command: dc"])
def test_any_error_reply_to_a_chunk_sends_that_chunk_again(tmp_path: Path, reason: str) -> None:
    chunk = "db " + INPUT[31:62].hex()
    with ScriptedDut(chunk_errors={1: reason}) as dut, client(dut, tmp_path) as c:
        stats = c.load(INPUT)
    assert stats.attempts == 1 and dut.commands.count("db load 100") == 1
    assert dut.commands.count(chunk) == 2 and bytes(dut._buffer) == INPUT


def test_a_garbled_invalid_hex_digit_still_restarts_the_load(tmp_path: Path) -> None:
    with ScriptedDut(chunk_errors={1: "Invalid hex dimit 'g1'"}) as dut, client(dut, tmp_path) as c:
        stats = c.load(INPUT)  # the firmware may have kept pairs of that chunk: only a fresh load is safe
    assert stats.attempts == 2 and dut.commands.count("db load 100") == 2
    assert bytes(dut._buffer) == INPUT


def test_debug_noise_that_lost_its_line_end_does_not_stall_the_next_reply(tmp_path: Path) -> None:
    with ScriptedDut(noise_without_eol=True) as dut, client(dut, tmp_path) as c:
        stats = c.load(INPUT)
        result = c.infer(10, 0, timeout_s=2.0)
    assert stats.attempts == 1 and dut.commands.count("db load 100") == 1
    assert result.elapsed_us == 10 * 20_000 and result.scores == GOOD
    log = (tmp_path / "transcript.log").read_text()
    assert "[debug] heap 1234 freem-[Expecting 100 bytes]" in log
    assert "attempt" not in log and "no m-ready" not in log


def test_a_partial_line_reaches_the_transcript_at_a_timeout(tmp_path: Path) -> None:
    with ScriptedDut(partial_reply="m-name-dut-[scri") as dut:
        c = client(dut, tmp_path, timeout_s=0.5)
        with pytest.raises(DeviceTimeout):
            c.open()
        c.close()
    log = (tmp_path / "transcript.log").read_text()
    received = [line.split(" < ", 1)[1] for line in log.splitlines() if " < " in line]
    assert "".join(received).startswith("m-name-dut-[scrim-name-dut-[scri")  # each answer to 'name%', once
    assert c.transcript.bytes_received == len("m-name-dut-[scri") * dut.commands.count("name")
