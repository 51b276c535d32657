"""The one driver loop: drain every seat's reorder -> tally -> sinks -> seat sync -> sinks.

`mjray.main`, the benchmark and the tests all run a pipeline through `Driver`, so what they
measure and check is what a user's run does. The loop never waits on one seat: `Pipeline.drain`
returns as soon as any seat has output.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from mjray.frames import CameraStatus, Item, Result, SeatReport
from mjray.order.sync import SeatSync
from mjray.output.sinks import Sink
from mjray.output.summary import Quantiles, SeatTally

log = logging.getLogger(__name__)

ENDED_CHECK_S = 0.5  # how often to ask whether every source has ended (replays)
RELEASE_EVERY_S = 0.25  # how often the cameras hear which pictures the outputs are done with


class Driven(Protocol):
    """What the driver runs: `mjray.cluster.pipeline.Pipeline`, or a test's scripted stand-in."""

    keep_pixels: bool  # whether the cameras hold pictures for the outputs (then told when to let go)

    @property
    def seat_names(self) -> Sequence[str]: ...

    def drain(self, wait_s: float) -> dict[str, list[Item]]: ...

    def release(self, below: dict[str, int]) -> None: ...

    def ended(self) -> bool: ...

    def stats(self) -> dict[str, SeatReport]: ...

    def stop(self) -> tuple[dict[str, list[Item]], dict[str, SeatReport]]: ...


class Driver:
    def __init__(
        self,
        pipeline: Driven,
        sinks: Sequence[Sink],
        sync: SeatSync | None = None,
        status_every_s: float | None = None,
    ) -> None:
        self.pipeline, self.sinks, self.sync = pipeline, list(sinks), sync
        self.status_every_s = status_every_s
        self.tallies = {seat: SeatTally(seat) for seat in pipeline.seat_names}
        self.skews = Quantiles()  # spread of capture times of every moment shown
        self.final: dict[str, SeatReport] = {}  # each seat's last stats, after `finish`
        self.elapsed_s = 0.0
        self._taken: dict[str, int] = {}  # seat -> the last seq taken
        self._released: dict[str, int] = {}  # seat -> its camera may let go of the pixels before this seq
        self._next_release = 0.0

    def step(self, wait_s: float = 0.05) -> None:
        """Take what the seats emitted (waiting up to `wait_s` for something) through the sinks."""
        self.take(self.pipeline.drain(wait_s=wait_s))
        if self.pipeline.keep_pixels and time.monotonic() >= self._next_release:
            self._next_release = time.monotonic() + RELEASE_EVERY_S
            self.release()

    def release(self) -> None:
        """Tell the cameras which frames' pixels no output will ask for again: those before the
        oldest item a moment may still show (`mjray.camera.pixels`)."""
        below = {}
        for seat, last in self._taken.items():
            held = self.sync.oldest(seat) if self.sync is not None else None
            below[seat] = held.seq if held is not None else last + 1
        moved = {seat: seq for seat, seq in below.items() if seq > self._released.get(seat, 0)}
        if moved:
            self.pipeline.release(moved)
            self._released.update(moved)

    def take(self, drained: dict[str, list[Item]]) -> None:
        now = time.time()
        for seat, items in drained.items():
            if items:
                self._taken[seat] = items[-1].seq
            for item in items:
                self.tallies[seat].add(item, now)
                for sink in self.sinks:
                    sink.write(item, now)
                if self.sync is not None and isinstance(item, Result):  # a gap keeps the last picture shown
                    self.sync.add(seat, item.captured_at, item, item.frame.instant)
        if self.sync is not None:
            moments = self.sync.moments(now)
            self.skews.extend(m.skew_s for m in moments if m.skew_s is not None)
            if moments:
                for sink in self.sinks:
                    sink.show(moments)

    def run(self, duration_s: float | None = None, stop: Callable[[], str | None] = lambda: None) -> str:
        """Step until `duration_s` passes, `stop()` names a reason, a sink asks to stop, or every
        source has ended; returns why it stopped."""
        started = time.monotonic()
        next_status = started + (self.status_every_s or float("inf"))
        next_ended_check = started + ENDED_CHECK_S
        why = None
        while why is None:
            self.step()
            now = time.monotonic()
            why = stop()
            if why is None and any(sink.stop_requested for sink in self.sinks):
                why = "window closed"
            if why is None and duration_s is not None and now - started >= duration_s:
                why = "duration reached"
            if why is None and now >= next_ended_check:
                next_ended_check = now + ENDED_CHECK_S
                if self.pipeline.ended():
                    why = "every source ended"
            if why is None and now >= next_status:
                while next_status <= now:  # one status after a stall, not one per period it missed
                    next_status += self.status_every_s
                status = self.pipeline.stats()
                log.info("status: %s", "  ".join(self.tallies[s].status(status[s]) for s in self.tallies))
                states = {
                    seat: replace(report.camera, status=CameraStatus.DOWN) if report.down else report.camera
                    for seat, report in status.items()
                }
                for sink in self.sinks:  # a live view shows each camera's state as the status line does
                    sink.cameras(states)
        self.elapsed_s = time.monotonic() - started
        return why

    def finish(self) -> dict[str, SeatReport]:
        """Stop the pipeline, take its last items through the sinks; each seat's final stats."""
        last, self.final = self.pipeline.stop()
        self.take(last)
        return self.final

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
