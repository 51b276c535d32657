"""Read tiles back out of pictures by template matching, independently of any detector.

Used to check that ground truth matches what a camera really shows: for each true box, the
tile artwork that best matches the pixels inside it (normalized cross-correlation of grey
levels, allowing a few pixels of shift) should be the true tile. It knows nothing of how the
scene was rendered beyond the artwork itself.
"""

from __future__ import annotations

import cv2
import numpy as np

from mjray.sim import tiles

BOX_WIDTH = 48  # pixels: every tile is scaled to this box width before matching
FACE_SCALES = (0.78, 0.84, 0.90)  # face width over box width tried (perspective changes it)


class TileMatcher:
    def __init__(self) -> None:
        self._templates: dict[tuple[int, int], np.ndarray] = {}

    def _bank(self, width: int, height: int) -> np.ndarray:
        """Grey templates of all 34 faces, (34, height, width) float32, each zero-mean unit-norm."""
        key = (width, height)
        if key not in self._templates:
            bank = []
            for tile in tiles.TILES:
                bank.append(tiles.grey_face(tile, width, height).astype(np.float32))
            self._templates[key] = np.stack(bank)
        return self._templates[key]

    def scores(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """Match score in [-1, 1] of each of the 34 tiles for the tile inside `box`."""
        x1, y1, x2, y2 = box
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        scale = BOX_WIDTH / max(x2 - x1, 1.0)
        margin = 0.1 * (x2 - x1)
        top, bottom = int(max(0, y1 - margin)), int(min(grey.shape[0], y2 + margin))
        left, right = int(max(0, x1 - margin)), int(min(grey.shape[1], x2 + margin))
        window = cv2.resize(grey[top:bottom, left:right], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        window = window.astype(np.float32)
        out = np.full(len(tiles.TILES), -1.0, np.float32)
        for face_scale in FACE_SCALES:
            tw = int(round(BOX_WIDTH * face_scale))
            th = int(round(tw * 1.333))
            if window.shape[0] < th or window.shape[1] < tw:
                continue
            for i, template in enumerate(self._bank(tw, th)):
                if template.std() < 1.0:  # a blank face (white dragon): score by flatness instead
                    mean = cv2.boxFilter(window, -1, (tw, th), normalize=True, borderType=cv2.BORDER_REFLECT)
                    square = cv2.boxFilter(window * window, -1, (tw, th), normalize=True, borderType=cv2.BORDER_REFLECT)
                    inner = (slice(th // 2, window.shape[0] - th // 2), slice(tw // 2, window.shape[1] - tw // 2))
                    spread = np.sqrt(np.clip(square - mean * mean, 0, None))[inner]
                    best = 1.0 - float(spread.min()) / 25.0
                else:
                    best = float(cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED).max())
                out[i] = max(out[i], best)
        return out

    def read(self, image: np.ndarray, box: tuple[float, float, float, float]) -> str:
        return tiles.TILES[int(np.argmax(self.scores(image, box)))]
