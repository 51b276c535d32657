"""`python -m mjray.calibrate`: a faces file of the table's own tiles, from a picture of them laid out.

Lay one tile of each kind face up in four rows in front of a seat camera: 1m..9m, 1p..9p,
1s..9s, then east south west north white green red. Then:

    python -m mjray.calibrate --image layout.jpg --out my_tiles.npz
    python -m mjray.calibrate --video layout.mp4 --out my_tiles.npz            # a few frames of a clip
    python -m mjray.calibrate --url 'rtsp://admin:${CAM_PW}@192.168.1.101/s1' --out my_tiles.npz
    python -m mjray.main plugins.mahjong.faces_file=my_tiles.npz               # the game record reads them

It writes the faces file and, beside it, a preview (`my_tiles.preview.png`: each tile's box and
name, and the faces kept) to check by eye. A layout it cannot read is one line naming the row
and what is wrong, exit status 2 (`mjray.mahjong.calibrate`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger("mjray.calibrate")


class InputError(ValueError):
    """A picture, clip or camera that cannot be read."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mjray.calibrate", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, help="a picture of the layout (PNG, JPEG, ...)")
    source.add_argument("--video", type=Path, help="a clip of the layout: a few of its frames are read")
    source.add_argument("--url", help="a camera (rtsp://...): a few frames are read from it")
    parser.add_argument("--out", type=Path, required=True, help="the faces file to write (.npz)")
    parser.add_argument("--preview", type=Path, help="the preview picture (default: OUT with .preview.png)")
    parser.add_argument("--frames", type=int, default=5, help="--video/--url: frames to read, over --seconds")
    parser.add_argument("--seconds", type=float, default=2.0, help="--video/--url: how long to read")
    parser.add_argument("--weights", help="the tile model (default: the bundled one)")
    return parser.parse_args(argv)


def read_image(path: Path) -> np.ndarray:
    picture = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if picture is None:
        raise InputError(f"--image {path}: cannot read it ({'not a picture' if path.is_file() else 'no such file'})")
    return picture


def read_frames(source: str, shown: str, frames: int, seconds: float) -> list[np.ndarray]:
    """`frames` pictures spread over the first `seconds` of a clip or a camera's stream."""
    import av

    from mjray.camera.sources import RTSP_OPTIONS, describe

    live = source.startswith("rtsp://")
    options = {**RTSP_OPTIONS, "timeout": str(int(10e6))} if live else {}
    pictures: list[tuple[float, np.ndarray]] = []
    try:
        with av.open(source, options=options, timeout=(10.0, 10.0) if live else None) as container:
            stream = container.streams.video[0]
            started = None
            rate = float(stream.average_rate or 15)
            for index, frame in enumerate(container.decode(stream)):
                # a camera's own clock; a file's timestamps (a raw .264 has none: its frame count)
                at = time.monotonic() if live else float(frame.time if frame.time is not None else index / rate)
                started = at if started is None else started
                if at - started > seconds:
                    break
                pictures.append((at - started, frame.to_ndarray(format="bgr24")))
    except Exception as error:  # PyAV raises its own errors and OSErrors for files and streams alike
        raise InputError(f"{shown}: cannot read it ({describe(error)})") from None
    if not pictures:
        raise InputError(f"{shown}: no video frames in it")
    wanted = np.linspace(0, len(pictures) - 1, min(frames, len(pictures))).round().astype(int)
    return [pictures[i][1] for i in sorted(set(wanted))]


def run(args: argparse.Namespace) -> int:
    from mjray.config import redact
    from mjray.detect.model import load_model
    from mjray.frames import Detections
    from mjray.mahjong.calibrate import MIN_CONFIDENCE, CalibrationError, alike, calibrate, combine, preview
    from mjray.mahjong.faces import FaceMatcher, load_faces
    from mjray.mahjong.tiles import TILES

    if args.frames < 1 or args.seconds <= 0:
        raise InputError("--frames must be at least 1 and --seconds more than 0")
    if args.image:
        shown, pictures = f"--image {args.image}", [read_image(args.image)]
    elif args.video:
        shown = f"--video {args.video}"
        pictures = read_frames(str(args.video), shown, args.frames, args.seconds)
    else:
        shown = f"--url {redact(os.path.expandvars(args.url))}"
        pictures = read_frames(os.path.expandvars(args.url), shown, args.frames, args.seconds)
    detector = load_model(weights=args.weights, conf=MIN_CONFIDENCE)
    if FaceMatcher.for_model(detector.names) is None:
        raise InputError(f"--weights {args.weights or detector.weights}: its classes are not the 34 tiles")
    found, errors = [], []
    for picture in pictures:
        detections: Detections = detector(picture)
        try:
            found.append((picture, calibrate(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), detections)))
        except CalibrationError as error:
            errors.append(str(error))
    if not found:
        raise CalibrationError(
            f"{shown}: {errors[0]}" + (f" (and in {len(errors) - 1} more frames)" if len(errors) > 1 else "")
        )
    faces = combine([c for _, c in found])
    out = args.out if args.out.suffix == ".npz" else args.out.with_name(args.out.name + ".npz")  # as numpy names it
    preview_path = args.preview or out.with_suffix(".preview.png")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, tiles=np.array(TILES), faces=faces)
    except OSError as error:
        raise InputError(f"--out {out}: cannot write it ({error.strerror or error})") from None
    load_faces(out)  # what plugins.mahjong.faces_file will read: checked now
    if not cv2.imwrite(str(preview_path), preview(found[-1][0], found[-1][1], faces)):
        raise InputError(
            f"--preview {preview_path}: cannot write a picture there (a .png or .jpg in a folder that exists)"
        )
    print(
        f"calibrate: the 34 tiles found in {len(found)} of {len(pictures)} frames of {shown}; wrote {out} "
        f"({len(TILES)} faces, {faces.shape[2]}x{faces.shape[1]}) and {preview_path}"
    )
    for a, b, score in alike(faces)[:5]:
        print(f"calibrate: {a} and {b} look much alike ({score:.2f}): check them in the preview")
    print(f"calibrate: use it with  python -m mjray.main plugins.mahjong.faces_file={out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from mjray.detect.model import ModelError
    from mjray.mahjong.calibrate import CalibrationError
    from mjray.mahjong.faces import FacesError

    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        return run(parse_args(argv))
    except (InputError, CalibrationError, FacesError, ModelError, FileNotFoundError) as error:
        print(f"mjray: calibrate: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
