"""A second read of each tile box: its pixels matched against the tile faces.

The tile model's worst confusions are systematic (7p read as 1s, 1m as 1s, frame after frame),
so votes over time keep them. Where the model found a tile, the face inside its box says which
tile it is: zero-mean normalized correlation of grey levels against every face, over a few
pixels of shift and three face sizes (perspective changes how much of the box the face fills),
and at the middle size leaning either way (perspective leans a tile's sides), at the box's own
scale of about 24 pixels wide. The correlation ignores the light's level and contrast. Where no
face matches well, or none clearly better than the next while the model's own label matches
about as well as the best, the model's label stays: two faces alike (sticks of like counts)
leave the faces unsure between them, yet a label matching far worse than both is still wrong.

Where the model found no tile at all, a row of tiles shows it: a gap of a whole tile's pitch or
more between two neighbours, or past either end (up to three pitches out at the right: a drawn
tile is often set apart). A face that matches there well and clearly is a tile the model missed
(`fill`); past an end, one that matches well is a tile even where no face is clearly best (at a
low confidence: against the model's reads of that tile its name weighs little), and the end the
next is looked for past. Normalized, the faint mottling of bare cloth can match a bold face that
well, so a place whose grey is the cloth's, not the tiles', is never looked at. A blank face (the
white dragon) is told by a flat, bright patch when relabelling a box the model found, never when
filling: cloth can be as flat and bright.

The faces ship as `mjray/mahjong/data/tile_faces.npz`, grey rasters of the public-domain artwork
(`pymdownx-mahjong`, built by `python -m mjray.sim faces`); a table with other tiles wants its own
(`plugins.mahjong.faces_file`: the same file format made from photos of its faces).
"""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import supervision as sv
from numpy.lib.stride_tricks import sliding_window_view

from mjray.frames import Detections
from mjray.mahjong.tiles import TILES, tile_named

log = logging.getLogger(__name__)

BUNDLED_FACES = Path(__file__).parent / "data" / "tile_faces.npz"
BOX_WIDTH = 24  # pixels: each box is scaled to this width, about a tile's width in a 640-wide frame
FACE_SCALES = (0.78, 0.84, 0.90)  # face width over box width
FACE_ASPECT = 1.333  # face height over width
# a tile's sides lean in a camera's perspective, more towards a row's ends; faces are kept upright,
# so each is also matched leaning (sideways shift per unit of height), at the middle scale
LEANS = (-0.1, 0.1)
MARGIN = 0.05  # the faces' best score must beat the second best by this much to overrule the model,
OVERRULE = 0.1  # or, not clear between two faces, beat the face of the model's own label by this much,
OVERRULE_SURE = 0.75  # matching as well as most tiles' own faces in a clear view (the test bed: 3 in 4 >= 0.71-0.74)
SURE = 0.5  # and reach this (above what the test bed's cloth reaches, below most tiles' own face: docs/game-record.md)
FILL_SURE = 0.6  # a tile where the model found none: its face must match at least this well
UNSURE = 0.1  # the confidence of a tile past a row's end whose face matches that well, but not clearly
END_REACH = (1.0, 1.4, 1.8)  # pitches past a row's left end where a tile is looked for
DRAWN_REACH = (1.0, 1.4, 1.8, 2.2, 2.6, 3.0)  # and past its right end (a drawn tile lies up to two tiles apart)
MOST_MISSING = 6  # tiles missing between two neighbours in a row, at most (more: two rows side by side)
MORE_ENDS = 12  # tiles found past a row's end one past another after the first, at most: a hand's length
BLANK_SPREAD = 25.0  # grey levels: a blank face (the white dragon) scores 1 - (flattest patch's spread) / this,
BLANK_LEVEL = 140  # if that patch is this bright (of 255, the frame's contrast stretched): a tile's body, not cloth
TILES_STAND_OUT = 40  # grey levels by which tiles' bodies outshine the cloth, at least, for cloth told by its grey


