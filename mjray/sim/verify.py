"""Read tiles back out of pictures by their faces, independently of any detector.

Used to check that ground truth matches what a camera really shows: for each true box, the
tile face that best matches the pixels inside it should be the true tile. The matching is
`mjray.mahjong.faces.FaceMatcher`'s (normalized correlation over a few pixels of shift and three face
sizes; a blank face told by a flat, bright patch), at twice the box width a run uses. It knows
nothing of how the scene was rendered beyond the faces' artwork: the bundled faces file, which
`tests/mahjong/test_faces.py` holds equal to the artwork.
"""

from __future__ import annotations

import cv2
import numpy as np

from mjray.mahjong.faces import FaceMatcher, load_faces
from mjray.mahjong.tiles import TILES

BOX_WIDTH = 48  # pixels: every tile is scaled to this box width before matching


class TileMatcher:
    """Scores and reads the tile inside a box of a BGR or grey picture."""

    def __init__(self) -> None:
        self.faces = FaceMatcher(load_faces(), dict(enumerate(TILES)), box_width=BOX_WIDTH)

    def scores(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Match score in [-1, 1] of each of the 34 tiles (`TILES` order) for the tile inside `box`."""
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return self.faces.scores(grey, np.asarray(box, np.float32))

    def read(self, image: np.ndarray, box: tuple[float, float, float, float]) -> str:
        return TILES[int(np.argmax(self.scores(image, box)))]
