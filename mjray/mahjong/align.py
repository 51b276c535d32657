"""Where a reading's tiles fall on the hand held: the shift that lays a reading's slots on the 13
places, how well it agrees there, and a row of 14 split into the 13 and a drawn tile. Pure: the
hand reader asks, with the places it has learnt (`HandPlaces`) and the tiles it holds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from mjray.mahjong.places import HandPlaces
from mjray.mahjong.rows import APART, CONCEALED, FARTHEST, Reading, TileRead
from mjray.mahjong.votes import Track


def credit(track: Track, read: TileRead) -> float:
    """How far a read agrees with the tile held at its place: the better of its label and a second
    box's (`Track.credit`)."""
    return max(track.credit(read.tile), track.credit(read.alt) if read.alt else 0.0)


def laid(reading: Reading, places: HandPlaces, tracks: Sequence[Track]) -> Reading:
    """A reading whose row runs past the hand's 13 places as the 13 and a drawn tile: a tile
    beyond place 13 lies apart (a gap the frame alone could not tell from a missed tile); a tile
    on place 13 makes a row of 14, a drawn tile laid against the 13 or slid in among them, and
    the drawn one is the tile whose removal leaves the rest reading most like the hand held (of
    equals, the rightmost: sorted, tiles of one kind lie together). A tile on place 13 that the
    frame took for one apart, past a missed tile, is one of such a row."""
    if not tracks:
        return reading
    reads = reading.concealed
    geo = places.offset(reading)
    if reading.drawn is not None:  # on place 13, past a hole: a row of 14 with a tile missed?
        drawn = reading.drawn
        if geo is None or abs(reading.drawn_at - drawn.slot) >= APART or drawn.slot + geo != CONCEALED:
            return reading
        reads += (drawn,)
    elif geo is None:  # (the places not known: the row from its first tile)
        if reads[-1].slot != CONCEALED:
            return reading
        geo = 0
    end = reads[-1].slot + geo
    if end < CONCEALED:
        return reading
    if end > FARTHEST:  # (a tile on the table further on: a meld, a stray, not the hand's)
        return laid(replace(reading, concealed=reads[:-1]), places, tracks) if len(reads) > 1 else reading
    if end > CONCEALED:
        return replace(reading, concealed=reads[:-1], drawn=reads[-1])
    best, drawn_at = -math.inf, -1
    for k, out in enumerate(reads):
        if out.slot + geo < 0:
            continue
        agree = 0.0
        for read in reads:
            place = read.slot + geo - (read.slot > out.slot)
            if read is not out and 0 <= place < CONCEALED:
                track = tracks[place]
                agree += credit(track, read)
        if agree >= best:
            best, drawn_at = agree, k
    if drawn_at < 0:
        return reading
    out = reads[drawn_at]
    rest = tuple(
        read if read.slot < out.slot else replace(read, slot=read.slot - 1) for read in reads if read is not out
    )
    return replace(reading, concealed=rest, drawn=out)


def of_14(reading: Reading, places: HandPlaces) -> bool:
    """Whether a reading without a drawn tile apart runs onto place 13: a row of 14 (a drawn tile
    against the row or slid in), which no hand read afresh is made of."""
    geo = places.offset(reading)
    return reading.drawn is None and geo is not None and reading.concealed[-1].slot + geo >= CONCEALED


def align(reading: Reading, places: HandPlaces, labels: Sequence[str]) -> tuple[int, int, int]:
    """(offset, matches, aligned): the shift of the reading's slots onto `labels` naming most tiles alike."""
    offsets, geo = places.offsets(reading, len(labels))
    best = (-math.inf, 0, 0, 0)
    for offset in offsets:
        matches = aligned = 0
        for read in reading.concealed:
            place = read.slot + offset
            if 0 <= place < len(labels):
                aligned += 1
                matches += labels[place] == read.tile or labels[place] == read.alt
        score = matches - 0.5 * (len(reading.concealed) - aligned) + (0.75 if offset == geo else 0.0)
        if score > best[0]:
            best = (score, offset, matches, aligned)
    return best[1], best[2], best[3]


def fit(
    reading: Reading, places: HandPlaces, tracks: Sequence[Track], names: Sequence[str] | None = None
) -> tuple[int, float, int]:
    """(offset, agreement, aligned): as `align`, but a tile read as another label earns that label's
    weight among its place's reads relative to the place's label, so a tile often misread the same
    way costs less. `names`: labels to hold the places to instead of their own (a place named
    other than its label earns only reads of that name)."""
    offsets, geo = places.offsets(reading, len(tracks))
    best = (-math.inf, 0, 0.0, 0)
    for offset in offsets:
        agree, aligned = 0.0, 0
        for read in reading.concealed:
            place = read.slot + offset
            if 0 <= place < len(tracks):
                aligned += 1
                track = tracks[place]
                if names is None or names[place] == track.tile():
                    agree += credit(track, read)
                else:
                    agree += read.tile == names[place] or read.alt == names[place]
        score = agree - 0.5 * (len(reading.concealed) - aligned) + (0.75 if offset == geo else 0.0)
        if score > best[0]:
            best = (score, offset, agree, aligned)
    return best[1], best[2], best[3]
