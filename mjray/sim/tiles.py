"""The 34 mahjong tile kinds, their names in each vocabulary, and their artwork as rasters.

Tiles are named in the compact notation `1m`..`9m`, `1p`..`9p`, `1s`..`9s`, `1z`..`7z`
(east, south, west, north, white, green, red), ordered as the `mahjong` library's 34-array.
Artwork is the public-domain set shipped in `pymdownx-mahjong` (light theme), rasterized once
per size with cairosvg and kept in memory.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np

TILES: tuple[str, ...] = tuple(
    [f"{n}{suit}" for suit in "mps" for n in range(1, 10)] + [f"{n}z" for n in range(1, 8)]
)
TILE_INDEX = {name: i for i, name in enumerate(TILES)}

# The `mahjong-detector` model's class names for honour tiles (suits use the same notation).
_HONOUR_NAMES = {"1z": "tou", "2z": "nan", "3z": "sha", "4z": "pe", "5z": "haku", "6z": "hatsu", "7z": "chun"}
DETECTOR_NAME = {t: _HONOUR_NAMES.get(t, t) for t in TILES}
FROM_DETECTOR_NAME = {v: k for k, v in DETECTOR_NAME.items()}


def artwork_dir() -> Path:
    import pymdownx_mahjong

    path = Path(pymdownx_mahjong.__file__).parent / "assets" / "light"
    if not path.is_dir():
        raise FileNotFoundError(f"tile artwork not found at {path}: is pymdownx-mahjong installed?")
    return path


@functools.lru_cache(maxsize=256)
def face(tile: str, width: int, height: int) -> np.ndarray:
    """The tile's face artwork as an HxWx4 RGBA uint8 raster (transparent background)."""
    import cairosvg
    from PIL import Image

    if tile not in TILE_INDEX:
        raise ValueError(f"unknown tile {tile!r}; expected one of {', '.join(TILES)}")
    png = cairosvg.svg2png(url=str(artwork_dir() / f"{tile}.svg"), output_width=width, output_height=height)
    rgba = np.array(Image.open(io.BytesIO(png)).convert("RGBA"))
    rgba.setflags(write=False)
    return rgba
