"""Turn-taking for a detector shared by every camera: whose frame next, and when to ask for it.

A box with few cores runs one model at a time well and several badly: detectors that time-slice
the cores each take N times longer, so every frame ages N-fold. A shared detector instead serves
the seats in turn, each with its newest frame, asked for just before the model is free, so a
frame waits neither behind other seats nor for the model. Pure logic, no Ray: `SeatTurns` picks
the seat, `AskTimer` says when to ask, `Rounds` says which instant every seat is sampled at
under policy `aligned`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class SeatTurns:
    """Round robin over seats; a seat that had nothing to give rests, longer each time, so a
    dead camera costs the others little while it reconnects."""

    seats: list[str]
    first_rest_s: float = 0.05
    max_rest_s: float = 1.0
    _next: int = 0
    _rest: dict[str, float] = field(default_factory=dict)  # seat -> current rest length
    _until: dict[str, float] = field(default_factory=dict)  # seat -> resting until

    def __post_init__(self) -> None:
        if not self.seats:
            raise ValueError("SeatTurns needs at least one seat")

    def next(self, now: float) -> str | None:
        """The next seat in turn that is not resting, or None when all rest (see `wake_at`)."""
        for step in range(len(self.seats)):
            seat = self.seats[(self._next + step) % len(self.seats)]
            if self._until.get(seat, 0.0) <= now:
                self._next = (self._next + step + 1) % len(self.seats)
                return seat
        return None

    def resting(self, seat: str, now: float) -> bool:
        return self._until.get(seat, 0.0) > now

    def wake_at(self, seats: list[str] | None = None) -> float:
        """When the first of `seats` (default all) stops resting."""
        return min((self._until.get(seat, 0.0) for seat in seats or self.seats), default=0.0)

    def got(self, seat: str, frame: bool, now: float) -> None:
        """Record whether `seat` had a frame when asked."""
        if frame:
            self._rest.pop(seat, None)
            self._until.pop(seat, None)
            return
        rest = min(self.max_rest_s, self._rest.get(seat, self.first_rest_s / 2) * 2)
        self._rest[seat], self._until[seat] = rest, now + rest


@dataclass
class AskTimer:
    """How long after an inference starts to ask for the next frame: when the answer should land
    as the model frees up. Running averages of the model's time and of an ask's round trip."""

    weight: float = 0.2
    infer_s: float | None = None
    ask_s: float | None = None

    def delay(self) -> float:
        if self.infer_s is None:
            return 0.0
        return max(0.0, self.infer_s - (self.ask_s or 0.0) * 1.5)  # early rather than late

    def inferred(self, seconds: float) -> None:
        self.infer_s = seconds if self.infer_s is None else self.infer_s + self.weight * (seconds - self.infer_s)

    def asked(self, seconds: float) -> None:
        self.ask_s = seconds if self.ask_s is None else self.ask_s + self.weight * (seconds - self.ask_s)


class Rounds:
    """Policy aligned: every seat sampled at the same instants, as fast as the workers go.

    A round is one frame per seat, each the frame captured nearest the round's instant (like
    DeepStream's muxer batching the sources' frames of one moment). The shared workers all take
    their next (seat, instant) from here. A round opens when a worker asks and the previous one
    has been handed out, so rounds follow each other as fast as the pool infers and no worker
    idles on a clock; `min_period_s` caps the rate. The instant is `lag_s` before the asking
    moment: the newest time by which every camera's frame has arrived (learned from the frames'
    capture-to-decode delays). A seat whose camera had nothing rests (`SeatTurns`) and sits
    rounds out. A seat is handed to one worker at a time: until its take is reported (`got`), a
    later round's turn for it waits, so its frames leave the camera in the order of their instants.
    Pure: no Ray, time passed in.
    """

    BUSY_WAIT_S = 0.005  # how soon to ask again when the round's remaining seats are all out
    BUSY_MAX_S = 5.0  # a take not reported by then is given up (its worker died): the seat is handed out again

    def __init__(self, seats: list[str], min_period_s: float = 0.0, slack_s: float = 0.02, weight: float = 0.1) -> None:
        if not seats or min_period_s < 0:
            raise ValueError("Rounds needs seats and min_period_s >= 0")
        self.turns = SeatTurns(list(seats))
        self.min_period_s, self.slack_s, self.weight = min_period_s, slack_s, weight
        self.delay_s: dict[str, float] = {}  # seat -> running mean of capture -> decoded
        self.instant: float | None = None  # the open round's
        self.opened = 0  # rounds opened
        self._todo: list[str] = []  # seats of the open round not handed out yet
        self._busy: dict[str, float] = {}  # seats handed out whose take is not reported yet -> when
        self._wait_until = 0.0

    @property
    def lag_s(self) -> float:
        return max(self.delay_s.values(), default=0.0) + self.slack_s

    def next(self, now: float) -> tuple[str, float] | None:
        """(seat, instant) for a worker to sample next; None while every seat rests or is out (see `wake_at`)."""
        self._busy = {seat: at for seat, at in self._busy.items() if now - at < self.BUSY_MAX_S}
        while True:
            self._todo = [seat for seat in self._todo if not self.turns.resting(seat, now)]
            free = [seat for seat in self._todo if seat not in self._busy]
            if free:
                self._todo.remove(free[0])
                self._busy[free[0]] = now
                return free[0], self.instant  # type: ignore[return-value]
            if self._todo:  # the rest of this round are still out from the last: ask again soon
                self._wait_until = now + self.BUSY_WAIT_S
                return None
            seats = [seat for seat in self.turns.seats if not self.turns.resting(seat, now)]
            if not seats:
                self._wait_until = self.turns.wake_at()
                return None
            if all(seat in self._busy for seat in seats):  # open the next round once one of it can go
                self._wait_until = now + self.BUSY_WAIT_S
                return None
            at = now - self.lag_s
            if self.instant is not None:
                at = max(at, self.instant + self.min_period_s, self.instant + 1e-6)  # strictly later
            first = self.opened % len(seats)  # each seat in turn goes first: the last in a round waits longest
            self.instant, self._todo = at, seats[first:] + seats[:first]
            self.opened += 1

    def wake_at(self) -> float:
        """When to ask again after `next` gave None."""
        return self._wait_until

    def got(self, seat: str, frame: bool, now: float, delay_s: float | None = None) -> None:
        """What the camera gave for `seat`; `delay_s`: that frame's capture-to-decode time."""
        self._busy.pop(seat, None)
        self.turns.got(seat, frame, now)
        if delay_s is not None and 0 <= delay_s < 10:
            old = self.delay_s.get(seat)
            self.delay_s[seat] = delay_s if old is None else old + self.weight * (delay_s - old)


