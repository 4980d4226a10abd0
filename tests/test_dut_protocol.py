"""The MLPerf Tiny protocol as bytes: command encoding, db chunking, reply parsing, wire accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.core.errors import ConfigError
from harness.dut import protocol as p
from harness.dut.validation import ScoreSpec, infer_reply_problem


def test_commands_end_in_percent_without_cr_or_lf() -> None:
    assert p.encode("name") == b"name%"
    assert p.encode(p.passthrough("infer 10 1")) == b"dut infer 10 1%"
    for bad in ("", "na%me", "name\r", "name\n", "naïve"):
        with pytest.raises(ConfigError):
            p.encode(bad)


def test_a_command_longer_than_the_firmware_buffer_is_refused() -> None:
    assert len(p.encode("x" * 79)) == 80
    with pytest.raises(ConfigError, match="80"):
        p.encode("x" * 80)


def test_490_bytes_load_as_db_load_and_16_chunks_of_at_most_31_bytes() -> None:
    data = bytes(range(256)) + bytes(range(234))
    commands = p.load_commands(data)
    assert commands[0] == "db load 490"
    chunks = commands[1:]
    assert len(chunks) == 16  # ceil(490 / 31)
    assert [len(c) for c in chunks] == [3 + 62] * 15 + [3 + 2 * (490 - 15 * 31)]
    assert bytes.fromhex("".join(c[3:] for c in chunks)) == data
    assert chunks[0] == "db " + data[:31].hex()


def test_behind_an_io_manager_chunks_are_26_bytes() -> None:
    chunks = p.load_commands(bytes(52), p.CHUNK_BYTES_IO_MANAGER)[1:]
    assert chunks == ["db " + "00" * 26, "db " + "00" * 26]
    with pytest.raises(ConfigError):
        p.load_commands(bytes(10), 32)
    with pytest.raises(ConfigError):
        p.load_commands(b"")


@pytest.mark.parametrize(("line", "expected"), [
    ("m-ready", p.Ready("m-ready")),
    ("m-name-dut-[nucleo-l4r5zi]", p.Name("m-name-dut-[nucleo-l4r5zi]", "nucleo-l4r5zi")),
    ("m-profile-[ulp-mlperf]", p.Profile("m-profile-[ulp-mlperf]", "ulp-mlperf")),
    ("m-model-[kws01]", p.ModelId("m-model-[kws01]", "kws01")),
    ("m-[Expecting 490 bytes]", p.Expecting("m-[Expecting 490 bytes]", 490)),
    ("m-load-done", p.LoadDone("m-load-done")),
    ("m-lap-us-123456789", p.Lap("m-lap-us-123456789", 123456789)),
    ("m-warmup-start-10", p.InferStep("m-warmup-start-10", "warmup-start", 10)),
    ("m-infer-done", p.InferStep("m-infer-done", "infer-done", None)),
    ("m-results-[0.000,0.996,0.004]", p.Results("m-results-[0.000,0.996,0.004]", (0.0, 0.996, 0.004))),
    ("m-buffer-0a-ff-10", p.Buffer("m-buffer-0a-ff-10", b"\x0a\xff\x10")),
    ("e-[Insufficent number of hex digits]",
     p.DutError("e-[Insufficent number of hex digits]", "Insufficent number of hex digits")),
    ("m-timestamp-mode-energy", p.Boot("m-timestamp-mode-energy", "energy")),
    ("m-init-done", p.Boot("m-init-done", None)),
    ("m-dut-passthrough(db load 490)", p.Passthrough("m-dut-passthrough(db load 490)", "db load 490")),
    ("debug: heap 1234", p.Noise("debug: heap 1234")),
    ("m-results-[0.1,garbage]", p.Malformed("m-results-[0.1,garbage]")),  # corruption, never noise
    ("xxm-ready", p.Noise("xxm-ready")),
])
def test_reply_lines_parse_into_typed_messages(line: str, expected: p.Message) -> None:
    assert p.parse_line(line) == expected


def test_io_manager_prefix_and_line_noise_are_stripped() -> None:
    assert p.split_prefix("[dut]: m-ready") == (True, "m-ready")
    assert p.split_prefix("m-ready") == (False, "m-ready")
    assert p.decode_line(b"m-re\x00ady\xff\r\n") == "m-ready\n"


def test_reference_load_wire_bytes_counts_both_directions_by_hand() -> None:
    # 62 bytes in two 31-byte chunks: sent "db load 62%" (11) + 2 x "db <62 hex>%" (66 each);
    # received "m-[Expecting 62 bytes]\r\n" (24) + "m-ready\r\n" (9) after each of 3 commands + "m-load-done\r\n" (13)
    assert p.reference_load_wire_bytes(62) == 11 + 2 * 66 + 24 + 3 * 9 + 13
    assert p.wire_seconds(11520, 115200) == pytest.approx(1.0)


# ---- what corruption looks like, and what it does not stall (issue 10) --------------------------------------


@pytest.mark.parametrize(("line", "expected"), [
    ("[debug] t=6700 us heap okm-ready", p.Ready("m-ready")),  # noise whose CR/LF was lost, then the reply end
    ("[debug] heap okm-[Expecting 490 bytes]", p.Expecting("m-[Expecting 490 bytes]", 490)),
    ("[debug] heap oke-[Insufficent number of hex digits]",
     p.DutError("e-[Insufficent number of hex digits]", "Insufficent number of hex digits")),
    ("m-redy", p.Ready("m-redy")),  # a garbled m-ready still ends the reply
    ("-ready", p.Ready("-ready")),
    ("m-lap-us-12a45", p.Malformed("m-lap-us-12a45")),
    ("m-lap-us-12345678901", p.Malformed("m-lap-us-12345678901")),
    ("m-results-[0.1,,0.2]", p.Malformed("m-results-[0.1,,0.2]")),
    ("m-results-[nan]", p.Malformed("m-results-[nan]")),
    ("[debug] m-ready soon", p.Noise("[debug] m-ready soon")),  # a token inside noise that is not a whole reply
])
def test_corrupted_and_glued_lines(line: str, expected: p.Message) -> None:
    assert p.parse_line(line) == expected


def test_a_relayed_line_behind_glued_noise_keeps_its_prefix() -> None:
    assert p.split_prefix("[debug] heap ok[dut]: m-ready") == (True, "m-ready")


def test_score_spec_of_an_int8_output_accepts_its_printed_steps_only() -> None:
    spec = ScoreSpec.quantized(3, 1 / 256, -128, np.dtype(np.int8))
    assert spec.low == pytest.approx(-0.0005) and spec.high == pytest.approx(255 / 256 + 0.0005)
    assert spec.problem([0.0, 0.004, 0.996]) is None  # q = -128, -127, 127 printed with 3 decimals
    assert "outside" in spec.problem([0.0, 0.0, 4.0])
    assert "no dequantized step" in spec.problem([0.0, 0.0, 0.002])
    assert "2 scores" in spec.problem([0.0, 0.0])
    assert "not finite" in spec.problem([0.0, math.inf, 0.0])
    assert ScoreSpec.floating(2).problem([-3.5, 12.25]) is None


def test_laps_that_outlast_the_timeout_or_run_back_are_corruption() -> None:
    def reply(a: int, b: int) -> list[p.Message]:
        return [p.Lap(f"m-lap-us-{a}", a), p.Lap(f"m-lap-us-{b}", b), p.Results("m-results-[0.5]", (0.5,))]

    assert infer_reply_problem(reply(100, 5_000), None, 1e6, 50) is None
    assert infer_reply_problem(reply(2**32 - 10, 5_000), None, 1e6, 2**32 - 20) is None  # across the timer's wrap
    assert "longer than the host waited" in infer_reply_problem(reply(3_853_031, 385_331), None, 3e6, 0)
    assert "runs back" in infer_reply_problem(reply(1_039, 85_528), None, 1e6, 10_000)
    assert "1 m-lap-us" in infer_reply_problem(reply(1, 2)[1:], None)
