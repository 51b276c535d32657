"""One frame of a seat's hand: its boxes as the row of tiles, each on its place.

`read_row` merges overlapping boxes (the more confident kept, the other's label kept beside it as
a second read), drops strays off the row, and places the rest on the row's grid of equal steps
between tile centres (box widths vary with perspective, steps do not), so a missed tile leaves a
hole instead of shifting its neighbours, and a box between two tiles is dropped. The row's last
tile is the drawn one when it lies apart: off the others' grid (a gap of part of a tile), or on it
past a hole where the row would hold more than a hand's 13 places (a gap of a tile or two). A
drawn tile laid against the row, or slid into it, is a 14th tile on the grid: the reader tells it
by the hand it holds (`mjray.mahjong.hands`). Pure logic; `mjray.mahjong.hands` reads hands from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

import numpy as np

ON_GRID = 0.25  # steps a tile's centre may lie off its grid slot (more: a stray, or a box between two)
APART = 0.18  # steps off the grid from which the row's last tile lies apart from the rest
CONCEALED = 13  # tiles in a hand between turns: a tile past a hole beyond them lies apart
# the furthest place a drawn tile lies at (two tiles apart, and a little); past it, not the hand's
FARTHEST = CONCEALED + 3


@dataclass(frozen=True, slots=True)
class TileRead:
    """One tile as a single frame shows it."""

    tile: str  # compact name, '1m'..'7z'
    score: float  # the detector's confidence
    slot: int  # place on the row's grid, 0 = the leftmost tile read (a missed tile leaves a hole)
    x: float  # box centre, pixels
    alt: str | None = None  # another label a second box on the same tile gave (the most confident of them)
    alt_score: float = 0.0  # its confidence


@dataclass(frozen=True, slots=True)
class Reading:
    """A hand's row in one frame, left to right."""

    concealed: tuple[TileRead, ...]  # tiles on the row's grid, by slot
    drawn: TileRead | None  # the tile beyond the gap at the right end, if any
    pitch: float  # pixels between neighbouring tiles' centres (0.0: unknown)
    x0: float  # centre x of slot 0, pixels
    dropped: int = 0  # boxes merged into another or off the row
    drawn_at: float = 0.0  # where the drawn tile lies on the row's grid, in steps from slot 0


EMPTY = Reading((), None, 0.0, 0.0)


def read_row(
    boxes: np.ndarray,
    labels: Sequence[str],
    scores: np.ndarray,
    pitch: float | None = None,
    merge_iou: float = 0.5,
) -> Reading:
    """The hand's row in one frame. `pitch`: the step between tiles (pixels) when known from
    earlier frames; used when this frame has too few tiles to measure it."""
    xyxy = np.asarray(boxes, np.float64).reshape(-1, 4).tolist()
    conf = np.asarray(scores, np.float64).reshape(-1).tolist()
    if not len(xyxy) == len(labels) == len(conf):
        raise ValueError(f"read_row: {len(xyxy)} boxes, {len(labels)} labels, {len(conf)} scores")
    if not xyxy:
        return EMPTY
    merged: dict[int, list[int]] = {}
    kept = _on_row(xyxy, _merge(xyxy, conf, merge_iou, merged))
    kept.sort(key=lambda i: xyxy[i][0] + xyxy[i][2])
    xs = [(xyxy[i][0] + xyxy[i][2]) / 2 for i in kept]
    step = _pitch(xs, xyxy, kept, pitch)
    slots, resid, x0 = _grid(xs, step)
    while len(kept) > 1 and slots[-1] - min(slots) > FARTHEST:  # a tile on the row's line far past it: a meld, a stray
        del kept[-1], xs[-1], slots[-1], resid[-1]
    drawn_at = len(kept) - 1 if _apart(slots, resid) else None
    best: dict[int, int] = {}  # slot -> position in kept; one tile per slot, the most confident
    for k in range(len(kept)):
        if k != drawn_at and abs(resid[k]) < ON_GRID:
            other = best.get(slots[k])
            if other is None or conf[kept[k]] > conf[kept[other]]:
                best[slots[k]] = k
            if other is not None:  # two boxes on one slot: the less confident is the other's second label
                winner, loser = (kept[k], kept[other]) if best[slots[k]] == k else (kept[other], kept[k])
                merged.setdefault(winner, []).append(loser)
    if not best:
        return Reading((), None, step, x0, len(xyxy))
    first = min(best)

    def tile_read(i: int, slot: int, x: float) -> TileRead:
        alts = [j for j in merged.get(i, ()) if labels[j] != labels[i]]
        if not alts:
            return TileRead(labels[i], conf[i], slot, x)
        j = max(alts, key=conf.__getitem__)
        return TileRead(labels[i], conf[i], slot, x, labels[j], conf[j])

    concealed = tuple(tile_read(kept[k], slot - first, xs[k]) for slot, k in sorted(best.items()))
    drawn = None if drawn_at is None else tile_read(kept[drawn_at], slots[drawn_at] - first, xs[drawn_at])
    return Reading(
        concealed,
        drawn,
        step,
        x0 + first * step,
        len(xyxy) - len(concealed) - (drawn is not None),
        0.0 if drawn_at is None else slots[drawn_at] - first + resid[drawn_at],
    )