@dataclass(frozen=True)
class RoundsReport:
    """The rounds actor's counters (`RoundsActor.stats`)."""

    rounds: int = 0  # rounds opened
    lag_ms: float = 0.0  # how long before the asking moment its instants lie: the cameras' slowest delay


class RoundsActor:
    """The `rounds` actor every shared worker asks for its next (seat, instant); a shell around
    `Rounds` (started by `mjray.cluster.clients.ROUNDS`). Calls are served one at a time."""

    def __init__(self, seats: list[str], min_period_s: float) -> None:
        from mjray.cluster.clients import ROUNDS
        from mjray.cluster.logs import setup_actor

        setup_actor(ROUNDS.name())
        self.rounds = Rounds(seats, min_period_s)

    def next(self) -> tuple[str, float] | float:
        """The asking worker's next (seat, instant), or the wall time to ask again. One clock,
        this actor's, sets every instant."""
        return self.rounds.next(time.time()) or self.rounds.wake_at()

    def got(self, seat: str, frame: bool, delay_s: float | None) -> None:
        """A worker's take for `seat` came back (with a frame or not; its capture-to-decode delay)."""
        self.rounds.got(seat, frame, time.time(), delay_s)

    def stats(self) -> RoundsReport:
        return RoundsReport(self.rounds.opened, round(self.rounds.lag_s * 1000, 1))
