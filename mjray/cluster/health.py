"""Which seats are down, from which of the run's actors Ray has given up on. Pure: no Ray.

A seat is down when nothing of it can be inferred or emitted any more: its camera or its reorder
dead for good, all of its own detectors dead; or, for every seat, all the shared detectors dead
or the rounds actor dead. The other seats go on. `mjray.cluster.pipeline` asks Ray which actors
are dead and acts on what this says (a seat whose reorder died: its camera is stopped).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mjray.cluster.clients import CAMERA, REORDER, ROUNDS
from mjray.frames import Restarts


@dataclass
class SeatHealth:
    seats: list[str]
    own: dict[str, list[str]] = field(default_factory=dict)  # seat -> its own detectors' names
    shared: list[str] = field(default_factory=list)  # the detectors every seat shares
    rounds: bool = False  # whether the run has a rounds actor (policy aligned)
    down: dict[str, str] = field(default_factory=dict)  # seat -> why it is down
    reorder_dead: set[str] = field(default_factory=set)  # seats whose reorder is dead for good: not drained

    @property
    def detectors(self) -> list[str]:
        """Every detector's name: the shared ones, then each seat's own, in seat order."""
        return self.shared + [name for names in self.own.values() for name in names]

    def mark(self, seat: str, why: str) -> bool:
        """The seat is down for `why` (the first reason holds); True when it was not down before."""
        if seat in self.down:
            return False
        self.down[seat] = why
        return True

    def lose_reorder(self, seat: str, why: str) -> bool:
        """The seat's reorder is dead for good: nothing of it is drained any more, and it is down;
        True when that made it down."""
        self.reorder_dead.add(seat)
        return self.mark(seat, why)

    def judge(self, dead: set[str]) -> tuple[dict[str, str], list[str]]:
        """Marks the seats the dead actors (by name) take down: (those newly down, why; those whose
        reorder has newly died, for their cameras to be stopped)."""
        before = dict(self.down)
        if self.rounds and ROUNDS.name() in dead:
            for seat in self.seats:
                self.mark(seat, "the rounds actor died and was not restarted")
        if self.shared and all(name in dead for name in self.shared):
            for seat in self.seats:
                self.mark(seat, "every shared detector died and none was restarted")
        reorders = []
        for seat in self.seats:
            own = self.own.get(seat, [])
            if own and all(name in dead for name in own):
                self.mark(seat, "its detectors died and none was restarted")
            if REORDER.name(seat) in dead and seat not in self.reorder_dead:
                self.lose_reorder(seat, "reorder died and was not restarted")
                reorders.append(seat)
        return {seat: why for seat, why in self.down.items() if seat not in before}, reorders

    def restarts(self, seat: str, restarted: Mapping[str, int]) -> Restarts:
        """How often each of this seat's actors was restarted, from each actor's count by name."""
        return Restarts(
            camera=restarted.get(CAMERA.name(seat), 0),
            reorder=restarted.get(REORDER.name(seat), 0),
            detectors=sum(restarted.get(name, 0) for name in self.own.get(seat, [])),
            shared=sum(restarted.get(name, 0) for name in self.shared) + restarted.get(ROUNDS.name(), 0),
        )
