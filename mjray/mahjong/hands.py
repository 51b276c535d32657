"""Each seat's hand read from its detections: a stable hand over time, with its draws and discards.

Pure logic, no Ray; the game record feeds it every result of its seat in capture order
(`mjray.mahjong.table` runs one per seat).

`HandReader` holds one seat's stable hand: 13 tiles between turns, 14 while a drawn tile is held.
The camera is still, so a tile's place is where it lies: the reader learns where the 13 places are
from the seat's own readings (`mjray.mahjong.places`) and lays every reading on them by position,
whatever its holes (`mjray.mahjong.rows` reads a frame's row, `mjray.mahjong.align` lays it on the
places). A drawn tile is the one apart at the row's end, by any gap, or, laid against the row or
slid into it, the 14th tile whose removal leaves the rest most like the hand held. Each tile keeps
its own votes and the hand's tiles are named together in the order the seat keeps its suits in
(learnt from its hands), a place never read holding a guess marked by a confidence of 0
(`mjray.mahjong.votes`). A drawn tile kept at the row's right end when another goes, not sorted in,
is read where it lies, named by its own reads (`Track.loose`), and its sorting in later is no turn
(misread while loose, it takes the kind read where it sorts, when its label sorts there too).
A reading that does not show the hand held is evidence of a change, taken once `confirm` readings
show it (one, when it is unmistakable), and dated by the capture time of the first reading that
showed it: a draw (the 13 unchanged, a drawn tile beside or among them); a discard (the new 13 must
be the old 14 less one tile, re-sorted: the best fit of the candidates wins, so the discarded tile
is a multiset difference that no single misread changes, and the place the drawn tile sorts to can
correct its label, even to a kind it was never read as when drawn: `mjray.mahjong.discards`); a
turn seen only by its result (one tile out, another sorted in or kept loose at the row's end, its
drawn tile never seen); or a new hand (a deal), taken only when `confirm_new` readings agree on it.
While a discard waits for its confirmation the hand shows the 13 it leaves. A draw is told with its
discard, when its tile is best known (or after `draw_votes` reads of it).

Every call costs O(boxes in the frame) but a change's call (a few hundred candidate hands scored
on a few readings); nothing keeps more than a few seconds of reads per tile.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from mjray.mahjong.align import align, fit, laid, of_14
from mjray.mahjong.discards import LOOSE_COST, Discard, barely_named, rank_discards
from mjray.mahjong.fits import TurnFits, fit_turns
from mjray.mahjong.places import HandPlaces
from mjray.mahjong.rows import CONCEALED, Reading, TileRead, read_row
from mjray.mahjong.tiles import SUITS, counts_34, sorted_kinds, suit_order
from mjray.mahjong.votes import YOUNG, Track, may_sort_to, name_sorted, sorts_to

Kind = Literal["draw", "discard"]
MIN_WEIGHT = 0.05  # a read's vote never weighs less, whatever the detector's confidence
# misfit per reading of a loose tile sorted in under the kind the readings show where both sort (it was misread
# while loose), not its label: under the half a reading an unseen turn must fit better by for a sort-in to lose,
# so a loose tile discarded in a turn never seen, its new tile sorted where it would sort, reads as no turn
RENAME_COST = 0.1


@dataclass(frozen=True)
class Event:
    """A draw or a discard, as read."""

    seat: str
    kind: Kind
    tile: str  # compact name
    at: float  # capture time of the first sample that showed it
    confidence: float  # in [0, 1]
    tsumogiri: bool = False  # a discard of a tile of the kind just drawn (a sorted hand cannot tell more)


@dataclass(frozen=True)
class StableHand:
    """A seat's hand as the reader holds it."""

    seat: str
    concealed: tuple[str, ...]  # left to right
    drawn: str | None  # the tile held apart during the seat's turn
    confidence: tuple[float, ...]  # per tile of `tiles`: the share of its recent votes naming it (0: a guess)
    runner_up: tuple[tuple[str, float] | None, ...]  # per tile of `tiles`: the next label voted for, its share
    since: float  # capture time of the first sample that showed this hand (its tiles, not their labels)
    order: str = SUITS  # the order the seat keeps its suits in, left to right
    loose: tuple[int, ...] = ()  # places of `concealed` holding a drawn tile left out of that order

    @property
    def tiles(self) -> tuple[str, ...]:
        """Tiles left to right as they lie, the drawn one last."""
        return self.concealed + ((self.drawn,) if self.drawn else ())

    @property
    def guessed(self) -> tuple[int, ...]:
        """Indices in `tiles` of the places no read names (the model never reads them, or names a kind
        that cannot lie there): their tiles are guesses from where they sort, kept in the notation."""
        return tuple(i for i, c in enumerate(self.confidence) if c == 0.0)

    def notation(self) -> str:
        """The hand (drawn tile included) in the usual notation, e.g. '123m456p789s1122z'."""
        return notation(self.tiles)

    def shanten(self) -> int:
        """Tiles away from ready (0: ready; -1: a complete 14-tile hand), by the `mahjong` package."""
        return shanten(self.tiles)


