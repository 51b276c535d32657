"""One seat's camera view of its player's hand: felt, tiles, perspective, light and sensor noise.

Each seat has its own fixed camera pose (perspective tilt, roll, offset), felt colour and light
fall-off, drawn from the seed; each frame adds a light flicker and noise. The picture of a given
hand is composed once and reused while the hand does not change, so rendering costs little more
than the noise. Boxes of the tiles, in left-to-right order, come out with every frame: they are
the ground truth a detector is scored against.

The look is a `Scene`, picked by name from `SCENES`: `"table"` is the one everything is tuned on;
`"parlour"` (smaller tiles, stronger pose, dim warm light, a different tile body) is a held-out
look for checking that a tile reader was not tuned to the first. The frame-index marker is the
same in every scene.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from mjray.sim import art, marker, tiles
from mjray.sim.game import Hand

HAND_SLOTS = 14.35  # tile widths a scene's hand_span holds: 13 tiles, a gap of 0.35 tile, the drawn tile
BODY_BGR = (214, 228, 236)  # ivory face
EDGE_BGR = (170, 186, 194)  # the tile's visible thickness
BACK_BGR = (40, 120, 205)  # coloured back layer seen at the bottom edge

Range = tuple[float, float]  # (low, high) of a value drawn per seat from the seed


@dataclass(frozen=True)
class Scene:
    """How a table looks: tile size and art, camera pose, felt, light and sensor.

    Values given as ranges are drawn once per seat from the seed; the defaults are the `"table"` look.
    """

    name: str = "table"
    hand_span: float = 0.8  # width of the hand row (13 tiles, gap, drawn tile) over frame width
    row_y: float = 0.55  # centre of the row over frame height, before the camera pose
    tile_aspect: float = 1.33  # tile face height over width
    depth: float = 0.22  # visible thickness below the face, over tile width
    tilt: Range = (0.05, 0.12)  # narrowing of the top edge on each side, over frame width
    roll_deg: float = 3.0  # camera roll drawn within +-roll_deg degrees
    shift: tuple[float, float] = (0.03, 0.04)  # offset drawn within +-x of frame width, +-y of height
    felt_bgr: tuple[Range, Range, Range] = ((60, 90), (110, 140), (40, 70))  # base felt colour
    falloff: Range = (0.15, 0.3)  # linear light gradient across the frame (0.2: +-10 % at the edges)
    spot: float = 0.0  # radial fall-off from a lamp: light lost at a frame's width from it
    gain: float = 1.0  # overall light level
    cast_bgr: tuple[float, float, float] = (1.0, 1.0, 1.0)  # light colour, multiplies each channel
    flicker: float = 0.025  # amplitude of the 0.7 Hz light flicker
    noise: float = 3.0  # sensor noise, standard deviation in grey levels
    body_bgr: tuple[int, int, int] = BODY_BGR
    edge_bgr: tuple[int, int, int] = EDGE_BGR
    back_bgr: tuple[int, int, int] = BACK_BGR
    face_scale: float = 0.84  # artwork size over tile size
    blur: tuple[int, float] = (3, 0.6)  # optics: Gaussian kernel size (px) and sigma (px)
    art: str = "classic"  # the tiles' artwork (ARTWORKS): the bundled faces' own, or one drawn by code


ARTWORKS = {"classic": tiles.face, "drawn": art.drawn_face}  # name -> face(tile, width, height) as RGBA


SCENES: dict[str, Scene] = {
    "table": Scene(),
    "parlour": Scene(
        name="parlour",
        hand_span=0.62,
        row_y=0.58,
        depth=0.3,
        tilt=(0.08, 0.15),
        roll_deg=6.0,
        shift=(0.05, 0.09),
        felt_bgr=((95, 125), (55, 75), (25, 45)),  # blue
        falloff=(0.35, 0.55),
        spot=0.45,
        gain=0.8,
        cast_bgr=(0.84, 0.96, 1.1),  # warm: less blue, more red
        flicker=0.04,
        noise=4.5,
        body_bgr=(188, 220, 236),  # cream
        edge_bgr=(150, 172, 186),
        back_bgr=(60, 130, 40),  # green back
        face_scale=0.8,
        blur=(5, 1.0),
    ),
    "homemade": Scene(  # held out, another artwork: nothing was tuned on it (the calibration's check)
        name="homemade",
        hand_span=0.7,
        row_y=0.52,
        depth=0.26,
        tilt=(0.06, 0.13),
        roll_deg=4.0,
        shift=(0.04, 0.06),
        felt_bgr=((40, 60), (40, 60), (110, 140)),  # red-brown
        falloff=(0.25, 0.4),
        spot=0.25,
        gain=0.9,
        cast_bgr=(1.05, 1.0, 0.95),  # cool
        noise=4.0,
        body_bgr=(240, 242, 244),  # white
        edge_bgr=(200, 204, 206),
        back_bgr=(150, 60, 20),  # blue back
        face_scale=0.86,
        blur=(3, 0.8),
        art="drawn",
    ),
}


def scene_named(name: str) -> Scene:
    if name not in SCENES:
        raise ValueError(f"unknown scene {name!r}; known scenes: {', '.join(SCENES)}")
    return SCENES[name]


@dataclass(frozen=True)
class TileBox:
    tile: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the frame


class SeatView:
    """Renders frames of one seat's camera at a fixed size."""

    def __init__(
        self,
        seat_index: int,
        width: int,
        height: int,
        seed: int = 0,
        scene: Scene | str = "table",
        span: float = HAND_SLOTS,
    ) -> None:
        """`span`: tile widths the widest hand takes (a drawn tile further apart moves the row's
        left end left so that it stays in the picture); the tiles' size is the scene's."""
        if width < 320 or height < 180:
            raise ValueError(f"frame size {width}x{height} too small; use at least 320x180")
        self.seat_index, self.width, self.height = seat_index, width, height
        self.scene = scene if isinstance(scene, Scene) else scene_named(scene)
        rng = np.random.default_rng([seed, seat_index])
        self.tile_w = self.scene.hand_span * width / HAND_SLOTS
        self.tile_h = self.scene.tile_aspect * self.tile_w
        self.depth = self.scene.depth * self.tile_w  # thickness seen below the face
        self.origin = ((width - span * self.tile_w) / 2, self.scene.row_y * height - self.tile_h / 2)
        self.homography = self._camera_pose(rng)
        self.background = self._felt(rng)
        self.light = self._light(rng)
        self.noise = [rng.normal(0, self.scene.noise, (height, width, 1)).astype(np.float32) for _ in range(8)]
        self.flicker_phase = rng.uniform(0, 2 * np.pi)

    def _camera_pose(self, rng: np.random.Generator) -> np.ndarray:
        w, h, scene = self.width, self.height, self.scene
        tilt = rng.uniform(*scene.tilt) * w  # top edge narrower: camera looks down at the hand
        roll = np.deg2rad(rng.uniform(-scene.roll_deg, scene.roll_deg))
        sx, sy = scene.shift
        dx, dy = rng.uniform(-sx, sx) * w, rng.uniform(-sy, sy) * h
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = np.float32([[tilt, 0], [w - tilt, 0], [w, h], [0, h]])
        centre = np.float32([w / 2, h / 2])
        rot = np.float32([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
        dst = (dst - centre) @ rot.T + centre + np.float32([dx, dy])
        return cv2.getPerspectiveTransform(src, dst.astype(np.float32))

    def _felt(self, rng: np.random.Generator) -> np.ndarray:
        base = np.float32([rng.uniform(*channel) for channel in self.scene.felt_bgr])
        small = rng.normal(0, 1, (self.height // 8 + 1, self.width // 8 + 1)).astype(np.float32)
        texture = cv2.resize(cv2.GaussianBlur(small, (5, 5), 1.5), (self.width, self.height))
        return np.clip(base + 9 * texture[..., None], 0, 255).astype(np.float32)

    def _light(self, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        ramp = np.cos(angle) * (xs / self.width - 0.5) + np.sin(angle) * (ys / self.height - 0.5)
        light = (1.0 + rng.uniform(*self.scene.falloff) * ramp)[..., None].astype(np.float32)
        if self.scene.spot:  # a lamp somewhere above the upper half of the frame
            cx, cy = rng.uniform(0.2, 0.8) * self.width, rng.uniform(0.0, 0.5) * self.height
            distance = np.hypot(xs - cx, ys - cy) / self.width
            light *= np.clip(1.0 - self.scene.spot * distance**2, 0.2, 1.0)[..., None]
        if self.scene.gain != 1.0 or self.scene.cast_bgr != (1.0, 1.0, 1.0):
            light = light * (self.scene.gain * np.float32(self.scene.cast_bgr))
        return light

    def _flat_rects(self, hand: Hand) -> list[tuple[str, float, float]]:
        """(tile, left x, top y) of each of the hand's tiles (the drawn one last) before the camera's perspective."""
        x0, y0 = self.origin
        return [(t, x0 + at * self.tile_w, y0) for t, at in zip(hand.tiles, hand.places)]

    def boxes(self, hand: Hand) -> list[TileBox]:
        out = []
        for tile, x, y in self._flat_rects(hand):
            corners = np.float32(
                [
                    [x, y],
                    [x + self.tile_w, y],
                    [x + self.tile_w, y + self.tile_h + self.depth],
                    [x, y + self.tile_h + self.depth],
                ]
            )
            warped = cv2.perspectiveTransform(corners[None], self.homography)[0]
            x1, y1 = np.clip(warped.min(axis=0), 0, [self.width, self.height])
            x2, y2 = np.clip(warped.max(axis=0), 0, [self.width, self.height])
            out.append(
                TileBox(tile, (round(float(x1), 1), round(float(y1), 1), round(float(x2), 1), round(float(y2), 1)))
            )
        return out

    @functools.lru_cache(maxsize=4)  # noqa: B019 (four hands at most; a view lives as long as its table)
    def compose(self, hand: Hand) -> np.ndarray:
        """The lit, noise-free picture of this hand as float32 BGR."""
        layer = np.zeros((self.height, self.width, 3), np.float32)
        alpha = np.zeros((self.height, self.width), np.float32)
        tw, th, depth = self.tile_w, self.tile_h, self.depth
        rects = self._flat_rects(hand)
        shadow = np.zeros_like(alpha)
        for _, x, y in rects:
            cv2.rectangle(
                shadow,
                (int(x + 0.12 * tw), int(y + 0.15 * th)),
                (int(x + 1.1 * tw), int(y + th + 1.5 * depth)),
                1.0,
                -1,
            )
        shadow = cv2.GaussianBlur(shadow, (0, 0), 0.12 * tw) * 0.45
        scene = self.scene
        face_w, face_h = int(scene.face_scale * tw), int(scene.face_scale * th)
        for tile, x, y in rects:
            xi, yi = int(round(x)), int(round(y))
            x2, y2 = int(round(x + tw)) - 2, int(round(y + th))  # 2 px seam between neighbours
            cv2.rectangle(layer, (xi, y2), (x2, int(round(y2 + depth * 0.55))), scene.edge_bgr, -1)
            cv2.rectangle(layer, (xi, int(round(y2 + depth * 0.55))), (x2, int(round(y2 + depth))), scene.back_bgr, -1)
            cv2.rectangle(layer, (xi, yi), (x2, y2), scene.body_bgr, -1)
            cv2.rectangle(alpha, (xi, yi), (x2, int(round(y2 + depth))), 1.0, -1)
            face = ARTWORKS[scene.art](tile, face_w, face_h).astype(np.float32)
            fx, fy = xi + (x2 - xi - face_w) // 2, yi + (y2 - yi - face_h) // 2
            a = face[..., 3:4] / 255.0
            region = layer[fy : fy + face_h, fx : fx + face_w]
            region[:] = region * (1 - a) + face[..., 2::-1] * a  # RGBA -> BGR
        size = (self.width, self.height)
        layer = cv2.warpPerspective(layer, self.homography, size, flags=cv2.INTER_LINEAR)
        alpha = cv2.warpPerspective(alpha, self.homography, size, flags=cv2.INTER_LINEAR)[..., None]
        shadow = cv2.warpPerspective(shadow, self.homography, size, flags=cv2.INTER_LINEAR)[..., None]
        picture = self.background * (1 - shadow) * (1 - alpha) + layer * alpha
        kernel, sigma = scene.blur
        picture = cv2.GaussianBlur(picture * self.light, (kernel, kernel), sigma)  # optics: a touch soft
        picture.setflags(write=False)
        return picture

    def render(self, hand: Hand, frame_index: int, fps: float) -> np.ndarray:
        """The BGR uint8 frame `frame_index` showing `hand`, with its marker in the corners."""
        t = frame_index / fps
        flicker = 1.0 + self.scene.flicker * np.sin(2 * np.pi * 0.7 * t + self.flicker_phase)
        noise = self.noise[frame_index % len(self.noise)]
        frame = cv2.convertScaleAbs(self.compose(hand) * flicker + noise)
        marker.draw(frame, marker.Marker(self.seat_index, frame_index))
        return frame