BLANK_TILE = "5z"  # the white dragon: a face with nothing to correlate
MEMORY_FRAMES = 8  # frames whose reads a detector remembers: every seat's last two, with four seats
SAME_PLACE = 0.85  # intersection over union with a remembered box: the same tile's place
CHANGED = 24  # grey levels: a pixel (after a 3 x 3 blur, less the region's typical change) this far off is a change
DECISIVE = 0.05  # a read is remembered only this far from every threshold it was judged by (else noise could tip it)
HOLE = -1  # the kind of a row's hole in the memory (a box the model found has its class)
EMPTY = FILL_SURE - 0.15  # a hole no face but the blank one matches this well is bare cloth, frame after frame


class FacesError(ValueError):
    """A faces file that cannot be used; the message names it and says what it needs."""


def load_faces(path: str | Path | None = None) -> np.ndarray:
    """(34, H, W) uint8 grey faces in `TILES` order, from an .npz holding `tiles` (the 34 names in
    mjray's notation, e.g. `1m`, `7z`) and `faces` (their grey rasters)."""
    path = Path(path) if path else BUNDLED_FACES
    try:
        with np.load(path) as data:
            names, faces = [str(t) for t in data["tiles"]], np.asarray(data["faces"])
    except (OSError, KeyError, ValueError) as error:
        raise FacesError(
            f"plugins.mahjong.faces_file: {path} is not a faces file ({error}); it needs arrays `tiles` (the 34 tile "
            "names) and `faces` (34 x H x W grey uint8)"
        ) from error
    missing = [t for t in TILES if t not in names]
    if missing:
        raise FacesError(
            f"plugins.mahjong.faces_file: {path} lacks {', '.join(missing)}: it needs all 34 tiles ({' '.join(TILES)})"
        )
    if faces.dtype != np.uint8 or faces.ndim != 3 or len(faces) != len(names) or min(faces.shape[1:]) < 8:
        raise FacesError(
            f"plugins.mahjong.faces_file: {path} holds faces of {faces.dtype} {faces.shape}: it needs one grey uint8 "
            f"raster per tile name, {len(names)} x H x W, at least 8 x 8 pixels"
        )
    ordered = np.stack([faces[names.index(t)] for t in TILES])
    flat = [t for t, face in zip(TILES, ordered) if t != BLANK_TILE and face.std() < 1.0]
    if flat:
        raise FacesError(
            f"plugins.mahjong.faces_file: {path} has blank faces for {', '.join(flat)}: only {BLANK_TILE} "
            "(the white dragon) is blank"
        )
    return ordered


def rows_of(boxes: np.ndarray) -> list[np.ndarray]:
    """The boxes in rows (a row: where the next box lies less than half a tile lower), top to bottom, each
    left to right."""
    if not len(boxes):
        return []
    middle = (boxes[:, 1] + boxes[:, 3]) / 2
    height = float(np.median(boxes[:, 3] - boxes[:, 1]))
    order = np.argsort(middle, kind="stable")
    rows, row = [], [order[0]]
    for a, b in zip(order[:-1], order[1:]):
        if middle[b] - middle[a] > 0.5 * height:
            rows.append(row)
            row = []
        row.append(b)
    rows.append(row)
    return [boxes[sorted(r, key=lambda i: boxes[i, 0])] for r in rows]


class Hole(NamedTuple):
    """Where a row lacks a tile: its candidate boxes (k x 4), one of which a tile would fill."""

    boxes: np.ndarray
    end: bool  # past the row's end, where a tile is not known to lie; else between two neighbours


