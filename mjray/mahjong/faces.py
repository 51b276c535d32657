"""A second read of each tile box: its pixels matched against the tile faces.

The tile model's worst confusions are systematic (7p read as 1s, 1m as 1s, frame after frame),
so votes over time keep them. Where the model found a tile, the face inside its box says which
tile it is: zero-mean normalized correlation of grey levels against every face, over a few
pixels of shift and three face sizes (perspective changes how much of the box the face fills),
at the box's own scale of about 24 pixels wide. The correlation ignores the light's level and
contrast. Where no face matches well, or none clearly better than the next, the model's label stays.

Where the model found no tile at all, a row of tiles shows it: a gap of a whole tile's pitch or
more between two neighbours, or past either end (up to two pitches out: a drawn tile is often set
apart). A face that matches there well and clearly is a tile the model missed (`fill`); bare
cloth matches no face that well. A blank face (the white dragon) is told by a flat, bright patch
when relabelling a box the model found, never when filling: cloth can be as flat and bright.

The faces ship as `mjray/mahjong/data/tile_faces.npz`, grey rasters of the public-domain artwork
(`pymdownx-mahjong`, built by `python -m mjray.sim faces`); a table with other tiles wants its own
(`plugins.mahjong.faces_file`: the same file format made from photos of its faces).
"""

from __future__ import annotations

import logging
from pathlib import Path

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
MARGIN = 0.05  # the faces' best score must beat the second best by this much to overrule the model,
SURE = 0.5  # and reach this (above what bare cloth reaches, below most tiles' own face: docs/game-record.md)
FILL_SURE = 0.6  # a tile where the model found none: its face must match at least this well
END_REACH = (1.0, 1.4, 1.8)  # pitches past a row's end where a tile is looked for
MOST_MISSING = 3  # tiles missing between two neighbours in a row, at most
BLANK_SPREAD = 25.0  # grey levels: a blank face (the white dragon) scores 1 - (flattest patch's spread) / this,
BLANK_LEVEL = 140  # if that patch is this bright (of 255, the frame's contrast stretched): a tile's body, not cloth


BLANK_TILE = "5z"  # the white dragon: a face with nothing to correlate


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


def row_holes(xyxy: np.ndarray) -> list[np.ndarray]:
    """Where a row of at least 3 tile boxes lacks a tile, each as its candidate boxes (k x 4): a
    neighbour 1.75 pitches or more away (the drawn tile's gap of a fraction of a tile is none; at
    most `MOST_MISSING` tiles between two), and past each end, at `END_REACH` pitches (a drawn
    tile may lie apart)."""
    out: list[np.ndarray] = []
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
                    out.append(
                        np.array(
                            [[x - width / 2, (1 - f) * a[1] + f * b[1], x + width / 2, (1 - f) * a[3] + f * b[3]]],
                            np.float32,
                        )
                    )
            for end, side in ((boxes[0], -1), (boxes[-1], 1)):
                xs = (end[0] + end[2]) / 2 + side * pitch * np.array(END_REACH)
                out.append(np.array([[x - width / 2, end[1], x + width / 2, end[3]] for x in xs], np.float32))
    return out


