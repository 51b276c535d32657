"""Calibration to a table's own tiles: one tile of each kind laid face up in four rows in front of
a seat camera (1m..9m, 1p..9p, 1s..9s, then east south west north white green red), found by the
tile model, named by its place in the layout (never by the model's label: the model may not know
this artwork), and its face kept as the faces file `plugins.mahjong.faces_file` reads.

Pure logic over a picture and the model's boxes, no Ray: `python -m mjray.calibrate` feeds it.
Rows are told apart by the boxes' heights (a row is where the next box lies less than half a tile
lower), which holds for a camera at a slant and rolled a few degrees; a row with a tile short says
which row, and where its gap is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

from mjray.frames import Detections
from mjray.mahjong.faces import BLANK_TILE, FACE_ASPECT, FACE_SCALES, body_level, rows_of
from mjray.mahjong.tiles import TILES

LAYOUT: tuple[tuple[str, ...], ...] = (TILES[0:9], TILES[9:18], TILES[18:27], TILES[27:34])
ROW_NAMES = ("1m..9m", "1p..9p", "1s..9s", "east south west north white green red")
FACE_SIZE = (72, 96)  # width, height of each face kept: the bundled faces' size
FACE_WIDTH = FACE_SCALES[1]  # face width over tile box width, as the faces are matched
# the model is asked for boxes it is barely sure of: a tile of an artwork it never saw is still a tile, and the
# layout (rows of 9, 9, 9, 7) tells a stray box from a tile
MIN_CONFIDENCE = 0.05
MOST_ROLL = np.deg2rad(30)  # radians: a row slanted more is no layout laid in rows before a camera


class CalibrationError(ValueError):
    """The picture does not show the layout; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class Calibration:
    boxes: dict[str, np.ndarray]  # tile -> its box (x1, y1, x2, y2) in the picture
    faces: np.ndarray  # (34, 96, 72) uint8 grey, in TILES order


def tile_boxes(detections: Detections, min_confidence: float = MIN_CONFIDENCE) -> np.ndarray:
    """The tiles' boxes whatever the model named them: one box per tile (overlaps merged, the
    surest kept), none of a size far from the others'."""
    keep = detections.confidence >= min_confidence
    xyxy, confidence = detections.xyxy[keep], detections.confidence[keep]
    chosen: list[int] = []
    for i in np.argsort(-confidence, kind="stable"):
        if not chosen or sv.box_iou_batch(xyxy[i : i + 1], xyxy[chosen]).max() < 0.5:
            chosen.append(int(i))
    boxes = xyxy[sorted(chosen)] if chosen else np.zeros((0, 4), np.float32)
    if len(boxes) < 3:
        return boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    typical = float(np.median(area))
    return boxes[(area > 0.4 * typical) & (area < 2.5 * typical)]


def _gap(row: np.ndarray) -> int | None:
    """Where a row lacks a tile between two others: the place after which it is (0-based), if any."""
    if len(row) < 2:
        return None
    centre = (row[:, 0] + row[:, 2]) / 2
    steps = np.diff(centre)
    pitch = float(np.median(steps))
    widest = int(np.argmax(steps))
    return widest if steps[widest] > 1.6 * pitch else None


def complete(grey: np.ndarray, rows: list[np.ndarray]) -> list[np.ndarray]:
    """Each row short of the layout's count with the tiles the model missed added: a box one pitch
    on from its neighbours (between two, or past an end) wherever the picture there looks like a
    tile's body rather than the cloth. A place that shows cloth stays empty."""
    if len(rows) != len(LAYOUT):
        return rows
    boxes = np.concatenate(rows)
    tiles = float(np.median([body_level(grey, b) for b in boxes]))
    outside = np.ones(grey.shape[:2], bool)
    for x1, y1, x2, y2 in boxes.astype(int):
        outside[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)] = False
    cloth = float(np.median(grey[outside])) if outside.any() else 0.0

    def is_tile(box: np.ndarray) -> bool:
        x1, y1, x2, y2 = box
        inside = x1 >= 0 and y1 >= 0 and x2 <= grey.shape[1] and y2 <= grey.shape[0]
        level = body_level(grey, box)
        return inside and abs(level - tiles) < abs(level - cloth)

    out = []
    for row, laid in zip(rows, LAYOUT):
        row = row[np.argsort(row[:, 0])]
        while 2 <= len(row) < len(laid):
            steps = np.diff((row[:, 0] + row[:, 2]) / 2)
            pitch = float(np.median(steps[steps < 1.6 * np.median(steps)]))
            # in each gap, one pitch on from the left neighbour towards the right one; a pitch past either
            # end, along the row's slant
            candidates = [
                row[i] + pitch / steps[i] * (row[i + 1] - row[i]) for i in np.flatnonzero(steps > 1.6 * pitch)
            ]
            candidates += [
                row[0] - pitch / steps[0] * (row[1] - row[0]),
                row[-1] + pitch / steps[-1] * (row[-1] - row[-2]),
            ]
            free = [box for box in candidates if sv.box_iou_batch(box[None], row).max() < 0.3]
            found = [box for box in free if is_tile(box)][: len(laid) - len(row)]
            if not found:
                break
            row = np.concatenate([row, np.stack(found).astype(np.float32)])
            row = row[np.argsort(row[:, 0])]
        out.append(row)
    return out


