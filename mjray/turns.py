"""Turn-taking for a detector shared by every camera: whose frame next, and when to ask for it.

A box with few cores runs one model at a time well and several badly: detectors that time-slice
the cores each take N times longer, so every frame ages N-fold. A shared detector instead serves
the seats in turn, each with its newest frame, asked for just before the model is free, so a
frame waits neither behind other seats nor for the model. Pure logic, no Ray: `SeatTurns` picks
the seat, `AskTimer` says when to ask.
"""

from __future__ import annotations

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

    def wake_at(self) -> float:
        return min(self._until.get(seat, 0.0) for seat in self.seats)

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
