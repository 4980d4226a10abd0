"""One error hierarchy; the CLI maps each class to a message and an exit code in one place."""

from __future__ import annotations

from pathlib import Path


class HarnessError(Exception):
    """Base of every error the harness raises on purpose.

    ``exit_code`` is what the CLI exits with; ``hint`` says what would fix it.
    """

    exit_code = 1

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

    exit_code = 2


class DataError(HarnessError):
    """An input file (model, corpus, audio, manifest) is missing or malformed."""

    exit_code = 2


class ModelError(DataError):
    """A model artifact is missing, not a model, has the wrong hash or wrong tensors."""


class DeviceError(HarnessError):
    """A device (real or simulated) faulted: lost link, garbage reply, wrong lifecycle state."""

    exit_code = 4


class DeviceTimeout(DeviceError):
    """A device did not answer within its timeout."""


class MeasurementError(HarnessError):
    """A measurement is invalid (too few samples, windows too short, trace without events)."""

    exit_code = 5


def field_error(path: Path | str, field: str, problem: str, valid: str | None = None) -> ConfigError:
    """Build a ConfigError that names the file, the field, and what would be valid."""
    message = f"{path}: field '{field}': {problem}"
    return ConfigError(message, hint=f"valid: {valid}" if valid else None)
