"""Where each decoded frame sits in its camera's timeline, and which frames never arrived.

A camera sends a frame every interval; a frame can still go missing on the way: lost in
transit or dropped upstream (its timestamp jumps by several intervals within one connection),
or never sent while the camera was unreachable (between the last frame before a disconnect and
the first after the reconnect, measured in capture time, since a new connection restarts the
stream's timestamps). `Timeline` counts them, so every frame the camera sent is accounted for:
decoded, `lost` or `offline`. Pure: no PyAV, no Ray, times passed in.

The interval is learned from the stream itself: a low quantile of recent timestamp steps, so
regular drops (every other frame gone) do not pass for a slower camera. A timestamp that jumps
further than the capture time that passed (a camera clock reset forward) is a jump, not a loss.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

Missing = Literal["lost", "offline"]


@dataclass(frozen=True)
class MissingFrames:
    """`count` consecutive frames the camera sent (or would have) that never came."""

    reason: Missing
    count: int
    first_captured_at: float  # capture time of the first of them (estimated from the interval)
    interval_s: float


class Timeline:
    STEPS = 64  # timestamp steps the interval is learned from
    QUANTILE = 0.25
    MIN_INTERVAL_S, MAX_INTERVAL_S = 1 / 240, 2.0
    JUMP_SLACK_S = 1.0  # a step this much longer than the capture time that passed is a clock jump

    def __init__(self, interval_s: float | None = None) -> None:
        self._nominal = interval_s
        self._steps: deque[float] = deque(maxlen=self.STEPS)
        self._last_pts_s: float | None = None
        self._last_captured: float | None = None
        self._reconnected = False

    @property
    def interval_s(self) -> float | None:
        """The camera's frame interval as learned so far (None until two frames came)."""
        if len(self._steps) >= 3:
            ordered = sorted(self._steps)
            return ordered[int(len(ordered) * self.QUANTILE)]
        return self._nominal

    def reconnected(self) -> None:
        """A new connection: its timestamps restart, and what came between is offline."""
        self._last_pts_s = None
        self._reconnected = True

    def frame(self, pts_s: float | None, captured_at: float) -> MissingFrames | None:
        """A frame decoded with this timestamp (stream seconds) and capture time; the frames
        missing just before it, if any."""
        missing = None
        interval = self.interval_s
        if self._reconnected and self._last_captured is not None and interval:
            missing = self._between("offline", self._last_captured, captured_at, interval)
        elif pts_s is not None and self._last_pts_s is not None:
            step = pts_s - self._last_pts_s
            passed = captured_at - self._last_captured if self._last_captured is not None else step
            if self.MIN_INTERVAL_S <= step <= passed + self.JUMP_SLACK_S:  # back, in place or a jump: says nothing
                if step <= self.MAX_INTERVAL_S and (interval is None or step < 1.5 * interval):
                    self._steps.append(step)
                interval = self.interval_s
                if interval and self._last_captured is not None:
                    missing = self._between("lost", self._last_captured, self._last_captured + step, interval)
        self._reconnected = False
        self._last_pts_s, self._last_captured = pts_s, captured_at
        return missing

    def until(self, now: float) -> MissingFrames | None:
        """At the end of a run, for a camera still down: the frames not received since its last one."""
        interval = self.interval_s
        if self._last_captured is None or not interval:
            return None
        count = math.floor((now - self._last_captured) / interval + 1e-6)  # frames due by now
        if count <= 0:
            return None
        missing = MissingFrames("offline", count, self._last_captured + interval, interval)
        self._last_captured += count * interval
        return missing

    @staticmethod
    def _between(reason: Missing, last: float, now: float, interval: float) -> MissingFrames | None:
        count = round((now - last) / interval) - 1
        return MissingFrames(reason, count, last + interval, interval) if count > 0 else None


def quantile_step(times: list[float]) -> float | None:
    """The frame interval of these capture times, as `Timeline` learns it: a low quantile of the
    steps between them that could be one interval; None with fewer than three."""
    steps = sorted(
        b - a for a, b in zip(times, times[1:]) if Timeline.MIN_INTERVAL_S <= b - a <= Timeline.MAX_INTERVAL_S
    )
    return steps[int(len(steps) * Timeline.QUANTILE)] if len(steps) >= 3 else None
