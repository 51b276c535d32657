"""The 34 mahjong tile kinds' artwork as rasters (their names: `mjray.mahjong.tiles`).

Artwork is the public-domain set shipped in `pymdownx-mahjong` (light theme), rasterized once
per size with cairosvg and kept in memory.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

import numpy as np

from mjray.mahjong.tiles import TILE_INDEX, TILES


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


def grey_face(tile: str, width: int, height: int, body_rgb: tuple[int, int, int] = (236, 228, 214)) -> np.ndarray:
    """The face as a camera sees it in grey: the artwork over an ivory tile body, HxW uint8."""
    import cv2

    rgba = face(tile, width, height).astype(np.float32)
    alpha = rgba[..., 3:4] / 255.0
    rgb = rgba[..., :3] * alpha + np.float32(body_rgb) * (1 - alpha)
    return cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2GRAY)


def write_faces(path: Path, width: int = 72, height: int = 96) -> None:
    """The faces file `mjray.mahjong.faces` reads: every tile's grey face, in mjray's tile names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, tiles=np.array(TILES), faces=np.stack([grey_face(t, width, height) for t in TILES]))
