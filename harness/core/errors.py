"""One error hierarchy and one exit-code table; the CLI maps each class to a message and its code."""

from __future__ import annotations

import json
from enum import IntEnum
from pathlib import Path
from typing import Any


class ExitCode(IntEnum):
    """Every exit status of the ``harness`` command, in one place (the README and ``--help`` list it)."""

    OK = 0
    FAIL = 1                   # a sign-off FAIL, a significant regression, a tampered ledger
    USAGE = 2                  # a usage or input mistake: bad option, YAML, model, corpus, results path
    INSUFFICIENT_EVIDENCE = 3  # sign-off could not decide: more samples needed
    DEVICE = 4                 # a device faulted (lost link, garbage reply, timeout)
    MEASUREMENT = 5            # a measurement is invalid (too few samples, windows too short)
    INTERNAL = 70              # a bug in the harness (EX_SOFTWARE); the traceback goes to a log file


EXIT_CODE_TABLE = (
    (ExitCode.OK, "success (sign-off PASS, no regression, ledger intact)"),
    (ExitCode.FAIL, "sign-off FAIL, a significant regression (compare), or tampering (verify)"),
    (ExitCode.USAGE, "usage or input error: the message names the file, line or field and what is valid"),
    (ExitCode.INSUFFICIENT_EVIDENCE, "sign-off INSUFFICIENT_EVIDENCE: the intervals cannot decide yet"),
    (ExitCode.DEVICE, "device fault (lost link, garbage reply, timeout); the message gives the log path"),
    (ExitCode.MEASUREMENT, "invalid measurement (too few samples, windows too short, trace without events)"),
    (ExitCode.INTERNAL, "internal error (a bug): one line names the log file holding the traceback"),
)


class HarnessError(Exception):
    """Base of every error the harness raises on purpose.

    ``exit_code`` is what the CLI exits with; ``hint`` says what would fix it.
    """

    exit_code: int = ExitCode.FAIL

    def __init__(self, message: str, *, hint: str | None = None, log_path: Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.log_path = log_path

    def __str__(self) -> str:
        parts = [self.message]
        if self.hint:
            parts.append(f"hint: {self.hint}")
        if self.log_path:
            parts.append(f"log: {self.log_path}")
        return "\n".join(parts)


class ConfigError(HarnessError):
    """A YAML profile, plan, registry entry or option is invalid (a user mistake)."""

    exit_code = ExitCode.USAGE


class DataError(HarnessError):
    """An input file (model, corpus, audio, manifest) is missing or malformed."""

    exit_code = ExitCode.USAGE


class ModelError(DataError):
    """A model artifact is missing, not a model, has the wrong hash or wrong tensors."""


class DeviceError(HarnessError):
    """A device (real or simulated) faulted: lost link, garbage reply, wrong lifecycle state."""

    exit_code = ExitCode.DEVICE


class DeviceTimeout(DeviceError):
    """A device did not answer within its timeout."""


class MeasurementError(HarnessError):
    """A measurement is invalid (too few samples, windows too short, trace without events)."""

    exit_code = ExitCode.MEASUREMENT


def field_error(path: Path | str, field: str, problem: str, valid: str | None = None) -> ConfigError:
    """Build a ConfigError that names the file, the field, and what would be valid."""
    message = f"{path}: field '{field}': {problem}"
    return ConfigError(message, hint=f"valid: {valid}" if valid else None)


def undecodable(path: Path | str, exc: UnicodeDecodeError, data: bytes | None = None) -> DataError:
    """A DataError naming the file, the line and byte offset of the first byte that is not UTF-8."""
    where = f"byte offset {exc.start}"
    if data is not None:
        line = data.count(b"\n", 0, exc.start) + 1
        where = f"line {line}, {where}"
    return DataError(f"{path}: not UTF-8 text ({where}: byte 0x{exc.object[exc.start]:02x})",
                     hint="the file must be UTF-8 text: re-save it as UTF-8 (e.g. iconv -t UTF-8), or, if the "
                     "harness wrote it, it was damaged after writing")


def read_utf8(path: Path) -> str:
    """A file's text; bytes that are not UTF-8 raise a DataError naming the file, line and offset."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise undecodable(path, exc, data) from None


def read_json(path: Path, expect: type | None = None) -> Any:
    """A JSON file (of type ``expect``); not UTF-8, not JSON or another type is a DataError naming the file."""
    hint = "the file was truncated or edited; re-create it with the command that wrote it"
    try:
        data = json.loads(read_utf8(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}",
                        hint=hint) from None
    if expect is not None and not isinstance(data, expect):
        raise DataError(f"{path}: expected a JSON {'object' if expect is dict else expect.__name__}, "
                        f"got {type(data).__name__}", hint=hint)
    return data
