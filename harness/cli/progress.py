"""Progress where no terminal watches (CI logs): one line every ``interval_s`` or every 10 % of a step."""

from __future__ import annotations

import time
from collections.abc import Callable


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``: short enough for a log line."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class LineProgress:
    """A ``Progress`` callback writing one log record per tenth of a step, at least every ``interval_s`` seconds
    while updates arrive, and when a step completes; the ETA is extrapolated from the step's own rate."""

    def __init__(self, description: str, emit: Callable[[str], None], *, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.description = description
        self.emit = emit
        self.interval_s = interval_s
        self.clock = clock
        self.started = clock()
        self._step: tuple[str, int] | None = None  # the step's first label and total
        self._step_started = self.started
        self._step_first_done = 0
        self._last_emit = float("-inf")
        self._last_tenth = -1
        self._last_done = -1

    def __call__(self, label: str, done: int, total: int) -> None:
        now = self.clock()
        if self._step is None or total != self._step[1] or done < self._last_done:
            self._step = (label, total)
            self._step_started, self._step_first_done = now, done
            self._last_tenth = -1
            self._last_emit = float("-inf")
        self._last_done = done
        tenth = 10 * done // total if total > 0 else 0
        finished = total > 0 and done >= total
        if tenth > self._last_tenth or finished or now - self._last_emit >= self.interval_s:
            self._last_tenth = tenth
            self._last_emit = now
            self.emit(self.line(label, done, total, now))

    def line(self, label: str, done: int, total: int, now: float) -> str:
        elapsed = format_duration(now - self.started)
        head = f"[{elapsed:>7}] {self.description}: {label}"
        if total <= 0:
            return head
        text = f"{head} {done}/{total} ({100 * done / total:.0f} %)"
        eta = self.eta_s(done, total, now)
        if done >= total:
            return text + " done"
        return text + (f", eta {format_duration(eta)}" if eta is not None else "")

    def eta_s(self, done: int, total: int, now: float) -> float | None:
        """Seconds left at the step's mean rate so far (None before anything of the step is done)."""
        progressed = done - self._step_first_done
        spent = now - self._step_started
        if progressed <= 0 or spent <= 0:
            return None
        return (total - done) * spent / progressed