def notation(tiles: Sequence[str]) -> str:
    """'123m456p789s1122z' for any order of the tiles: the `mahjong` package's one-line string."""
    from mahjong.tile import TilesConverter

    return TilesConverter.to_one_line_string(TilesConverter.to_136_array(counts_34(tiles)))


_SHANTEN = None


def shanten(tiles: Sequence[str]) -> int:
    global _SHANTEN
    if _SHANTEN is None:
        from mahjong.shanten import Shanten

        _SHANTEN = Shanten()
    return _SHANTEN.calculate_shanten(counts_34(tiles))


class HandReader:
    """One seat's stable hand, from that seat's results in capture order (see the module docstring)."""

    def __init__(
        self,
        seat: str,
        window: int = 48,  # reads kept per tile (samples)
        confirm: int = 2,  # readings that must show a draw or a discard before it is taken
        confirm_new: int = 3,  # readings in a row that must agree on a new hand (first read, deal)
        draw_votes: int = 8,  # reads of the drawn tile after which its draw is told before its discard
        same_tolerance: float = 3.0,  # misread tiles a reading may have and still show the hand held
        fit_tolerance: float = 3.0,  # misread tiles under which a reading fits a draw or a discard
        decisive: float = 1.0,  # misread tiles by which the best discard must beat the next (else wait a while)
        switch_margin: float = 1.0,  # vote weight by which another label must lead to take a tile over
        replace_min: int = 4,  # tiles that must differ for readings to replace the hand, not vote in it
        min_tiles: int = 8,  # a reading with fewer tiles on the row is no evidence (an occluded view)...
        min_placed: int = 5,  # ...unless it lies on the hand's known places and has this many (a hand over the row)
        sure_misfit: float = 1.0,  # misread tiles under which one reading suffices for a draw or a discard
        order: str | None = None,  # the suits' order in the seat's hand ('mpsz', 'zmps', ...); None: learnt
    ) -> None:
        if confirm < 1 or confirm_new < 1 or window < YOUNG:
            raise ValueError(f"HandReader: confirm and confirm_new must be >= 1 and window >= {YOUNG}")
        self.seat = seat
        self.window, self.confirm, self.confirm_new, self.draw_votes = window, confirm, confirm_new, draw_votes
        self.same_tolerance, self.fit_tolerance, self.decisive = same_tolerance, fit_tolerance, decisive
        self.switch_margin, self.replace_min, self.min_tiles = switch_margin, replace_min, min_tiles
        self.min_placed = min_placed
        self.sure_misfit = sure_misfit
        self.order = order or SUITS  # the suits' order in this seat's hand, learnt from each new hand read
        self._learn_order = order is None
        sorted_kinds(self.order)  # (a bad order fails here, naming what is expected)
        self.replaced_at: float | None = None  # `since` of the last hand that replaced another wholesale (a deal)
        self._tracks: list[Track] = []  # the concealed tiles, left to right
        self._drawn: Track | None = None
        self._since = 0.0
        self._labels: list[str] = []
        self._pending: list[tuple[float, Reading]] = []  # readings, since the hand held was last seen, that differ
        self._agreeing = 0  # readings in a row that show the hand held
        self._draw_at: float | None = None  # a draw taken but not yet told
        self._glimpse: float | None = None  # when a drawn tile was last seen but not (yet) taken
        self._seen_at = -math.inf  # capture time of the last reading that showed the hand held
        self.places = HandPlaces(confirm, confirm_new, window, switch_margin)  # where the 13 lie in the picture
        self._preview: tuple[list[Track], tuple[str, ...], float] | None = None  # a discard seen, not yet taken
        self._hand: StableHand | None = None

    # the seat's results

    def observe(self, t: float, boxes: np.ndarray, labels: Sequence[str], scores: np.ndarray) -> list[Event]:
        """One result: boxes (N, 4: x1 y1 x2 y2 pixels), compact tile names, confidences; `t`: its capture time."""
        return self.observe_reading(t, read_row(boxes, labels, scores, pitch=self.places.pitch or None))

    def gap(self, t: float) -> list[Event]:
        """No detections for the instant `t`: no evidence either way."""
        return []

    def observe_reading(self, t: float, reading: Reading) -> list[Event]:
        if len(reading.concealed) < self.min_tiles and (
            len(reading.concealed) < self.min_placed or self.places.offset(reading) is None or not self._tracks
        ):
            return []
        self.places.learn(reading, self.order)
        reading = laid(reading, self.places, self._tracks)
        if not self._tracks:
            self._pending.append((t, reading))
            if len(self._pending) > 4 * self.confirm_new:
                self._pending.pop(0)
            return self._read_anew()
        offset, agree, aligned = fit(reading, self.places, self._tracks)
        other = (
            self._drawn is not None
            and reading.drawn is not None
            and len(self._drawn.votes) >= self.confirm
            and self._drawn.credit(reading.drawn.tile) < 0.5  # (else a drawn tile misread at first)
            and any(r.drawn is None for _, r in self._pending)
        )  # (else a drawn tile misread now)
        if self._drawn is None:  # after a drawn tile seen once, the hand held may show its tsumogiri
            turning = any(r.drawn is not None for _, r in self._pending)
        elif other:  # another drawn tile after its discard (a tsumogiri, or shown) is the next turn's
            gone = [(u, r) for u, r in self._pending if r.drawn is None]
            turning = len(gone) >= self.confirm or self._discard_shown(gone + [(t, reading)])
        else:
            turning = False
        if (
            not turning
            and self._drawn is None
            and reading.drawn is None
            and aligned - agree >= 2 * self.decisive
            and self._shows_turn(reading)
        ):
            turning = True  # (its drawn tile never seen)
        if (reading.drawn is None) == (self._drawn is None) and aligned - agree <= self.same_tolerance and not turning:
            self._agreeing += 1
            # the drawn tile seen again: the readings before missed it; else one like the hand held ends no change
            if self._agreeing >= self.confirm or (self._drawn is not None and not other):
                self._pending.clear()
            self._show(None)
            self._vote(reading if not other else replace(reading, drawn=None), offset)
            self._seen_at = t
            return self._draw_told()
        self._agreeing = 0
        self._pending.append((t, reading))
        if len(self._pending) > 4 * self.confirm_new:
            self._pending.pop(0)
        return self._resolve()

    @property
    def tiles(self) -> tuple[str, ...]:
        """The stable hand's labels left to right (cheap: no confidences)."""
        if self._preview is not None:
            return self._preview[1]
        return tuple(self._labels) + ((self._drawn.tile(),) if self._drawn else ())

    @property
    def hand(self) -> StableHand | None:
        """The hand held; from the first reading that shows a discard (not a tsumogiri: that looks like
        a drawn tile missed) the hand it leaves, while its discard waits to be confirmed."""
        if not self._tracks:
            return None
        if self._hand is None:
            if self._preview is not None:
                tracks, labels, since = self._preview
                self._hand = StableHand(
                    self.seat,
                    labels,
                    None,
                    tuple(tr.confidence(label) for tr, label in zip(tracks, labels)),
                    tuple(tr.runner_up(label) for tr, label in zip(tracks, labels)),
                    since,
                    self.order,
                )
                return self._hand
            tracks = self._tracks + ([self._drawn] if self._drawn else [])
            self._hand = StableHand(
                self.seat,
                tuple(self._labels),
                self._drawn.tile() if self._drawn else None,
                tuple(tr.confidence() for tr in tracks),
                tuple(tr.runner_up() for tr in tracks),
                self._since,
                self.order,
                tuple(k for k, tr in enumerate(self._tracks) if tr.loose),
            )
        return self._hand

    def _show(self, preview: tuple[list[Track], tuple[str, ...], float] | None) -> None:
        if preview is not None or self._preview is not None:
            self._preview, self._hand = preview, None

    def _vote(
        self, reading: Reading, offset: int, tracks: list[Track] | None = None, drawn: Track | None = None
    ) -> None:
        """The reading's tiles as reads of the places they fall on (the hand held's, or those given)."""
        own = tracks is None
        tracks = self._tracks if tracks is None else tracks
        drawn = self._drawn if own else drawn
        changed = False
        shown = [False] * len(tracks)
        for read in reading.concealed:
            place = read.slot + offset
            if 0 <= place < len(tracks):
                changed |= self._vote_read(tracks[place], read)
                shown[place] = True
        hidden = len(reading.concealed) < self.min_tiles  # (a hand over the row: its places unseen, not empty)
        for track, read in zip(tracks, shown):
            if not read and not hidden:
                changed |= track.miss()
        if reading.drawn is not None and drawn is not None:
            changed |= self._vote_read(drawn, reading.drawn)
            drawn.apart = True
        if own:
            self._hand = None
            if changed:
                self._labels = name_sorted(self._tracks, self.order)

    def _vote_read(self, track: Track, read: TileRead) -> bool:
        """A read's label, and the label of a second box on the same tile, as votes (weighed by confidence)."""
        also = (read.alt, max(read.alt_score, MIN_WEIGHT)) if read.alt else None
        return track.vote(read.tile, max(read.score, MIN_WEIGHT), self.switch_margin, also)

    def _install(self, tracks: list[Track], drawn: Track | None, since: float) -> None:
        self._tracks, self._drawn, self._since = tracks, drawn, since
        self._preview = None
        self._glimpse = None
        for k, tr in enumerate(tracks):  # a tile kept out of order that now lies where it sorts is in order
            if tr.loose and k in sorts_to(tracks[:k] + tracks[k + 1 :], tr.label, self.order):
                tr.loose = False
        if self._learn_order:  # (voted labels: a tile held once counts, one kept out of order does not)
            self.order = suit_order(
                [[tr.label for tr in tracks if tr.label and not tr.loose]], self.order, singles=True
            )
        self._labels = name_sorted(tracks, self.order)
        if drawn is not None:
            drawn.name = ""
        self._pending.clear()
        self._hand = None

    # changes

    def _resolve(self) -> list[Event]:
        """Changes, when the readings that differ from the hand held make some. A draw needs
        `confirm` readings of a drawn tile beside the 13 held, or one and then its discard, or one
        that shows the 13 held all but `sure_misfit` tiles; a discard needs `confirm` readings of a
        new 13 from the first without the drawn tile, or one when it is not a tsumogiri and shows the
        new 13 all but `sure_misfit` tiles while every other hand misses more (a later one may show
        the next drawn tile: the readings left after a change are evidence for the next). Readings
        that a turn seen only by its result fits, while another fits about as well, wait for more
        (at most `confirm_new` + 2) rather than count as votes for the hand held."""
        pending = self._pending
        if self._drawn is None:
            if len(pending) >= self.confirm and self._sorted_in(pending):
                return self._resolve() if self._pending else []
            shown = []
            for t, reading in pending:
                if reading.drawn is not None:
                    offset, agree, aligned = fit(reading, self.places, self._tracks)
                    if aligned - agree <= self.fit_tolerance:
                        shown.append((t, reading, offset, aligned - agree))
            if shown:
                later = [(t, r) for t, r in pending if t > shown[0][0]]
                while later and later[0][1].drawn is not None:
                    later.pop(0)
                gone = sum(r.drawn is None for _, r in later)  # readings that may show its discard
                if len(shown) >= self.confirm or gone >= self.confirm or shown[0][3] <= self.sure_misfit:
                    events = self._take_draw(shown)
                    if gone < self.confirm:  # those between readings of the drawn tile missed it
                        later = [(t, r) for t, r in pending if t > shown[-1][0]]
                    self._pending = later
                    return events + (self._resolve() if later else [])
                if self._glimpse is None:
                    self._glimpse = shown[0][0]
            if sum(r.drawn is None for _, r in pending) >= self.confirm:
                events = self._take_unseen_turn(pending)
                if events:
                    return events + (self._resolve() if self._pending else [])
                if events is not None:  # a turn fits them: not votes for the hand held, nor a new hand
                    return []
        else:
            again = [
                k for k, (_, r) in enumerate(pending) if r.drawn is not None and self._drawn.credit(r.drawn.tile) >= 0.5
            ]
            if again:  # the drawn tile held seen again: the readings before missed it
                del pending[: again[-1] + 1]
            first = next((k for k, (_, r) in enumerate(pending) if r.drawn is None), None)
            if first is not None:
                gone = pending[first:]
                events = self._take_discard(gone)
                if events is None:  # no tile's loss fits: the drawn tile misread, sorted elsewhere?
                    events = self._take_unseen_turn(gone) or None
                if events:
                    self._pending = [(t, r) for t, r in gone if r.drawn is not None]
                    return events + (self._resolve() if self._pending else [])
                if events is not None:
                    return events
        if len(self._pending) >= self.confirm_new:
            return self._read_anew()
        return []

    def _sorted_in(self, readings: list[tuple[float, Reading]]) -> bool:
        """A tile left out of order (`Track.loose`), or the only tile of its suit at the row's end,
        sorted in: whether the readings show the 13 held with it moved to where it sorts, much
        better than as they lay. No event: the hand is the same (the readings with a drawn tile stay
        pending: the player may sort it as they draw)."""
        tracks = self._tracks
        k = next((k for k, tr in enumerate(tracks) if tr.loose), None)
        lone = k is None and tracks[-1].tile()[1:] not in {tr.tile()[1:] for tr in tracks[:-1]}
        if lone:  # (the only tile of its suit, at the row's end: where the player keeps that suit is a guess)
            k = len(tracks) - 1
        if k is None:
            return False
        readings = list(readings)  # (installing clears the pending ones)
        kept = tracks[k]
        fits = self._turns(readings)
        views, held, ranked, misfits = fits.views, fits.held, fits.ranked, fits.misfits
        rest = tracks[:k] + tracks[k + 1 :]
        best = None
        for q in (may_sort_to if lone else sorts_to)(rest, kept.tile(), self.order):
            if q == k:
                continue
            each = misfits(k, q) + np.array([1.0 - kept.credit(v[q]) if v[q] is not None else 0.0 for v in views])
            if best is None or each.sum() < best[0].sum():
                best = (each, q, None)
            if lone:  # (a tile held a while: another kind where it would sort is a turn)
                continue
            # a loose tile misread: another kind the readings show where it sorts, that sorts there too
            shown = Counter(v[q] for v in views if v[q] is not None and v[q] != kept.tile())
            for kind, times in shown.most_common(1):
                if times >= self.confirm and q in sorts_to(rest, kind, self.order):
                    each = misfits(k, q) + np.array([RENAME_COST if v[q] in (None, kind) else 1.0 for v in views])
                    if each.sum() < best[0].sum():
                        best = (each, q, kind)
        if best is None:
            return False
        each, q, kind = best
        if (
            int((each <= self.fit_tolerance).sum()) < self.confirm
            or each.sum() + self.decisive * len(views) > held.sum()
            or each.sum() > ranked[0][0] + 0.5 * len(views)  # (a turn fits better: another tile read where it went)
        ):
            return False
        kept.loose = False
        if kind is not None:
            kept.rename(kind)
        tracks = rest[:q] + [kept] + rest[q:]
        labels = [tr.tile() for tr in tracks]
        for _, reading in readings:
            self._vote(reading, align(reading, self.places, labels)[0], tracks)
        self._install(tracks, None, self._since)
        self._seen_at = readings[-1][0]
        self._pending = [(t, r) for t, r in readings if r.drawn is not None]
        return True

    def _take_draw(self, shown: list[tuple[float, Reading, int, float]]) -> list[Event]:
        self._drawn = Track(self.window)
        for _, reading, offset, _ in shown:
            self._vote(reading, offset)
        self._install(self._tracks, self._drawn, shown[0][0])
        self._draw_at, self._seen_at = shown[0][0], shown[-1][0]
        return self._draw_told()

    def _turns(self, readings: list[tuple[float, Reading]]) -> TurnFits:
        """Every turn scored on the readings, each read where it aligns with the hand held."""
        placed = []
        for _, reading in readings:
            offset = align(reading, self.places, self._labels)[0]
            placed.append([(read.slot + offset, read) for read in reading.concealed])
        return fit_turns(placed, self._tracks, relabel=self._drawn is not None)

    def _shows_turn(self, reading: Reading) -> bool:
        """Whether a reading close to the 13 held shows a turn much better (its drawn tile never seen,
        sorted in a place or two from the one that went)."""
        fits = self._turns([(0.0, reading)])
        best = fits.ranked[0][0]
        return best <= self.sure_misfit and best + 2 * self.decisive <= fits.held[0]

    def _take_unseen_turn(self, readings: list[tuple[float, Reading]]) -> list[Event] | None:
        """A turn seen by its result: the readings show the 13 held less one tile plus another sorted
        in (its drawn tile missed or hidden by gaps, or misread as a kind that sorts elsewhere), or
        kept where it lay at the row's end, out of order (a player who sorts later, whose draw the
        model missed). Every removal and every place for the new tile is scored on the readings; the
        new tile's kind is what they read at its place (where none reads it, what it was read as
        drawn, or a guess from where it sorts). None when no turn fits; [] to wait when two fit
        about as well."""
        readings = list(readings)
        fits = self._turns(readings)
        views, held, ranked = fits.views, fits.held, fits.ranked
        misfit, k, q = ranked[0]
        choice = self._new_tile(views, k, q)
        if choice is None:
            return None  # not where that kind sorts: no turn
        new, loose = choice
        each = fits.misfits(k, q)
        if loose:  # kept where it lay, at the cost a discard pays for it (the runner-up is not charged)
            each = each + LOOSE_COST
            misfit += LOOSE_COST * len(views)
        if int((each <= self.fit_tolerance).sum()) < self.confirm or held.sum() - misfit < len(views):
            return None
        if ranked[1][0] < misfit + self.decisive and len(views) < self.confirm_new + 2:
            return []
        rest = self._labels[:k] + self._labels[k + 1 :]
        new_labels = rest[:q] + [new or ""] + rest[q:]
        at = next(
            (t for (t, _), m_old, m_new in zip(readings, held, each) if t > self._seen_at and m_new < m_old),
            readings[0][0],
        )
        removed = self._tracks[k]
        placed = self._drawn or Track(self.window)  # the drawn tile held, if any, goes in under its new name
        if new is not None:
            placed.label = new
        placed.loose = loose
        tracks = self._tracks[:k] + self._tracks[k + 1 :]
        tracks.insert(q, placed)
        for _, reading in readings:
            self._vote(reading, align(reading, self.places, new_labels)[0], tracks)
        drawn, glimpse = self._drawn, self._glimpse
        self._install(tracks, None, at)
        if drawn is not None:
            told = self._draw_told(now=True, drawn=drawn)
        else:
            drawn_at = glimpse if glimpse is not None and at - 2.0 <= glimpse < at else at
            told = [Event(self.seat, "draw", placed.tile(), drawn_at, 0.5 if new else 0.0)]
        events = told + [Event(self.seat, "discard", removed.tile(), at, 0.5, tsumogiri=False)]
        self._seen_at = readings[-1][0]
        self._pending = [(t, r) for t, r in readings if r.drawn is not None]
        return events

    def _new_tile(self, views: list[list[str | None]], k: int, q: int) -> tuple[str | None, bool] | None:
        """(the kind of the tile a turn sorts in at q, with tile k gone, as the readings name it there
        (None: a guess from where it sorts); whether it is kept loose at the row's end), or None when
        it cannot lie there. A drawn tile held may be misread where it lies: named where it sorts."""
        named = Counter(v[q] for v in views if v[q] is not None)
        new = named.most_common(1)[0][0] if named else None
        if new is None or q in may_sort_to(self._tracks[:k] + self._tracks[k + 1 :], new, self.order):
            return new, False
        if self._drawn is not None:
            return None, False
        if q == CONCEALED - 1 and not any(tr.loose for tr in self._tracks):
            return new, True
        return None

    def _draw_told(self, now: bool = False, drawn: Track | None = None) -> list[Event]:
        """The draw taken, told at its discard (`now`, with `drawn` the tile sorted in), when the
        sorted place its tile takes can still correct a misread, or once `draw_votes` reads of it."""
        drawn = drawn or self._drawn
        if self._draw_at is None or drawn is None or not (now or len(drawn.votes) >= self.draw_votes):
            return []
        at, self._draw_at = self._draw_at, None
        return [Event(self.seat, "draw", drawn.tile(), at, drawn.confidence())]

    def _discard_shown(self, gone: list[tuple[float, Reading]]) -> bool:
        """Whether the readings show a discard other than a tsumogiri (which looks like the drawn tile
        missed), clearly."""
        if len(gone) < 2:
            return False
        ranked = self._discards(gone)
        tsumogiri = next(d.misfit for d in ranked if d.removed is self._drawn)
        return ranked[0].removed is not self._drawn and ranked[0].misfit + self.decisive <= tsumogiri

    def _discards(self, gone: list[tuple[float, Reading]]) -> list[Discard]:
        assert self._drawn is not None
        readings = [reading for _, reading in gone]
        return rank_discards(
            readings, self._tracks, self._labels, self._drawn, self.places, self.order, self.confirm, self.fit_tolerance
        )

    def _take_discard(self, gone: list[tuple[float, Reading]]) -> list[Event] | None:
        """The held 14 less the tile whose loss fits the readings best; None when none fits (or a turn
        whose new tile is free to be any kind fits far better: the drawn tile misread alike wherever
        it lay), [] to wait when two hands that differ fit about as well (the hand shows the best
        meanwhile, unless it is the tsumogiri, which looks like a drawn tile missed)."""
        drawn = self._drawn
        assert drawn is not None
        ranked = self._discards(gone)
        best = ranked[0]
        misfit, removed, rest, fitting = best.misfit, best.removed, best.rest, best.fitting
        if misfit >= self.decisive * len(gone):
            fits = self._turns(gone)
            turn, _, q = fits.ranked[0]
            if len({v[q] for v in fits.views if v[q] is not None}) <= 1 and turn + self.decisive * len(gone) <= misfit:
                return None  # a tile sorted in where its kind, as read when drawn, cannot lie: an unseen turn's fit
        patient = len(gone) < self.confirm_new + 2  # how long to wait for more readings before deciding
        sure = (
            removed is not drawn
            and misfit <= self.sure_misfit
            and (len(ranked) == 1 or ranked[1].misfit >= misfit + 2 * self.decisive)
        )
        waiting = fitting < self.confirm and not sure
        if not waiting and len(ranked) > 1 and ranked[1].misfit < misfit + self.decisive:
            waiting = patient
        if waiting:
            seen_once = removed is not drawn and misfit <= self.sure_misfit * len(gone)
            self._show((rest, best.labels, gone[0][0]) if seen_once else None)
            return [] if patient or fitting >= self.confirm else None
        if removed is not drawn:
            if barely_named(drawn) and best.name != drawn.label:
                drawn.rename(best.name)  # (its unsure reads would take it back)
            drawn.label = best.name  # the place it sorts to says which of its labels it is
            drawn.loose = best.loose
        confidence = removed.confidence() * (best.agree / best.aligned if best.aligned else 0.0)
        # dated by the first reading after the 14 were last seen that shows the new 13 (a drawn tile
        # missed once looks like its discard)
        shows = [
            t
            for t, r in gone
            if t > self._seen_at
            and (removed is drawn or fit(r, self.places, rest)[1] > fit(r, self.places, self._tracks)[1])
        ]
        at = shows[0] if shows else gone[0][0]
        for _, reading in gone:
            self._vote(reading, fit(reading, self.places, rest)[0], rest)
        self._install(rest, None, at)
        events = self._draw_told(now=True, drawn=drawn)
        events.append(
            Event(self.seat, "discard", removed.tile(), at, confidence, tsumogiri=removed.tile() == drawn.tile())
        )
        self._seen_at = gone[-1][0]
        return events

    def _read_anew(self) -> list[Event]:
        """A hand read afresh from the latest differing readings, when `confirm_new` of them agree on
        one; it replaces the hand held unless it differs by too little (then they are its votes)."""
        window = [(t, r) for t, r in self._pending[-2 * self.confirm_new :] if not of_14(r, self.places)]
        with_drawn = 2 * sum(r.drawn is not None for _, r in window) > len(window)
        pool = [r for _, r in window if (r.drawn is not None) == with_drawn]
        if len(pool) < self.confirm_new or not self.places.known:
            return []
        if self._learn_order:  # players keep the suits in an order of their own (honours first, ...)
            self.order = suit_order([[read.tile for read in r.concealed] for r in pool], self.order)
        tracks, drawn = self._tracks_from(pool, with_drawn)
        labels = [tr.tile() for tr in tracks]
        agreeing = []
        for t, reading in self._pending:
            if (reading.drawn is not None) == with_drawn:
                _, agree, aligned = fit(reading, self.places, tracks)
                if aligned - agree <= self.same_tolerance:
                    agreeing.append((t, reading))
        if sum(1 for _, r in agreeing if any(r is p for p in pool)) < self.confirm_new:
            return []
        if self._tracks and with_drawn == (self._drawn is not None):
            if sum(a != b for a, b in zip(labels, self._labels)) < self.replace_min:
                for _, reading in self._pending:  # the hand held, misread: the readings are its votes
                    self._vote(reading, fit(reading, self.places, self._tracks)[0])
                self._pending.clear()
                return []
        since = agreeing[0][0]  # the first reading that showed the new hand
        tracks, drawn = self._tracks_from([r for _, r in agreeing], with_drawn)
        told = self._draw_told(now=True)
        events = self._told_by_difference([tr.tile() for tr in tracks], drawn, since) if self._tracks else []
        if events is None:
            self.replaced_at = since
        self._draw_at, self._seen_at = None, agreeing[-1][0]
        self._install(tracks, drawn, since)
        return told + (events or [])

    def _tracks_from(self, readings: list[Reading], with_drawn: bool) -> tuple[list[Track], Track | None]:
        """New places for a hand, voted by readings where they lie; places no reading names are
        guessed (`name_sorted`)."""
        tracks = [Track(self.window) for _ in range(CONCEALED)]
        drawn = Track(self.window) if with_drawn else None
        for reading in readings:
            offset = self.places.offset(reading)
            if offset is not None:
                self._vote(reading, offset, tracks, drawn)
        name_sorted(tracks, self.order)
        return tracks, drawn

    def _told_by_difference(self, labels: list[str], drawn: Track | None, at: float) -> list[Event] | None:
        """Events that turn the hand held into the new one when they differ by a draw and/or a discard
        (a turn seen only in part); None when they differ by more (a deal)."""
        old = Counter(self.tiles)
        new = Counter(labels + ([drawn.tile()] if drawn else []))
        added, removed = list((new - old).elements()), list((old - new).elements())
        if not added and not removed:
            return []
        old_drawn = self._drawn.tile() if self._drawn else None
        events: list[Event] = []
        if len(removed) == 1 and len(added) <= 1 and (old_drawn is not None or len(added) == 1):
            if old_drawn is None:  # drawn and discarded, both unseen
                events.append(Event(self.seat, "draw", added.pop(), at, 0.5))
                old_drawn = events[-1].tile
            events.append(Event(self.seat, "discard", removed[0], at, 0.5, tsumogiri=removed[0] == old_drawn))
            return events
        if len(added) == 1 and not removed and drawn is not None and old_drawn is None:
            return events + [Event(self.seat, "draw", added[0], at, 0.5)]
        return None
