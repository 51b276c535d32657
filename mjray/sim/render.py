"""One seat's camera view of its player's hand: felt, tiles, perspective, light and sensor noise.

Each seat has its own fixed camera pose (perspective tilt, roll, offset), felt colour and light
fall-off, drawn from the seed; each frame adds a light flicker and noise. The picture of a given
hand is composed once and reused while the hand does not change, so rendering costs little more
than the noise. Boxes of the tiles, in left-to-right order, come out with every frame: they are
the ground truth a detector is scored against.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from mjray.sim import marker, tiles
from mjray.sim.game import Hand

HAND_SLOTS = 14.35  # 13 tiles, a gap of 0.35 tile, the drawn tile
BODY_BGR = (214, 228, 236)  # ivory face
EDGE_BGR = (170, 186, 194)  # the tile's visible thickness
BACK_BGR = (40, 120, 205)  # coloured back layer seen at the bottom edge


@dataclass(frozen=True)
class TileBox:
    tile: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the frame


class SeatView:
    """Renders frames of one seat's camera at a fixed size."""

    def __init__(self, seat_index: int, width: int, height: int, seed: int = 0) -> None:
        if width < 320 or height < 180:
            raise ValueError(f"frame size {width}x{height} too small; use at least 320x180")
        self.seat_index, self.width, self.height = seat_index, width, height
        rng = np.random.default_rng([seed, seat_index])
        self.tile_w = 0.8 * width / HAND_SLOTS
        self.tile_h = 1.33 * self.tile_w
        self.depth = 0.22 * self.tile_w  # thickness seen below the face
        self.origin = ((width - HAND_SLOTS * self.tile_w) / 2, 0.55 * height - self.tile_h / 2)
        self.homography = self._camera_pose(rng)
        self.background = self._felt(rng)
        self.light = self._light(rng)
        self.noise = [rng.normal(0, 3.0, (height, width, 1)).astype(np.float32) for _ in range(8)]
        self.flicker_phase = rng.uniform(0, 2 * np.pi)

    def _camera_pose(self, rng: np.random.Generator) -> np.ndarray:
        w, h = self.width, self.height
        tilt = rng.uniform(0.05, 0.12) * w  # top edge narrower: camera looks down at the hand
        roll = np.deg2rad(rng.uniform(-3.0, 3.0))
        dx, dy = rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.04, 0.04) * h
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = np.float32([[tilt, 0], [w - tilt, 0], [w, h], [0, h]])
        centre = np.float32([w / 2, h / 2])
        rot = np.float32([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
        dst = (dst - centre) @ rot.T + centre + np.float32([dx, dy])
        return cv2.getPerspectiveTransform(src, dst.astype(np.float32))

    def _felt(self, rng: np.random.Generator) -> np.ndarray:
        base = np.float32([rng.uniform(60, 90), rng.uniform(110, 140), rng.uniform(40, 70)])  # BGR green
        small = rng.normal(0, 1, (self.height // 8 + 1, self.width // 8 + 1)).astype(np.float32)
        texture = cv2.resize(cv2.GaussianBlur(small, (5, 5), 1.5), (self.width, self.height))
        return np.clip(base + 9 * texture[..., None], 0, 255).astype(np.float32)

    def _light(self, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        ramp = (np.cos(angle) * (xs / self.width - 0.5) + np.sin(angle) * (ys / self.height - 0.5))
        return (1.0 + rng.uniform(0.15, 0.3) * ramp)[..., None].astype(np.float32)

    def _flat_rects(self, hand: Hand) -> list[tuple[str, float, float]]:
        """(tile, left x, top y) of each tile before the camera's perspective."""
        x0, y0 = self.origin
        rects = [(t, x0 + i * self.tile_w, y0) for i, t in enumerate(hand.concealed)]
        if hand.drawn:
            rects.append((hand.drawn, x0 + (HAND_SLOTS - 1) * self.tile_w, y0))
        return rects

    def boxes(self, hand: Hand) -> list[TileBox]:
        out = []
        for tile, x, y in self._flat_rects(hand):
            corners = np.float32([[x, y], [x + self.tile_w, y], [x + self.tile_w, y + self.tile_h + self.depth],
                                  [x, y + self.tile_h + self.depth]])
            warped = cv2.perspectiveTransform(corners[None], self.homography)[0]
            x1, y1 = np.clip(warped.min(axis=0), 0, [self.width, self.height])
            x2, y2 = np.clip(warped.max(axis=0), 0, [self.width, self.height])
            out.append(TileBox(tile, (round(float(x1), 1), round(float(y1), 1), round(float(x2), 1), round(float(y2), 1))))
        return out

    @functools.lru_cache(maxsize=4)
    def compose(self, hand: Hand) -> np.ndarray:
        """The lit, noise-free picture of this hand as float32 BGR."""
        layer = np.zeros((self.height, self.width, 3), np.float32)
        alpha = np.zeros((self.height, self.width), np.float32)
        tw, th, depth = self.tile_w, self.tile_h, self.depth
        rects = self._flat_rects(hand)
        shadow = np.zeros_like(alpha)
        for _, x, y in rects:
            cv2.rectangle(shadow, (int(x + 0.12 * tw), int(y + 0.15 * th)), (int(x + 1.1 * tw), int(y + th + 1.5 * depth)), 1.0, -1)
        shadow = cv2.GaussianBlur(shadow, (0, 0), 0.12 * tw) * 0.45
        face_w, face_h = int(0.84 * tw), int(0.84 * th)
        for tile, x, y in rects:
            xi, yi = int(round(x)), int(round(y))
            x2, y2 = int(round(x + tw)) - 2, int(round(y + th))  # 2 px seam between neighbours
            cv2.rectangle(layer, (xi, y2), (x2, int(round(y2 + depth * 0.55))), EDGE_BGR, -1)
            cv2.rectangle(layer, (xi, int(round(y2 + depth * 0.55))), (x2, int(round(y2 + depth))), BACK_BGR, -1)
            cv2.rectangle(layer, (xi, yi), (x2, y2), BODY_BGR, -1)
            cv2.rectangle(alpha, (xi, yi), (x2, int(round(y2 + depth))), 1.0, -1)
            art = tiles.face(tile, face_w, face_h).astype(np.float32)
            fx, fy = xi + (x2 - xi - face_w) // 2, yi + (y2 - yi - face_h) // 2
            a = art[..., 3:4] / 255.0
            region = layer[fy : fy + face_h, fx : fx + face_w]
            region[:] = region * (1 - a) + art[..., 2::-1] * a  # RGBA -> BGR
        size = (self.width, self.height)
        layer = cv2.warpPerspective(layer, self.homography, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(alpha, self.homography, size, flags=cv2.INTER_LINEAR)[..., None]
        shadow = cv2.warpPerspective(shadow, self.homography, size, flags=cv2.INTER_LINEAR)[..., None]
        picture = self.background * (1 - shadow) * (1 - alpha) + layer * alpha
        picture = cv2.GaussianBlur(picture * self.light, (3, 3), 0.6)  # optics: a touch soft
        picture.setflags(write=False)
        return picture

    def render(self, hand: Hand, frame_index: int, fps: float) -> np.ndarray:
        """The BGR uint8 frame `frame_index` showing `hand`, with its marker in the corners."""
        t = frame_index / fps
        flicker = 1.0 + 0.025 * np.sin(2 * np.pi * 0.7 * t + self.flicker_phase)
        noise = self.noise[frame_index % len(self.noise)]
        frame = cv2.convertScaleAbs(self.compose(hand) * flicker + noise)
        marker.draw(frame, marker.Marker(self.seat_index, frame_index))
        return frame