def name_tiles(boxes: np.ndarray, grey: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each tile's box, named by its place in the layout (with `grey`, the tiles the model missed
    added where the picture shows a tile: `complete`); `CalibrationError` naming the first row that
    is not as laid out."""
    rows = rows_of(boxes)
    if grey is not None:
        rows = complete(grey, rows)
    if len(rows) != len(LAYOUT):
        counts = ", ".join(str(len(r)) for r in rows) or "none"
        raise CalibrationError(
            f"found {len(rows)} rows of tiles ({counts} tiles), not 4: lay one tile of each kind face up in four rows, "
            f"{'; '.join(ROW_NAMES)}, the whole layout in view and nothing else on the cloth"
        )
    for number, (row, tiles, name) in enumerate(zip(rows, LAYOUT, ROW_NAMES), 1):
        if len(row) < len(tiles):
            gap = _gap(row)
            where = (
                f"a gap after its {gap + 1}{_ordinal(gap + 1)} tile: is {tiles[gap + 1]} missing?"
                if gap is not None and len(row) == len(tiles) - 1
                else "is a tile missing, covered or out of view?"
            )
            raise CalibrationError(f"row {number} ({name}) has {len(row)} tiles, not {len(tiles)}: {where}")
        if len(row) > len(tiles):
            raise CalibrationError(
                f"row {number} ({name}) has {len(row)} tiles, not {len(tiles)}: one tile of each kind, nothing else in the row"
            )
    return {tile: box for row, tiles in zip(rows, LAYOUT) for tile, box in zip(tiles, row)}


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def face_crop(grey: np.ndarray, box: np.ndarray, roll: float = 0.0) -> np.ndarray:
    """The face inside a tile's box, as the faces are kept: the artwork's share of the tile's width,
    centred, from just below the tile's top edge, at FACE_SIZE; a tile rolled by `roll` (radians,
    its row's slant) turned upright, as the tiles of a hand are seen."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cos, sin = np.cos(roll), np.sin(roll)
    across, down = x2 - x1, y2 - y1  # the box holds the rolled tile: its own sides are shorter
    if 1e-3 < abs(roll) < MOST_ROLL:
        turned = cos * cos - sin * sin
        sides = (across * cos - down * abs(sin)) / turned, (down * cos - across * abs(sin)) / turned
        if min(sides) > 0:  # (else no upright tile fits the box: take the box as it is)
            across, down = sides
    width = FACE_WIDTH * across
    height = width * FACE_ASPECT
    top = -down / 2 + (across - width) / 2 * FACE_ASPECT  # (in the tile's own frame, about its centre)
    own = np.float32([[-width / 2, top], [width / 2, top], [-width / 2, top + height]])
    corners = own @ np.float32([[cos, sin], [-sin, cos]]) + np.float32([(x1 + x2) / 2, (y1 + y2) / 2])
    target = np.float32([[0, 0], [FACE_SIZE[0], 0], [0, FACE_SIZE[1]]])
    return cv2.warpAffine(  # warpAffine has no area interpolation: linear
        grey,
        cv2.getAffineTransform(corners, target),
        FACE_SIZE,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def rolls(named: dict[str, np.ndarray]) -> dict[str, float]:
    """Each tile's roll (radians): the slant of the line through its layout row's centres."""
    out = {}
    for laid in LAYOUT:
        centres = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for b in (named[t] for t in laid)])
        slope = np.polyfit(centres[:, 0], centres[:, 1], 1)[0]
        out.update(dict.fromkeys(laid, float(np.arctan(slope))))
    return out


def calibrate(grey: np.ndarray, detections: Detections) -> Calibration:
    """The layout's faces from one grey picture and the tile model's boxes in it."""
    named = name_tiles(tile_boxes(detections), grey)
    roll = rolls(named)
    faces = np.stack([face_crop(grey, named[tile], roll[tile]) for tile in TILES])
    return Calibration(named, faces)


def combine(calibrations: list[Calibration]) -> np.ndarray:
    """Faces from several frames of the same layout: each pixel's median (noise and glints averaged out)."""
    return np.median(np.stack([c.faces for c in calibrations]), axis=0).round().astype(np.uint8)


def alike(faces: np.ndarray, threshold: float = 0.85) -> list[tuple[str, str, float]]:
    """Pairs of faces that correlate above `threshold` (zero-mean, normalized): tiles the faces will
    find hard to tell apart, most alike first."""
    flat = faces.reshape(len(faces), -1).astype(np.float32)
    flat -= flat.mean(1, keepdims=True)
    flat /= np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)
    score = flat @ flat.T
    pairs = [
        (TILES[i], TILES[j], float(score[i, j]))
        for i in range(len(TILES))
        for j in range(i + 1, len(TILES))
        if score[i, j] > threshold and BLANK_TILE not in (TILES[i], TILES[j])
    ]
    return sorted(pairs, key=lambda pair: -pair[2])


def preview(picture: np.ndarray, calibration: Calibration, faces: np.ndarray) -> np.ndarray:
    """The picture with each tile's box and name, above the faces kept, each with its name."""
    shown = picture.copy() if picture.ndim == 3 else cv2.cvtColor(picture, cv2.COLOR_GRAY2BGR)
    scale = max(1, shown.shape[0] // 360)
    for tile, box in calibration.boxes.items():
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(shown, (x1, y1), (x2, y2), (0, 200, 255), scale)
        cv2.putText(shown, tile, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * scale, (0, 200, 255), scale)
    width, height = FACE_SIZE
    strip = np.full((len(LAYOUT) * (height + 20), 9 * (width + 8), 3), 40, np.uint8)
    for r, tiles in enumerate(LAYOUT):
        for c, tile in enumerate(tiles):
            x, y = c * (width + 8) + 4, r * (height + 20) + 16
            strip[y : y + height, x : x + width] = cv2.cvtColor(faces[TILES.index(tile)], cv2.COLOR_GRAY2BGR)
            cv2.putText(strip, tile, (x, y - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    fit = shown.shape[1] / strip.shape[1]
    strip = cv2.resize(strip, (shown.shape[1], int(strip.shape[0] * fit)), interpolation=cv2.INTER_AREA)
    return np.vstack([shown, strip])