def row_holes(xyxy: np.ndarray, right_reach: tuple[float, ...] = DRAWN_REACH) -> list[Hole]:
    """Where a row of at least 3 tile boxes lacks a tile: a neighbour 1.75 pitches or more away
    (the drawn tile's gap of a fraction of a tile is none; at most `MOST_MISSING` tiles between
    two), and past each end, at `END_REACH` pitches left and `right_reach` right: `DRAWN_REACH`
    past the row a drawn tile may lie up to two tiles apart from, `END_REACH` past a tile found there."""
    out: list[Hole] = []
    xyxy = xyxy[(xyxy[:, 2] - xyxy[:, 0] >= 2) & (xyxy[:, 3] - xyxy[:, 1] >= 2)]  # no box of no size
    if len(xyxy) >= 3:
        for boxes in (r for r in rows_of(xyxy) if len(r) >= 3):
            centre = (boxes[:, 0] + boxes[:, 2]) / 2
            width = float(np.median(boxes[:, 2] - boxes[:, 0]))
            steps = np.diff(centre)
            near = steps[(steps < 1.3 * width) & (steps > 0.5 * width)]  # neighbours, not duplicates
            pitch = float(np.median(near)) if len(near) else width
            for a, b, step in zip(boxes[:-1], boxes[1:], steps):
                missing = int(np.floor(step / pitch + 0.25)) - 1
                if missing > MOST_MISSING:  # two rows side by side, not one with holes
                    continue
                for j in range(1, missing + 1):
                    f = j / (missing + 1)
                    x = (1 - f) * (a[0] + a[2]) / 2 + f * (b[0] + b[2]) / 2
                    box = [x - width / 2, (1 - f) * a[1] + f * b[1], x + width / 2, (1 - f) * a[3] + f * b[3]]
                    out.append(Hole(np.array([box], np.float32), end=False))
            for end, side, reach in ((boxes[0], -1, END_REACH), (boxes[-1], 1, right_reach)):
                xs = (end[0] + end[2]) / 2 + side * pitch * np.array(reach)
                out.append(
                    Hole(np.array([[x - width / 2, end[1], x + width / 2, end[3]] for x in xs], np.float32), True)
                )
    return out


def leaning(faces: np.ndarray, lean: float) -> np.ndarray:
    """The faces sheared sideways by `lean` per unit of height about their middle (edges repeated)."""
    height, width = faces.shape[1:]
    shear = np.float32([[1, lean, -lean * height / 2], [0, 1, 0]])
    return np.stack([cv2.warpAffine(f, shear, (width, height), borderMode=cv2.BORDER_REPLICATE) for f in faces])


def body_level(grey: np.ndarray, box: np.ndarray) -> float:
    """How bright a box is where it is brightest (the 90th percentile of its grey, a tenth in from
    each side): a tile's body shows around even the densest face's ink; cloth is as dark there as
    anywhere."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
    patch = grey[int(max(0, y1 + dy)) : int(max(0, y2 - dy)), int(max(0, x1 + dx)) : int(max(0, x2 - dx))]
    return float(np.percentile(patch, 90)) if patch.size else -1.0


def overlap(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Each box's largest intersection over union with any of `others` (0 with none)."""
    if not len(others):
        return np.zeros(len(boxes), np.float32)
    return sv.box_iou_batch(boxes, others).max(1)


def region_of(grey: np.ndarray, box: np.ndarray) -> tuple[int, int, int, int]:
    """Top, bottom, left, right of the pixels a box's read looks at: the box and a tenth of its
    width around it, within the frame."""
    x1, y1, x2, y2 = (float(v) for v in box)
    pad = 0.1 * (x2 - x1)
    return (
        int(max(0, y1 - pad)),
        int(min(grey.shape[0], y2 + pad)),
        int(max(0, x1 - pad)),
        int(min(grey.shape[1], x2 + pad)),
    )


@dataclass
class Remembered:
    """One box's read: what was read where, and the (blurred) pixels it was read from."""

    kind: int  # the model's class, or HOLE
    region: tuple[int, int, int, int]  # top, bottom, left, right of the pixels read
    pixels: np.ndarray  # int16, blurred
    scores: np.ndarray