def overlap(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Each box's largest intersection over union with any of `others` (0 with none)."""
    if not len(others):
        return np.zeros(len(boxes), np.float32)
    return sv.box_iou_batch(boxes, others).max(1)


class FaceMatcher:
    """Relabels a tile model's boxes by their faces and adds the tiles it missed in a row; `None`
    from `for_model` for other models."""

    def __init__(
        self, faces: np.ndarray, names: dict[int, str], box_width: int = BOX_WIDTH, margin: float = MARGIN
    ) -> None:
        by_tile = {tile_named(name): i for i, name in names.items()}
        self.class_of_tile = np.array([by_tile[t] for t in TILES], np.int32)
        self.tile_of_class = {int(c): k for k, c in enumerate(self.class_of_tile)}
        self.box_width, self.margin = box_width, margin
        self.banks = []  # per face scale: (width, height, faces as unit columns, which faces are blank)
        for scale in FACE_SCALES:
            width = int(round(box_width * scale))
            height = int(round(width * FACE_ASPECT))
            bank = np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in faces])
            bank = bank.reshape(len(faces), -1).astype(np.float32)
            bank -= bank.mean(1, keepdims=True)
            norm = np.linalg.norm(bank, axis=1, keepdims=True)
            blank = norm[:, 0] < np.sqrt(bank.shape[1])  # under one grey level of spread: nothing to correlate
            self.banks.append((width, height, (bank / np.maximum(norm, 1e-6)).T.copy(), blank))

    @classmethod
    def for_model(cls, names: dict[int, str], path: str | Path | None = None) -> FaceMatcher | None:
        """A matcher for a model whose classes include the 34 tiles; None (and why, in the log) else."""
        known = {tile_named(name) for name in names.values()}
        if not known >= set(TILES):
            (log.warning if path else log.info)(
                "model classes are not the 34 tiles: boxes keep the model's labels (no face matching%s)",
                f"; plugins.mahjong.faces_file {path} unused" if path else "",
            )
            return None
        return cls(load_faces(path), names)

    def scores(self, grey: np.ndarray, box: np.ndarray) -> np.ndarray:
        """Each face's best correlation, in [-1, 1], with the pixels in and just around `box`."""
        x1, y1, x2, y2 = (float(v) for v in box)
        scale = self.box_width / max(x2 - x1, 1.0)
        pad = 0.1 * (x2 - x1)
        top, bottom = int(max(0, y1 - pad)), int(min(grey.shape[0], y2 + pad))
        left, right = int(max(0, x1 - pad)), int(min(grey.shape[1], x2 + pad))
        out = np.full(len(TILES), -1.0, np.float32)
        if bottom - top < 2 or right - left < 2:
            return out
        window = cv2.resize(grey[top:bottom, left:right], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        window = window.astype(np.float32)
        for width, height, bank, blank in self.banks:
            if window.shape[0] < height or window.shape[1] < width:
                continue
            patches = sliding_window_view(window, (height, width)).reshape(-1, height * width)
            level = patches.mean(1, keepdims=True)
            patches = patches - level
            spread = np.linalg.norm(patches, axis=1, keepdims=True)
            best = ((patches / np.maximum(spread, 1e-6)) @ bank).max(0)
            flattest = int(np.argmin(spread))
            best[blank] = (
                1.0 - float(spread[flattest, 0]) / np.sqrt(height * width) / BLANK_SPREAD
                if level[flattest, 0] >= BLANK_LEVEL
                else -1.0
            )
            np.maximum(out, best, out=out)
        return out

    def relabel(self, grey: np.ndarray, detections: Detections) -> Detections:
        """The same boxes, each labelled by its face where the faces are clearly sure of one."""
        if not len(detections):
            return detections
        classes = detections.class_id.copy()
        for i, box in enumerate(detections.xyxy):
            if int(classes[i]) not in self.tile_of_class:
                continue
            scores = self.scores(grey, box)
            second, first = np.partition(scores, -2)[-2:]
            if first >= SURE and first - second > self.margin:
                classes[i] = self.class_of_tile[int(np.argmax(scores))]
        return Detections(detections.xyxy, detections.confidence, classes)

    def fill(self, grey: np.ndarray, detections: Detections) -> Detections:
        """The boxes plus a tile at each hole of their rows where a face matches well and clearly
        (its confidence: that match). Never a blank face: cloth, light or dark, is as blank."""
        tiles = np.isin(detections.class_id, self.class_of_tile)
        height, width = grey.shape[:2]
        taken = detections.xyxy[tiles]
        found = []
        for candidates in row_holes(taken):
            inside = candidates[
                (candidates[:, 0] >= 0)
                & (candidates[:, 1] >= 0)
                & (candidates[:, 2] <= width)
                & (candidates[:, 3] <= height)
                & (overlap(candidates, taken) < 0.3)
            ]
            if not len(inside):
                continue
            scored = [(self.scores(grey, box), box) for box in inside]
            scores, box = max(scored, key=lambda pair: float(pair[0].max()))
            second, first = np.partition(scores, -2)[-2:]
            best = int(np.argmax(scores))
            if first >= FILL_SURE and first - second > self.margin and TILES[best] != BLANK_TILE:
                found.append((box, first, self.class_of_tile[best]))
                taken = np.concatenate([taken, box[None]])
        if not found:
            return detections
        boxes, sure, classes = zip(*found)
        return Detections(
            np.concatenate([detections.xyxy, np.array(boxes, np.float32)]),
            np.concatenate([detections.confidence, np.array(sure, np.float32)]),
            np.concatenate([detections.class_id, np.array(classes, np.int32)]),
        )

    def read(self, grey: np.ndarray, detections: Detections) -> Detections:
        """`relabel`, then `fill`: what the detector returns."""
        return self.fill(grey, self.relabel(grey, detections))
