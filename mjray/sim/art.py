"""A second tile artwork, drawn by code: a plain "western" set with index numerals and letters,
pips and sticks in other colours and shapes than the bundled public-domain art (`mjray.sim.tiles`).

Nothing in mjray was tuned on it: it is the held-out artwork the calibration and the hand reader
are checked on (`Scene.art = "drawn"`, the `homemade` scene). Faces are RGBA, transparent around
the marks, like `tiles.face`.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from mjray.mahjong.tiles import TILE_INDEX, TILES

# where the marks of 1..9 lie on a face, as (x, y) fractions of its width and height
LAYOUTS: dict[int, tuple[tuple[float, float], ...]] = {
    1: ((0.5, 0.5),),
    2: ((0.5, 0.27), (0.5, 0.73)),
    3: ((0.25, 0.22), (0.5, 0.5), (0.75, 0.78)),
    4: ((0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7)),
    5: ((0.27, 0.25), (0.73, 0.25), (0.5, 0.5), (0.27, 0.75), (0.73, 0.75)),
    6: ((0.3, 0.2), (0.7, 0.2), (0.3, 0.5), (0.7, 0.5), (0.3, 0.8), (0.7, 0.8)),
    7: ((0.2, 0.15), (0.5, 0.27), (0.8, 0.39), (0.3, 0.62), (0.7, 0.62), (0.3, 0.85), (0.7, 0.85)),
    8: ((0.3, 0.14), (0.7, 0.14), (0.3, 0.38), (0.7, 0.38), (0.3, 0.62), (0.7, 0.62), (0.3, 0.86), (0.7, 0.86)),
    9: tuple((x, y) for y in (0.2, 0.5, 0.8) for x in (0.2, 0.5, 0.8)),
}
NUMERAL_BGR = (120, 40, 20)  # dark blue
HONOUR_BGR = {
    "1z": (30, 30, 30),
    "2z": (30, 30, 30),
    "3z": (30, 30, 30),
    "4z": (30, 30, 30),
    "6z": (40, 140, 20),
    "7z": (30, 30, 200),
}
HONOUR_TEXT = {"1z": "E", "2z": "S", "3z": "W", "4z": "N", "6z": "F", "7z": "C"}


def _text(canvas: np.ndarray, text: str, centre: tuple[float, float], height: float, bgr, thickness: int) -> None:
    """`text` in Hershey's duplex font, about `height` pixels tall, centred on `centre`."""
    scale = height / 22.0
    (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thickness)
    org = (int(round(centre[0] - w / 2)), int(round(centre[1] + h / 2)))
    cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_DUPLEX, scale, bgr, thickness, cv2.LINE_AA)


@functools.lru_cache(maxsize=256)
def drawn_face(tile: str, width: int, height: int) -> np.ndarray:
    """The tile's face in the drawn artwork: HxWx4 RGBA uint8, transparent where nothing is drawn."""
    if tile not in TILE_INDEX:
        raise ValueError(f"unknown tile {tile!r}; expected one of {', '.join(TILES)}")
    scale = 4  # drawn large, then shrunk: smooth edges at any size
    w, h = width * scale, height * scale
    bgr = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    number, suit = int(tile[0]), tile[1]

    def mark(draw) -> None:  # draw on the picture and on the mask alike
        draw(bgr, None)
        draw(mask, 255)

    if suit == "m":
        mark(lambda c, v: _text(c, str(number), (w * 0.5, h * 0.36), h * 0.42, v or NUMERAL_BGR, 3 * scale))
        mark(lambda c, v: _text(c, "M", (w * 0.5, h * 0.77), h * 0.2, v or (40, 40, 190), 2 * scale))
    elif suit == "p":
        radius = int(min(w, h) * (0.2 if number == 1 else 0.11))
        for i, (x, y) in enumerate(LAYOUTS[number]):
            colour = ((30, 130, 30), (160, 60, 30), (30, 30, 180))[(i + number) % 3]
            centre = (int(x * w), int(y * h))
            mark(lambda c, v, centre=centre, colour=colour: cv2.circle(c, centre, radius, v or colour, -1, cv2.LINE_AA))
            mark(lambda c, v, centre=centre: cv2.circle(c, centre, radius // 2, v or (240, 240, 240), -1, cv2.LINE_AA))
    elif suit == "s":
        if number == 1:
            mark(
                lambda c, v: cv2.ellipse(
                    c, (w // 2, int(h * 0.42)), (int(w * 0.28), int(h * 0.2)), 0, 0, 360, v or (40, 110, 200), -1
                )
            )
            triangle = np.int32([[w * 0.3, h * 0.62], [w * 0.7, h * 0.62], [w * 0.5, h * 0.85]])
            mark(lambda c, v: cv2.fillPoly(c, [triangle], v or (30, 120, 30)))
        else:
            stick_w, stick_h = int(w * 0.1), int(h * (0.2 if number > 6 else 0.26))
            for i, (x, y) in enumerate(LAYOUTS[number]):
                colour = (30, 30, 170) if (number in (5, 7, 9) and i == len(LAYOUTS[number]) // 2) else (40, 120, 30)
                x1, y1 = int(x * w - stick_w / 2), int(y * h - stick_h / 2)
                mark(
                    lambda c, v, x1=x1, y1=y1, colour=colour: cv2.rectangle(
                        c, (x1, y1), (x1 + stick_w, y1 + stick_h), v or colour, -1
                    )
                )
                mark(
                    lambda c, v, x1=x1, y1=y1: cv2.line(
                        c, (x1, y1 + stick_h // 2), (x1 + stick_w, y1 + stick_h // 2), v or (230, 230, 230), scale
                    )
                )
    elif tile == "5z":  # the white dragon: a blue frame
        inset = (int(w * 0.15), int(h * 0.12))
        mark(lambda c, v: cv2.rectangle(c, inset, (w - inset[0], h - inset[1]), v or (170, 90, 30), 3 * scale))
    else:
        mark(lambda c, v: _text(c, HONOUR_TEXT[tile], (w * 0.5, h * 0.5), h * 0.5, v or HONOUR_BGR[tile], 4 * scale))
    small = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(mask, (width, height), interpolation=cv2.INTER_AREA)
    rgba = np.dstack([small[..., ::-1], alpha])
    rgba.setflags(write=False)
    return rgba
