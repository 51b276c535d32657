"""CPU time by stage of a frame's path, kept by the process that does the work.

What a process costs in all is measured from outside (the benchmark reads every process's CPU);
what it costs *in which stage* only the process knows. Each stage is timed on the thread that
does it, by that thread's CPU clock: a stage's cost to the box, not how long it waited for a
core. Pure: no Ray.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class StageClock:
    """Safe to share between a process's threads. A stage inside another counts for itself only:
    the outer one is charged its own time (a camera's `take` less the `convert` in it)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._inner = threading.local()  # per thread: the time of stages nested in the one running

    @contextmanager
    def stage(self, name: str, count: int = 1, clock: Callable[[], float] = time.thread_time) -> Iterator[None]:
        """Times the block as `count` of `name` (a batch of frames: `count` frames). `clock`:
        `time.process_time` for work that runs on a library's own threads (ONNX Runtime's, on
        more than one)."""
        outer = getattr(self._inner, "seconds", None)
        self._inner.seconds = 0.0
        started, on_thread = clock(), time.thread_time()
        try:
            yield
        finally:
            # nested stages are charged to the outer one in this thread's time, whatever their clock
            self.add(name, clock() - started - self._inner.seconds, count)
            spent = time.thread_time() - on_thread
            self._inner.seconds = outer if outer is None else outer + spent

    def add(self, name: str, seconds: float, count: int = 1) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds
            self.counts[name] = self.counts.get(name, 0) + count

    def as_dict(self) -> dict[str, dict[str, float]]:
        """{stage: {"s": CPU seconds, "n": times}}: plain data, to cross processes and be summed."""
        with self._lock:
            return {name: {"s": round(s, 6), "n": self.counts[name]} for name, s in self.seconds.items()}


def total(clocks: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """The stages of several processes' `as_dict()`, summed."""
    out: dict[str, dict[str, float]] = {}
    for clock in clocks:
        for name, got in clock.items():
            mine = out.setdefault(name, {"s": 0.0, "n": 0})
            mine["s"] += got["s"]
            mine["n"] += got["n"]
    return out


def since(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """What the stages cost between two readings of the same processes."""
    zero = {"s": 0.0, "n": 0}
    return {
        name: {"s": got["s"] - before.get(name, zero)["s"], "n": got["n"] - before.get(name, zero)["n"]}
        for name, got in after.items()
    }