def _apart(slots: list[int], resid: list[float]) -> bool:
    """Whether the row's last tile lies apart from the tiles on the grid before it: a step and a
    bit or more past the last of them, and off the grid, or on it where the row from its first
    tile would hold more than a hand's places."""
    last = len(slots) - 1
    before = [slots[k] for k in range(last) if abs(resid[k]) < ON_GRID]
    if not before or slots[last] + resid[last] - max(before) < 1 + APART:
        return False
    return abs(resid[last]) >= APART or slots[last] - min(before) >= CONCEALED


def _merge(
    xyxy: list[list[float]], conf: list[float], merge_iou: float, merged: dict[int, list[int]] | None = None
) -> list[int]:
    """Indices kept after merging boxes that overlap by IoU >= merge_iou (the more confident wins);
    `merged` collects, per index kept, those merged into it."""
    n = len(xyxy)
    by_left = sorted(range(n), key=lambda i: xyxy[i][0])
    overlaps: dict[int, list[int]] = {}
    for pos, i in enumerate(by_left):
        x1, y1, x2, y2 = xyxy[i]
        area_i = (x2 - x1) * (y2 - y1)
        for j in by_left[pos + 1 :]:
            u1, v1, u2, v2 = xyxy[j]
            if u1 >= x2:
                break
            iw, ih = min(x2, u2) - u1, min(y2, v2) - max(y1, v1)
            if iw <= 0 or ih <= 0:
                continue
            inter = iw * ih
            if inter >= merge_iou * (area_i + (u2 - u1) * (v2 - v1) - inter):
                overlaps.setdefault(i, []).append(j)
                overlaps.setdefault(j, []).append(i)
    if not overlaps:
        return list(range(n))
    gone: set[int] = set()
    kept = []
    for i in sorted(range(n), key=lambda i: -conf[i]):
        if i not in gone:
            kept.append(i)
            fresh = [j for j in overlaps.get(i, ()) if j not in gone]
            gone.update(fresh)
            if merged is not None and fresh:
                merged[i] = fresh
    return kept


def _on_row(xyxy: list[list[float]], kept: list[int]) -> list[int]:
    """Those of `kept` that lie on the hand's row: centres on a line (the camera may roll), heights alike."""
    if len(kept) < 3:
        return kept
    heights = {i: xyxy[i][3] - xyxy[i][1] for i in kept}
    h = median(heights.values())
    ys = {i: (xyxy[i][1] + xyxy[i][3]) / 2 for i in kept}
    mid = median(ys.values())
    near = [i for i in kept if abs(ys[i] - mid) < 0.6 * h and 0.6 * h < heights[i] < 1.6 * h]
    if len(near) < 3:
        return near
    xs = {i: (xyxy[i][0] + xyxy[i][2]) / 2 for i in near}
    mx, my = sum(xs.values()) / len(near), sum(ys[i] for i in near) / len(near)
    sxx = sum((xs[i] - mx) ** 2 for i in near)
    slope = sum((xs[i] - mx) * (ys[i] - my) for i in near) / sxx if sxx > 0 else 0.0
    return [i for i in near if abs(ys[i] - my - slope * (xs[i] - mx)) < 0.3 * h]


def _pitch(xs: list[float], xyxy: list[list[float]], kept: list[int], hint: float | None) -> float:
    if len(xs) >= 4:
        step = median(b - a for a, b in zip(xs, xs[1:]))
        if step > 0 and (not hint or 0.7 < step / hint < 1.4):
            return step
    if hint:
        return hint
    return 0.85 * median(xyxy[i][2] - xyxy[i][0] for i in kept) if kept else 0.0


def _grid(xs: list[float], step: float) -> tuple[list[int], list[float], float]:
    """Slots and residuals (in steps) of centres `xs` on the grid x0 + step * slot that fits them best."""
    if not xs or step <= 0:
        return [0] * len(xs), [0.0] * len(xs), xs[0] if xs else 0.0
    u = [(x - xs[0]) / step for x in xs]
    phase = math.atan2(sum(math.sin(2 * math.pi * v) for v in u), sum(math.cos(2 * math.pi * v) for v in u))
    x0 = xs[0] + step * phase / (2 * math.pi)
    slots = [round((x - x0) / step) for x in xs]
    on = [k for k, x in enumerate(xs) if abs((x - x0) / step - slots[k]) < ON_GRID]
    if len(on) >= 4 and slots[on[-1]] > slots[on[0]]:  # refine: least squares x = x0 + step * slot
        ms = sum(slots[k] for k in on) / len(on)
        mx = sum(xs[k] for k in on) / len(on)
        sss = sum((slots[k] - ms) ** 2 for k in on)
        fitted = sum((slots[k] - ms) * (xs[k] - mx) for k in on) / sss
        if 0.8 < fitted / step < 1.25:
            step, x0 = fitted, mx - fitted * ms
            slots = [round((x - x0) / step) for x in xs]
    resid = [(x - x0) / step - s for x, s in zip(xs, slots)]
    return slots, resid, x0
