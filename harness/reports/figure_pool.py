"""Figures drawn side by side in worker processes: plots/ and report.html hold dozens of matplotlib figures, each
drawn by single-threaded Python, so a batch that is large enough goes to one worker process per core.

A figure travels as the module-level function that builds it, that function's arguments and the function that saves
it (to a PNG file, or to a data: URI), so a worker draws exactly what this process would have drawn, byte for byte.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from matplotlib.figure import Figure

MIN_PARALLEL = 12  # fewer figures are drawn here: starting workers (a second of imports each) would cost more

Job = tuple[Callable[..., Figure], tuple[Any, ...], dict[str, Any], Callable[..., Any], tuple[Any, ...]]


@dataclass
class _Block:
    """A ``shared_workers`` block: its pool once started, and the figures it must see drawn before it ends."""

    pool: ProcessPoolExecutor | None = None
    owed: list[Future[Any]] = field(default_factory=list)


_shared: list[_Block] = []  # the enclosing ``shared_workers`` blocks, innermost last


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _draw(build: Callable[..., Figure], args: tuple[Any, ...], kwargs: dict[str, Any], save: Callable[..., Any],
          extra: tuple[Any, ...]) -> Any:
    return save(build(*args, **kwargs), *extra)


def _ready() -> None:
    """Import what drawing needs, so a warmed worker starts on its first figure at once."""
    import matplotlib.backends.backend_agg  # noqa: F401
    import pandas  # noqa: F401


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _workers() -> int:
    return 1 if multiprocessing.current_process().daemon else cores()  # a daemon process may not start children


@contextmanager
def shared_workers() -> Iterator[None]:
    """One pool for every batch drawn inside the block (a run's plots, then its report), started at first need; the
    block ends when every figure handed to it (``Drawings.finish_later``) is drawn, raising the first error."""
    block = _Block()
    _shared.append(block)
    try:
        yield
        for future in block.owed:
            future.result()
    finally:
        _shared.pop()
        if block.pool is not None:
            block.pool.shutdown(cancel_futures=True)


def warm(figures: int) -> None:
    """Start the enclosing block's workers now when about ``figures`` figures are coming (enough to pay for them),
    so their imports overlap the work that comes before the figures."""
    workers = _workers()
    if _shared and _shared[-1].pool is None and workers > 1 and figures >= MIN_PARALLEL:
        _shared[-1].pool = _new_pool(workers)
        for _ in range(workers):
            _shared[-1].pool.submit(_ready)


@dataclass(frozen=True)
class Pending:
    """A figure's place in a batch, until the batch is drawn (``Drawings.fill``)."""

    index: int


class Drawings:
    """A batch of figures: held while few, sent to worker processes (one per core) once there are ``min_parallel``
    or at once when an enclosing ``shared_workers`` block has started its workers, so small batches never pay for
    starting workers. ``results`` gives each figure's saved result in the order added.
    """

    def __init__(self, workers: int | None = None, min_parallel: int = MIN_PARALLEL) -> None:
        self._workers = _workers() if workers is None else workers
        self._min_parallel = min_parallel
        self._jobs: list[Job] = []
        self._futures: dict[int, Future[Any]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._own_pool = False

    def add(self, save: Callable[..., Any], build: Callable[..., Figure], *args: Any, extra: tuple[Any, ...] = (),
            **kwargs: Any) -> Pending:
        """``save(build(*args, **kwargs), *extra)``, now or in a worker; ``build`` and ``save`` must be module-level
        functions and the arguments picklable."""
        self._jobs.append((build, args, kwargs, save, extra))
        index = len(self._jobs) - 1
        if self._pool is not None:
            self._futures[index] = self._pool.submit(_draw, *self._jobs[index])
        elif self._workers > 1 and (len(self._jobs) >= self._min_parallel or (_shared and _shared[-1].pool)):
            self._start()  # enough figures to pay for workers, or an enclosing block's workers already started
        return Pending(index)

    def _start(self) -> None:
        if _shared:
            if _shared[-1].pool is None:
                _shared[-1].pool = _new_pool(self._workers)
            self._pool = _shared[-1].pool
        else:
            self._pool, self._own_pool = _new_pool(self._workers), True
        self._futures = {i: self._pool.submit(_draw, *job) for i, job in enumerate(self._jobs)}

    def results(self) -> list[Any]:
        """Every figure's result, in the order added (drawn here if the batch stayed small)."""
        return [self._futures[i].result() if i in self._futures else _draw(*job) for i, job in enumerate(self._jobs)]

    def finish_later(self) -> None:
        """Leave the figures to the enclosing ``shared_workers`` block, which waits for them before it ends, when
        they are in its workers; otherwise draw them now."""
        if _shared and self._pool is not None and self._pool is _shared[-1].pool:
            _shared[-1].owed.extend(self._futures.values())  # every job of a started batch is in the pool
            self._jobs, self._futures = [], {}
        else:
            self.results()

    def fill(self, data: Any) -> Any:
        """``data`` with every ``Pending`` in it (in dicts and lists) replaced by its figure's result."""
        results = self.results()

        def filled(value: Any) -> Any:
            if isinstance(value, Pending):
                return results[value.index]
            if isinstance(value, dict):
                return {k: filled(v) for k, v in value.items()}
            if isinstance(value, list):
                return [filled(v) for v in value]
            return value

        return filled(data)

    def close(self) -> None:
        if self._own_pool and self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
        self._pool, self._own_pool = None, False

    def __enter__(self) -> Drawings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
