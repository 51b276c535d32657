"""Give freed heap memory back to the system.

A camera decodes in one thread and converts frames in others; glibc keeps what those threads
free in their own arenas and, unlike the main arena, rarely returns it: a camera actor's memory
grew all run long, its Python objects and Ray references flat, and with `malloc_trim(0)` every
10 s it stays flat (docs/results.md, Memory). Fewer arenas (`MALLOC_ARENA_MAX`, set for every mjray worker unless the environment sets it)
leave less for the trim to find: a thread's frees go back to an arena that others reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import time

log = logging.getLogger(__name__)

TRIM_EVERY_S = 10.0
ARENAS = "2"  # glibc's default is 8 per core


def heap_env() -> dict[str, str]:
    """Environment for mjray's Ray workers: glibc read it as the process started."""
    return {} if "MALLOC_ARENA_MAX" in os.environ else {"MALLOC_ARENA_MAX": ARENAS}


class HeapTrimmer:
    """`tick()` calls glibc's `malloc_trim(0)` at most every `every_s`; a no-op where there is no glibc."""

    def __init__(self, every_s: float = TRIM_EVERY_S, now: float | None = None) -> None:
        self.every_s = every_s
        self._next = (time.monotonic() if now is None else now) + every_s
        self._trim = None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            self._trim = libc.malloc_trim
            self._trim.argtypes, self._trim.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):  # musl, macOS: nothing to trim this way
            log.debug("no malloc_trim here: the heap is left as it is")
        self.trims = 0

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if self._trim is None or now < self._next:
            return
        self._next = now + self.every_s
        self._trim(0)
        self.trims += 1