class FaceMemory:
    """The face scores of the last few frames' boxes, given again for a box of the model's same
    label at the same place whose pixels have not changed: a hand changes a tile or two a turn,
    and a read costs about a millisecond a box. Frames of several cameras may come in turn; a
    box's pixels tell them apart (and a tile put where another lay, even under the same label).
    Only decisive reads of boxes the model found are kept (`FaceMatcher.decisive`), and of a
    row's holes only those that are clearly bare cloth (`FaceMatcher.empty`)."""

    def __init__(self, frames: int = MEMORY_FRAMES) -> None:
        self.past: deque[list[Remembered]] = deque(maxlen=frames)
        self.boxes = np.zeros((0, 4), np.float32)  # of `past`, newest first, for one overlap test per box
        self.entries: list[Remembered] = []
        self.now: list[Remembered] = []
        self.size: tuple[int, ...] = ()
        self.recalled = self.read = 0  # boxes given from memory, boxes read

    def next_frame(self, grey: np.ndarray) -> None:
        if self.now:
            self.past.append(self.now)
            self.now = []
        if grey.shape != self.size:  # another picture size: nothing remembered is where it was
            self.past.clear()
            self.size = grey.shape
        self.entries = [entry for frame in reversed(self.past) for entry in frame]
        self.boxes = np.array([self._box(e.region) for e in self.entries], np.float32).reshape(-1, 4)

    def recall(self, grey: np.ndarray, box: np.ndarray, kind: int) -> np.ndarray | None:
        """The remembered scores of this box, or None: then `keep` the ones read."""
        if len(self.boxes):
            iou = sv.box_iou_batch(self._box(region_of(grey, box))[None], self.boxes)[0]
            for i in np.flatnonzero(iou >= SAME_PLACE):
                entry = self.entries[i]
                if entry.kind == kind and not self._changed(grey, entry):
                    self.recalled += 1
                    self.now.append(entry)
                    return entry.scores
        self.read += 1
        return None

    def keep(self, grey: np.ndarray, box: np.ndarray, kind: int, scores: np.ndarray) -> None:
        region = region_of(grey, box)
        self.now.append(Remembered(kind, region, self._blurred(grey, region), scores))

    @staticmethod
    def _box(region: tuple[int, int, int, int]) -> np.ndarray:
        top, bottom, left, right = region
        return np.array([left, top, right, bottom], np.float32)

    @staticmethod
    def _blurred(grey: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
        top, bottom, left, right = region
        return cv2.blur(grey[top:bottom, left:right], (3, 3)).astype(np.int16)

    def _changed(self, grey: np.ndarray, entry: Remembered) -> bool:
        """Has any pixel where the entry was read changed by more than `CHANGED` grey levels (light
        that changes the whole region alike is no change)?"""
        if entry.pixels.size == 0:
            return True
        change = self._blurred(grey, entry.region) - entry.pixels
        return bool(np.abs(change - int(np.median(change))).max() > CHANGED)


class Looked:
    """A frame's scores of the places looked at for missed tiles: a place is scored once, though
    the rounds of `FaceMatcher.fill` may look at it again as a candidate of another hole."""

    def __init__(self) -> None:
        self.boxes = np.zeros((0, 4), np.float32)
        self.found: list[np.ndarray] = []

    def scores(self, box: np.ndarray, score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        if len(self.boxes):
            same = sv.box_iou_batch(box[None], self.boxes)[0]
            if same.max() >= SAME_PLACE:
                return self.found[int(np.argmax(same))]
        self.boxes = np.concatenate([self.boxes, box[None].astype(np.float32)])
        self.found.append(score(box))
        return self.found[-1]


class FaceMatcher:
    """Relabels a tile model's boxes by their faces and adds the tiles it missed in a row; `None`
    from `for_model` for other models."""

    def __init__(
        self,
        faces: np.ndarray,
        names: dict[int, str],
        box_width: int = BOX_WIDTH,
        margin: float = MARGIN,
        memory: FaceMemory | None = None,
    ) -> None:
        by_tile = {tile_named(name): i for i, name in names.items()}
        self.class_of_tile = np.array([by_tile[t] for t in TILES], np.int32)
        self.tile_of_class = {int(c): k for k, c in enumerate(self.class_of_tile)}
        self.box_width, self.margin = box_width, margin
        self.memory = memory  # None: every box read afresh
        # per face scale: (width, height, faces as unit columns, their sums, which are blank); the
        # middle scale's also leaning, side by side, so each patch is cut and measured once a size
        leaning_too = np.concatenate([faces, *(leaning(faces, lean) for lean in LEANS)])
        self.banks = [self._bank(leaning_too if scale == FACE_SCALES[1] else faces, scale) for scale in FACE_SCALES]

    def _bank(self, faces: np.ndarray, scale: float) -> tuple:
        width = int(round(self.box_width * scale))
        height = int(round(width * FACE_ASPECT))
        bank = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in faces])
        bank = bank.reshape(len(faces), -1).astype(np.float32)
        bank -= bank.mean(1, keepdims=True)
        norm = np.linalg.norm(bank, axis=1, keepdims=True)
        blank = norm[:, 0] < np.sqrt(bank.shape[1])  # under one grey level of spread: nothing to correlate
        unit = (bank / np.maximum(norm, 1e-6)).T.copy()
        return width, height, unit, unit.sum(0, dtype=np.float64), blank

    @classmethod
    def for_model(
        cls, names: dict[int, str], path: str | Path | None = None, memory: FaceMemory | None = None
    ) -> FaceMatcher | None:
        """A matcher for a model whose classes include the 34 tiles; None (and why, in the log) else."""
        known = {tile_named(name) for name in names.values()}
        if not known >= set(TILES):
            (log.warning if path else log.info)(
                "model classes are not the 34 tiles: boxes keep the model's labels (no face matching%s)",
                f"; plugins.mahjong.faces_file {path} unused" if path else "",
            )
            return None
        return cls(load_faces(path), names, memory=memory)

    def scores(self, grey: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Each face's best correlation, in [-1, 1], with the pixels in and just around `box`.

        A shifted patch's level and spread come from integral images, and the faces have zero
        mean, so the product with the faces needs no centred, scaled copy of every patch."""
        out = np.full(len(TILES), -1.0, np.float32)
        window = self.window(grey, box)
        if window is None:
            return out
        total, squares = cv2.integral2(window, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
        for width, height, bank, bank_sum, blank in self.banks:
            if window.shape[0] < height or window.shape[1] < width:
                continue
            sums, square_sums = (
                table[height:, width:] - table[:-height, width:] - table[height:, :-width] + table[:-height, :-width]
                for table in (total, squares)
            )
            level = sums.ravel() / (height * width)
            spread = np.sqrt(np.maximum(square_sums.ravel() - sums.ravel() * level, 0.0))
            patches = sliding_window_view(window, (height, width)).reshape(-1, height * width)
            # (patch - level) . face = patch . face - level * sum(face), and sum(face) is 0 but for rounding
            matched = patches @ bank - np.outer(level, bank_sum).astype(np.float32)
            best = (matched / np.maximum(spread, 1e-6).astype(np.float32)[:, None]).max(0)
            flattest = int(np.argmin(spread))
            best[blank] = (
                1.0 - spread[flattest] / np.sqrt(height * width) / BLANK_SPREAD
                if level[flattest] >= BLANK_LEVEL
                else -1.0
            )
            np.maximum(out, best.reshape(-1, len(TILES)).max(0), out=out)  # (a face's best, upright or leaning)
        return out

    def window(self, grey: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """The pixels in and just around `box`, scaled so the box is `box_width` wide (None: no pixels)."""
        top, bottom, left, right = region_of(grey, box)
        if bottom - top < 2 or right - left < 2:
            return None
        scale = self.box_width / max(float(box[2] - box[0]), 1.0)
        window = cv2.resize(grey[top:bottom, left:right], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return window.astype(np.float32)

    def relabel(self, grey: np.ndarray, detections: Detections) -> Detections:
        """The same boxes, each labelled by its face where the faces are clearly sure of one, or the
        model's label matches far worse than the best face (`OVERRULE`)."""
        if not len(detections):
            return detections
        classes = detections.class_id.copy()
        for i, box in enumerate(detections.xyxy):
            if int(classes[i]) not in self.tile_of_class:
                continue
            scores = self._scores(grey, box, int(classes[i]))
            second, first = np.partition(scores, -2)[-2:]
            label = scores[self.tile_of_class[int(classes[i])]]
            overruled = first >= OVERRULE_SURE and first - label > OVERRULE
            if first >= SURE and (first - second > self.margin or overruled):
                classes[i] = self.class_of_tile[int(np.argmax(scores))]
        return Detections(detections.xyxy, detections.confidence, classes)

    def fill(self, grey: np.ndarray, detections: Detections) -> Detections:
        """The boxes plus a tile at each hole of their rows where a face matches well and clearly
        (its confidence: that match). Past a row's end a face that matches well but not clearly is
        a tile too, named by the best face at confidence `UNSURE`: the model misses a tile set apart
        (a drawn one) most, and that a tile is there says a draw however its name is read (against
        the model's reads of it, that name weighs little). Never a blank face: cloth, light or dark,
        is as blank. A tile found past an end is the end looked past next (up to `MORE_ENDS`
        more): the model misses the tiles at a row's end in runs, where the light or the slant
        differs from the rest of the row."""
        tiles = np.isin(detections.class_id, self.class_of_tile)
        height, width = grey.shape[:2]
        taken = detections.xyxy[tiles]
        found: list[tuple[np.ndarray, float, int]] = []
        looked = Looked()
        # a place nearer the cloth's grey than the tiles' is cloth: normalized, the faint mottling
        # of felt matches a bold face as well as a tile does (0.6, docs/results.md); told only where
        # the tiles stand out from the cloth (on light cloth, a shadowed tile could read as cloth)
        model_boxes = taken

        @functools.cache
        def greys() -> tuple[float, float]:  # the cloth's and the tiles' (only in a frame with a place to tell)
            cloth = float(np.median(grey[::8, ::8]))  # (a seat camera sees mostly cloth)
            levels = [level for level in (body_level(grey, box) for box in model_boxes) if level >= 0]
            return cloth, float(np.median(levels)) if levels else cloth

        def bodied(box: np.ndarray) -> bool:
            cloth, bodies = greys()
            level = body_level(grey, box)
            return abs(bodies - cloth) < TILES_STAND_OUT or abs(level - bodies) < abs(level - cloth)

        for extension in range(1 + MORE_ENDS):
            extended = False  # a tile found past a row's end: a new end, and maybe a hole behind it
            for candidates, end in row_holes(taken, END_REACH if extension else DRAWN_REACH):
                inside = candidates[
                    (candidates[:, 0] >= 0)
                    & (candidates[:, 1] >= 0)
                    & (candidates[:, 2] <= width)
                    & (candidates[:, 3] <= height)
                    & (overlap(candidates, taken) < 0.3)
                ]
                inside = [box for box in inside if bodied(box)]
                if not inside:
                    continue
                scored = [(looked.scores(box, lambda b: self._scores(grey, b, HOLE)), box) for box in inside]
                scores, box = max(scored, key=lambda pair: float(pair[0].max()))
                second, first = np.partition(scores, -2)[-2:]
                best = int(np.argmax(scores))
                clearly = first - second > self.margin
                if first >= FILL_SURE and (clearly or end) and TILES[best] != BLANK_TILE:
                    found.append((box, first if clearly else UNSURE, self.class_of_tile[best]))
                    taken = np.concatenate([taken, box[None]])
                    extended |= end
            if not extended:
                break
        if not found:
            return detections
        boxes, sure, classes = zip(*found)
        return Detections(
            np.concatenate([detections.xyxy, np.array(boxes, np.float32)]),
            np.concatenate([detections.confidence, np.array(sure, np.float32)]),
            np.concatenate([detections.class_id, np.array(classes, np.int32)]),
        )

    def read(self, grey: np.ndarray, detections: Detections) -> Detections:
        """`relabel`, then `fill`: what the detector returns; one frame to the memory."""
        if self.memory is not None:
            self.memory.next_frame(grey)
        return self.fill(grey, self.relabel(grey, detections))

    def _scores(self, grey: np.ndarray, box: np.ndarray, kind: int) -> np.ndarray:
        if self.memory is None:
            return self.scores(grey, box)
        scores = self.memory.recall(grey, box, kind)
        if scores is None:
            scores = self.scores(grey, box)
            if self.empty(scores) if kind == HOLE else self.decisive(scores):
                self.memory.keep(grey, box, kind, scores)
        return scores

    def empty(self, scores: np.ndarray) -> bool:
        """Is a row's hole clearly bare cloth (no face but the blank one near `FILL_SURE`)? Only
        such a verdict is remembered: a tile found in a hole is looked for afresh each frame, since
        the hole's candidates move with their neighbours (remembering those cost the held-out
        parlour scene a draw and a discard, docs/results.md)."""
        return float(np.delete(scores, TILES.index(BLANK_TILE)).max()) <= EMPTY

    def decisive(self, scores: np.ndarray) -> bool:
        """Would a fresh read of these pixels, with a frame's noise, judge them the same? A read near
        a threshold is not remembered: read afresh each frame, its flips are what the hand's votes
        over time average out (remembered, the first would stand for all; docs/game-record.md).
        A read `OVERRULE` decides is never clear between its two best faces, so never remembered."""
        second, first = np.partition(scores, -2)[-2:]
        return first <= SURE - DECISIVE or (first >= SURE + DECISIVE and first - second >= self.margin + DECISIVE)
