"""The verdict of a gate, a disparity or a sign-off, and the exit code each one gives the CLI."""

from __future__ import annotations

from enum import Enum

from harness.core.errors import ExitCode


class Verdict(str, Enum):
    """Compares, hashes, formats and serialises as its text, so JSON and Markdown read ``PASS``."""

    PASS = "PASS"
    FAIL = "FAIL"
    INSUFFICIENT = "INSUFFICIENT_EVIDENCE"
    WAIVED = "WAIVED"

    __str__ = str.__str__
    __format__ = str.__format__

    @property
    def exit_code(self) -> int:
        """What ``harness signoff`` (and ``run --gate``) exits with: 0 PASS, 1 FAIL, 3 undecided."""
        return int({Verdict.PASS: ExitCode.OK, Verdict.FAIL: ExitCode.FAIL}.get(self, ExitCode.INSUFFICIENT_EVIDENCE))
