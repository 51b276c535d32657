"""Where a seat's 13 places lie in its camera's picture, learnt from the seat's own readings.

The camera is still, so a tile's place is where it lies, whatever its label: once the places are
known, a reading's tiles are laid on them by position, whatever its holes, and a tile past them
is a drawn one. They are learnt from readings of both ends that agree where they lie, readings
that span 13 places together, a drawn tile a fraction of a tile apart, or, when an end tile is
never read, the span that is; then they follow the row's drift. Pure: no Ray, no clock.
"""

from __future__ import annotations

import math
from collections import Counter

from mjray.mahjong.rows import APART, CONCEALED, ON_GRID, Reading
from mjray.mahjong.tiles import ranks
from mjray.mahjong.votes import Track, name_sorted

GUESS_AFTER = 12  # readings: an end tile never read, where the places lie is guessed after so many
DRIFT = 0.3  # how far one reading of 10 tiles or more moves the known places towards where it lies


class HandPlaces:
    """A seat's 13 places: `x0` (the centre x of place 0) and `pitch` (pixels between tiles), once
    `known`. `confirm`: readings of both ends that must agree; `confirm_new`: readings of a whole
    row elsewhere after which the camera has moved; `window`, `switch_margin`: how the side of a
    never-read end is guessed (the hand's tiles as `mjray.mahjong.votes` names them)."""

    def __init__(self, confirm: int, confirm_new: int, window: int, switch_margin: float) -> None:
        self.confirm, self.confirm_new = confirm, confirm_new
        self.window, self.switch_margin = window, switch_margin
        self.x0 = 0.0
        self.pitch = 0.0  # 0.0 until known
        self.known = False
        self._ref: tuple[float, float] | None = None  # (x0, pitch) of a first reading, while not known
        self._seen: Counter[int] = Counter()  # grid places (from _ref) read so far, while not known
        self._unplaced = 0  # readings on the grid of _ref while not known
        self._kinds: Counter[tuple[int, str]] = Counter()  # (place, kind) read there, while not known
        self._wholes: Counter[int] = Counter()  # readings of both ends by where they lie, while not known
        self._moved = 0  # readings in a row whose drawn tile lies off the known places

    def learn(self, reading: Reading, order: str) -> None:
        """One more reading of the seat's row (`order`: the suits' order in its hand, for the side of
        a never-read end). A whole row of 13 beside a drawn tile, found elsewhere in `confirm_new`
        such readings (the camera moved), places the hand anew."""
        pitch = reading.pitch
        if pitch <= 0:
            return
        geo = self.offset(reading)
        if reading.drawn is not None and not self.known:
            u = reading.drawn_at
            if abs(u - round(u)) >= APART and u < CONCEALED + 1 - APART:  # (a gap of more than a tile: no telling)
                self._place(reading.x0 - (CONCEALED - math.floor(u)) * pitch, pitch)
                return
        whole = len(reading.concealed) == CONCEALED and reading.concealed[-1].slot == CONCEALED - 1
        if reading.drawn is not None and whole and self.known:
            if geo != 0:
                self._moved += 1
                if self._moved >= self.confirm_new:
                    self._place(reading.x0, pitch)
                return
            self._moved = 0
        if self.known:
            if geo is not None and len(reading.concealed) >= 10:
                self.x0 += DRIFT * (reading.x0 - geo * pitch - self.x0)
                self.pitch += DRIFT * (pitch - self.pitch)
            return
        if self._ref is None:
            self._ref = (reading.x0, pitch)
        u = (reading.x0 - self._ref[0]) / self._ref[1]
        if abs(u - round(u)) >= ON_GRID:
            return
        if reading.concealed[-1].slot == CONCEALED - 1:  # both ends (a row of 14 missing its first tile
            self._wholes[round(u)] += 1  # looks so too: `confirm` readings must agree on where they lie)
            if self._wholes[round(u)] >= self.confirm:
                self._place(reading.x0, pitch)
                return
        self._seen.update(round(u) + read.slot for read in reading.concealed)
        self._kinds.update((round(u) + read.slot, read.tile) for read in reading.concealed)
        seen = [place for place, times in self._seen.items() if times >= 2]
        lo, hi = min(seen, default=0), max(seen, default=0)
        if hi - lo >= CONCEALED - 1:
            self._place(self._ref[0] + lo * self._ref[1], self._ref[1])
            return
        self._unplaced += 1
        unread = CONCEALED - 1 - (hi - lo)
        if self._unplaced >= GUESS_AFTER and unread <= 2:
            left = self._unread_left(lo, hi, order)
            self._place(self._ref[0] + (lo - left * unread) * self._ref[1], self._ref[1])

    def _unread_left(self, lo: int, hi: int, order: str) -> bool:
        """End tiles the model never reads: do their places go left? On the side where more kinds
        sort, of the tiles read (named as a hand, so a 1m read as 1s before a 2m is a 1m): a guess."""
        tracks = [Track(self.window) for _ in range(lo, hi + 1)]
        for (at, kind), times in self._kinds.items():
            for _ in range(times if lo <= at <= hi else 0):
                tracks[at - lo].vote(kind, 1.0, self.switch_margin)
        rank, names = ranks(order), name_sorted(tracks, order)
        return rank[names[0]] > len(rank) - 1 - rank[names[-1]]

    def _place(self, x0: float, pitch: float) -> None:
        self.x0, self.pitch, self.known, self._moved = x0, pitch, True, 0
        self._ref = None
        self._seen.clear()
        self._kinds.clear()
        self._wholes.clear()
        self._unplaced = 0

    def offset(self, reading: Reading) -> int | None:
        """The shift of the reading's slots onto the hand's places by where they lie; None when the
        places are not known yet or the reading lies off them."""
        if not self.known or not reading.concealed:
            return None
        u = (reading.x0 - self.x0) / self.pitch
        return round(u) if abs(u - round(u)) < ON_GRID else None

    def offsets(self, reading: Reading, n: int) -> tuple[range, int | None]:
        """Shifts of the reading's slots onto n places worth trying: the one where they lie once the
        places are known, else those a missed end tile may make."""
        geo = self.offset(reading)
        if geo is not None:
            return range(geo, geo + 1), geo
        lo, hi = sorted((0, n - 1 - reading.concealed[-1].slot))
        return range(max(lo, -2), min(hi, 2) + 1), None
