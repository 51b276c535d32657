"""Which tile went: every hand the 14 held (the 13 and the drawn tile) may leave, scored on the
readings since the turn ended. Pure: the hand reader asks, with what it holds.

A discard leaves 13 with the drawn tile sorted where its kind sorts, as its label, its runner-up,
or a kind new in the readings (a drawn tile misread alike in every reading of it, or one only ever
named by the faces' unsure fills, `barely_named`), or kept at the row's right end out of order; the
tile that went is a multiset difference, so no single misread changes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from mjray.mahjong.align import fit
from mjray.mahjong.places import HandPlaces
from mjray.mahjong.rows import CONCEALED, Reading
from mjray.mahjong.votes import Track, may_sort_to

UNREAD_COST = 0.7  # misfit per reading of naming a drawn tile as a kind it was never read as (a read tile costs 1)
WEAK = 0.2  # a read that weighs less is barely one: the faces' unsure fill (0.1), or a model's under 0.2
LOOSE_COST = 0.5  # misfit per reading of a drawn tile kept at the row's end, out of order, rather than sorted in


@dataclass(frozen=True)
class Discard:
    """One hand the held 14 may leave, and how well the readings show it."""

    misfit: float  # misread tiles summed over the readings, and the costs above
    removed: Track  # the tile that went (the drawn one: a tsumogiri)
    rest: list[Track]  # the 13 left, in order
    labels: tuple[str, ...]  # their names, the drawn tile's as `name`
    name: str  # the drawn tile's label where it lies
    agree: float  # summed over the readings
    aligned: int
    fitting: int  # readings that fit it within the tolerance
    loose: bool  # the drawn tile kept out of order


def barely_named(drawn: Track) -> bool:
    """Was the drawn tile only ever named by the faces' unsure fills (every read under `WEAK`)? Its
    name then says nothing the readings of its place cannot overrule."""
    if not drawn.votes or drawn.total >= 2 * WEAK * len(drawn.votes):  # (at most two entries a read, each under WEAK)
        return False
    return max(w for reads in drawn.votes for _, w in reads) < WEAK


def candidates(
    tracks: Sequence[Track], drawn: Track, order: str, seen: Sequence[str] = (), weak: bool | None = None
) -> list[tuple[Track, list[Track], str, bool, bool]]:
    """(discarded, the 13 left in order, the drawn tile's label, whether that label is one it was
    never read as, whether the drawn tile is kept out of order) for each tile of the 14 held; the
    drawn tile goes where its kind sorts among the rest, as its label or, where that sorts
    elsewhere, as its runner-up label or a kind `seen` new in the readings (a drawn tile barely
    named: as any of them wherever each sorts, at no cost); or, held apart, it stays at the row's
    right end unsorted. `weak`: `barely_named(drawn)`, where the caller knows it already."""
    weak = barely_named(drawn) if weak is None else weak
    out = [(drawn, list(tracks), drawn.label, False, False)]
    names = [drawn.label]
    runner_up = drawn.runner_up()
    if runner_up is not None and runner_up[1] >= 0.2:
        names.append(runner_up[0])
    read = len(names)
    names += [kind for kind in seen if kind not in names and (weak or kind not in drawn.weight)]
    for k, removed in enumerate(tracks):
        rest = list(tracks[:k]) + list(tracks[k + 1 :])
        places = set()
        for n, name in enumerate(names):
            for at in may_sort_to(rest, name, order):
                if (at, name if weak else "") not in places:
                    places.add((at, name if weak else ""))
                    out.append((removed, rest[:at] + [drawn] + rest[at:], name, n >= read and not weak, False))
        if drawn.apart and all(at != len(rest) for at, _ in places):  # (left where it lay: sorted in later)
            out.append((removed, rest + [drawn], drawn.label, False, True))
    return out


def rank_discards(
    gone: Sequence[Reading],
    tracks: Sequence[Track],
    labels: Sequence[str],
    drawn: Track,
    places: HandPlaces,
    order: str,
    confirm: int,
    fit_tolerance: float,
) -> list[Discard]:
    """Each hand the held 14 (`tracks` named `labels`, and `drawn`) may leave, best first (of two
    that fit alike, the one that loses the tile read less: readings cannot show a tile the model
    never reads gone). A kind new in `confirm` readings or more may name the drawn tile (in one, a
    drawn tile `barely_named`)."""
    held = Counter(labels)
    new_kinds: Counter[str] = Counter()
    for reading in gone:
        offset = places.offset(reading)
        if offset is not None:
            shown = Counter(read.tile for read in reading.concealed if 0 <= read.slot + offset < CONCEALED)
            new_kinds.update(set((shown - held).elements()))
    weak = barely_named(drawn)
    seen = [kind for kind, times in new_kinds.most_common(3) if times >= (1 if weak else confirm)]
    best: dict[tuple[str, ...], Discard] = {}
    for removed, rest, name, unread, loose in candidates(tracks, drawn, order, seen, weak):
        named = tuple(name if tr is drawn else tr.tile() for tr in rest)
        agree, aligned, fitting = 0.0, 0, 0
        for reading in gone:
            _, g, a = fit(reading, places, rest, named if name != drawn.label else None)
            agree, aligned, fitting = agree + g, aligned + a, fitting + (a - g <= fit_tolerance)
        # (a kind never read costs, and a tile left out of order)
        misfit = aligned - agree + len(gone) * (UNREAD_COST * unread + LOOSE_COST * loose)
        other = best.get(named)
        if other is None or (misfit, removed.total) < (other.misfit, other.removed.total):
            best[named] = Discard(misfit, removed, rest, named, name, agree, aligned, fitting, loose)
    return sorted(best.values(), key=lambda d: (d.misfit, d.removed.total))  # (a tie: the tile read less went)
