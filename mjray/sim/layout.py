"""The calibration layout as a seat camera sees it: one tile of each kind face up in four rows
(1m..9m, 1p..9p, 1s..9s, then east south west north white green red), on the felt, under the
scene's camera pose and light, with optional glare and tiles left out. Its tile boxes come with
it, for tests of `python -m mjray.calibrate`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

import cv2
import numpy as np

from mjray.mahjong.calibrate import LAYOUT
from mjray.sim.render import ARTWORKS, Scene, SeatView, TileBox, scene_named


def render_layout(
    width: int = 1280,
    height: int = 720,
    scene: Scene | str = "table",
    seed: int = 0,
    missing: Collection[str] = (),
    glare: float = 0.0,
) -> tuple[np.ndarray, list[TileBox]]:
    """(BGR uint8 picture, boxes of the tiles laid, row by row). `glare`: how much a lamp's
    reflection brightens the upper middle (0..1)."""
    scene = scene if isinstance(scene, Scene) else scene_named(scene)
    art = ARTWORKS[scene.art]
    view = SeatView(0, width, height, seed, replace(scene, flicker=0.0))  # pose, felt, light of the seed
    pitch_y = 0.78 * height / len(LAYOUT)
    tile_h = pitch_y / (1.3 + scene.depth / scene.tile_aspect)
    tile_w = tile_h / scene.tile_aspect
    depth = scene.depth * tile_w
    pitch_x = tile_w * 1.08
    x0, y0 = (width - 9 * pitch_x) / 2, (height - len(LAYOUT) * pitch_y) / 2
    layer = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    face_w, face_h = int(scene.face_scale * tile_w), int(scene.face_scale * tile_h)
    flat = []
    for r, row in enumerate(LAYOUT):
        for c, tile in enumerate(row):
            if tile in missing:
                continue
            x, y = x0 + c * pitch_x, y0 + r * pitch_y
            xi, yi, x2, y2 = int(round(x)), int(round(y)), int(round(x + tile_w)), int(round(y + tile_h))
            cv2.rectangle(layer, (xi, y2), (x2, int(round(y2 + depth * 0.55))), scene.edge_bgr, -1)
            cv2.rectangle(layer, (xi, int(round(y2 + depth * 0.55))), (x2, int(round(y2 + depth))), scene.back_bgr, -1)
            cv2.rectangle(layer, (xi, yi), (x2, y2), scene.body_bgr, -1)
            cv2.rectangle(alpha, (xi, yi), (x2, int(round(y2 + depth))), 1.0, -1)
            face = art(tile, face_w, face_h).astype(np.float32)
            fx, fy = xi + (x2 - xi - face_w) // 2, yi + (y2 - yi - face_h) // 2
            a = face[..., 3:4] / 255.0
            region = layer[fy : fy + face_h, fx : fx + face_w]
            region[:] = region * (1 - a) + face[..., 2::-1] * a  # RGBA -> BGR
            flat.append(
                (tile, np.float32([[x, y], [x + tile_w, y], [x + tile_w, y + tile_h + depth], [x, y + tile_h + depth]]))
            )
    size = (width, height)
    layer = cv2.warpPerspective(layer, view.homography, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(alpha, view.homography, size, flags=cv2.INTER_LINEAR)[..., None]
    picture = view.background * (1 - alpha) + layer * alpha
    light = view.light
    if glare:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        spot = np.exp(-(((xs - 0.55 * width) / (0.18 * width)) ** 2 + ((ys - 0.35 * height) / (0.15 * height)) ** 2))
        picture = picture + glare * 255.0 * spot[..., None]
    kernel, sigma = scene.blur
    picture = cv2.GaussianBlur(picture * light, (kernel, kernel), sigma) + view.noise[0]
    boxes = []
    for tile, corners in flat:
        warped = cv2.perspectiveTransform(corners[None], view.homography)[0]
        x1, y1 = np.clip(warped.min(axis=0), 0, [width, height])
        x2, y2 = np.clip(warped.max(axis=0), 0, [width, height])
        boxes.append(TileBox(tile, (float(x1), float(y1), float(x2), float(y2))))
    return cv2.convertScaleAbs(picture), boxes
