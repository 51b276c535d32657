"""Calibration to a table's own tiles: the layout's rows found and named by place, a short row
named in one line, and faces that the game record reads (`python -m mjray.calibrate`)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mjray.frames import Detections
from mjray.mahjong.calibrate import LAYOUT, CalibrationError, complete, name_tiles, rows_of, tile_boxes
from mjray.mahjong.tiles import TILES
from tests.support import tile_with_face


def layout_boxes(roll_deg: float = 0.0, skip: tuple[str, ...] = (), tile_w: float = 40.0) -> dict[str, np.ndarray]:
    """The layout's tile boxes as a camera rolled by `roll_deg` would see them, less `skip`."""
    out = {}
    angle = np.deg2rad(roll_deg)
    for r, row in enumerate(LAYOUT):
        for c, tile in enumerate(row):
            if tile in skip:
                continue
            x, y = 100 + c * tile_w * 1.1, 80 + r * tile_w * 1.9
            x, y = x * np.cos(angle) - y * np.sin(angle) + 60, x * np.sin(angle) + y * np.cos(angle)
            out[tile] = np.float32([x, y, x + tile_w, y + tile_w * 1.5])
    return out


def detections(boxes, confidence: float = 0.9) -> Detections:
    xyxy = np.stack(list(boxes)) if len(boxes) else np.zeros((0, 4), np.float32)
    return Detections(
        xyxy.astype(np.float32), np.full(len(xyxy), confidence, np.float32), np.zeros(len(xyxy), np.int32)
    )


@pytest.mark.parametrize("roll_deg", [-6, -3, 0, 2, 5])
@pytest.mark.parametrize("shuffle", [0, 1, 2])
def test_the_layout_is_named_by_place_whatever_order_the_boxes_come_in(roll_deg, shuffle):
    truth = layout_boxes(roll_deg)
    order = np.random.default_rng(shuffle).permutation(len(TILES))
    boxes = np.stack([truth[TILES[i]] for i in order])
    named = name_tiles(boxes)
    assert list(named) == [t for row in LAYOUT for t in row]
    assert all(np.array_equal(named[t], truth[t]) for t in TILES)


@pytest.mark.parametrize(
    "skip, words",
    [
        (("5p",), "row 2 (1p..9p) has 8 tiles, not 9: a gap after its 4th tile: is 5p missing?"),
        (("2m",), "row 1 (1m..9m) has 8 tiles, not 9: a gap after its 1st tile: is 2m missing?"),
        (("9s",), "row 3 (1s..9s) has 8 tiles, not 9: is a tile missing, covered or out of view?"),
        (("6z",), "row 4 (east south west north white green red) has 6 tiles, not 7: a gap after its 5th tile"),
        (("3p", "7p"), "row 2 (1p..9p) has 7 tiles, not 9"),
        (tuple(LAYOUT[3]), "found 3 rows of tiles (9, 9, 9 tiles), not 4"),
    ],
)
def test_a_layout_short_of_a_tile_is_one_line_naming_its_row(skip, words):
    with pytest.raises(CalibrationError) as error:
        name_tiles(np.stack(list(layout_boxes(3, skip).values())))
    assert words in str(error.value) and "\n" not in str(error.value)


def test_a_stray_tile_in_a_row_is_named_too():
    boxes = layout_boxes()
    extra = boxes["9m"] + np.float32([44, 0, 44, 0])
    with pytest.raises(CalibrationError, match=r"row 1 \(1m..9m\) has 10 tiles, not 9"):
        name_tiles(np.stack([*boxes.values(), extra]))


def test_overlapping_and_odd_sized_boxes_are_one_tile_each_and_strays_are_dropped():
    boxes = layout_boxes()
    twin = boxes["4s"] + 1.5  # the same tile named twice by the model
    speck = np.float32([5, 5, 9, 9])  # far too small for a tile
    found = Detections(
        np.stack([*boxes.values(), twin, speck]),
        np.float32([0.9] * len(boxes) + [0.5, 0.9]),
        np.zeros(len(boxes) + 2, np.int32),
    )
    kept = tile_boxes(found)
    assert len(kept) == 34 and len(rows_of(kept)) == 4
    assert len(tile_boxes(detections(list(boxes.values()), confidence=0.01))) == 0  # below the floor


def picture_of(boxes: dict[str, np.ndarray], cloth: int = 60, body: int = 225) -> np.ndarray:
    grey = np.full((700, 700), cloth, np.uint8)
    for x1, y1, x2, y2 in boxes.values():
        grey[int(y1) : int(y2), int(x1) : int(x2)] = body
    return grey


@pytest.mark.parametrize("missed", [("5p",), ("1m",), ("9s",), ("7z",), ("2m", "6s"), ("3p", "4p")])
def test_tiles_the_model_missed_are_added_where_the_picture_shows_a_tile(missed):
    truth = layout_boxes(2)
    grey = picture_of(truth)
    seen = np.stack([b for t, b in truth.items() if t not in missed])
    named = name_tiles(seen, grey)
    assert list(named) == [t for row in LAYOUT for t in row]
    for tile in missed:
        np.testing.assert_allclose(named[tile], truth[tile], atol=3.0)


def test_a_tile_that_is_not_there_is_not_made_up_from_the_cloth():
    truth = layout_boxes(2)
    grey = picture_of({t: b for t, b in truth.items() if t != "5p"})  # 5p not laid
    seen = np.stack([b for t, b in truth.items() if t not in ("5p", "8p")])  # 8p laid, missed by the model
    with pytest.raises(CalibrationError, match=r"row 2 \(1p..9p\) has 8 tiles, not 9: a gap after its 4th tile: is 5p"):
        name_tiles(seen, grey)
    rows = complete(grey, rows_of(seen))
    assert [len(r) for r in rows] == [9, 8, 9, 7], "8p added, 5p not"


@pytest.mark.slow
@pytest.mark.parametrize(
    "scene, size, glare, seed",
    [
        ("table", "1280x720", 0.0, 0),
        ("table", "640x360", 0.0, 1),
        ("parlour", "1280x720", 0.0, 3),  # a stronger slant, dim warm light
        ("table", "1280x720", 0.5, 2),  # a lamp's glare on the tiles
        ("homemade", "1280x720", 0.0, 7),  # another artwork: the model misses tiles of it
    ],
)
def test_calibration_finds_and_names_every_tile_of_rendered_layouts(tmp_path, scene, size, glare, seed):
    from mjray.sim.layout import render_layout
    from mjray.sim.table import parse_size

    picture, truth = render_layout(*parse_size(size), scene, seed, glare=glare)
    import cv2

    from mjray.detect.model import YoloDetector
    from mjray.mahjong.calibrate import MIN_CONFIDENCE, calibrate

    found = calibrate(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), YoloDetector(conf=MIN_CONFIDENCE)(picture))
    true_boxes = {box.tile: np.float32(box.box) for box in truth}
    for tile in TILES:
        x1, y1, x2, y2 = found.boxes[tile]
        a, b, c, d = true_boxes[tile]
        inter = max(0, min(x2, c) - max(x1, a)) * max(0, min(y2, d) - max(y1, b))
        union = (x2 - x1) * (y2 - y1) + (c - a) * (d - b) - inter
        assert inter / union > 0.5, f"{tile}: found at {found.boxes[tile]}, laid at {true_boxes[tile]}"
    assert found.faces.shape == (34, 96, 72) and found.faces.dtype == np.uint8


@pytest.mark.slow
def test_the_command_writes_faces_the_game_record_reads_and_a_missing_tile_is_one_line(tmp_path):
    from mjray.mahjong.faces import FaceMatcher, load_faces
    from mjray.mahjong.plugin import PLUGIN

    layout = tmp_path / "layout.png"
    run = lambda *args: subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)  # noqa: E731
    made = run("mjray.sim", "layout", "--scene", "parlour", "--seed", "4", "--out", str(layout))
    assert made.returncode == 0, made.stderr
    out = tmp_path / "faces" / "my_tiles.npz"
    done = run("mjray.calibrate", "--image", str(layout), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "the 34 tiles found" in done.stdout and f"plugins.mahjong.faces_file={out}" in done.stdout
    assert (tmp_path / "faces" / "my_tiles.preview.png").is_file()
    faces = load_faces(out)
    PLUGIN.validate({"faces": True, "faces_file": str(out), "game": True}, "plugins.mahjong")  # as a run checks it
    names = {i: t for i, t in enumerate(TILES)}
    assert FaceMatcher(faces, names) is not None

    short = tmp_path / "short.png"
    assert run("mjray.sim", "layout", "--missing", "7s", "--seed", "4", "--out", str(short)).returncode == 0
    refused = run("mjray.calibrate", "--image", str(short), "--out", str(tmp_path / "no.npz"))
    assert refused.returncode == 2 and not (tmp_path / "no.npz").exists()
    lines = refused.stderr.strip().splitlines()
    assert lines[-1].startswith("mjray: calibrate: --image") and "row 3 (1s..9s) has 8 tiles, not 9" in lines[-1]
    assert "is 7s missing?" in lines[-1]
    nothing = run("mjray.calibrate", "--image", str(tmp_path / "nope.png"), "--out", str(out))
    assert nothing.returncode == 2 and "--image" in nothing.stderr and "no such file" in nothing.stderr


@pytest.mark.slow
@pytest.mark.parametrize("size", [(1280, 720), (640, 360)], ids=["720p", "360p"])
def test_faces_calibrated_from_one_picture_read_a_table_of_an_artwork_mjray_never_saw(size):
    """The homemade scene's artwork (drawn by code, never tuned on): the bundled faces leave the
    model's misreads; faces calibrated from one 1280x720 picture of its layout read most tiles
    right, at the table's cameras' 1280x720 and at 640x360 (tiles half as wide as in the picture)."""
    import tempfile
    from pathlib import Path

    import cv2

    from mjray.detect.model import YoloDetector
    from mjray.mahjong.calibrate import MIN_CONFIDENCE, calibrate
    from mjray.sim.layout import render_layout
    from mjray.sim.score import score_table
    from mjray.sim.table import TableSpec, render_table

    picture, _ = render_layout(1280, 720, "homemade", seed=7)
    found = calibrate(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), YoloDetector(conf=MIN_CONFIDENCE)(picture))
    table = render_table(TableSpec(width=size[0], height=size[1], scene="homemade", seconds=20.0))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "homemade.npz"
        np.savez_compressed(path, tiles=np.array(TILES), faces=found.faces)
        detector = YoloDetector()
        bundled = score_table(table, frames=24, seed=3, detector=detector)["faces"]
        calibrated = score_table(table, frames=24, seed=3, detector=detector, faces_file=str(path))["faces"]
    print(f"\nbundled faces: {bundled.text()}\ncalibrated faces: {calibrated.text()}")
    assert bundled.read / bundled.tiles < 0.3
    assert calibrated.read / calibrated.tiles > bundled.read / bundled.tiles + 0.3
    # (2026-12-07, 1280x720: 96.8 % with a label whose face matches far worse than the best
    # overruled and a row's missed tiles looked for a hand's length out; 93 % before, with the faces
    # turned upright by their rows' slant and matched leaning, 83 % upright alone, 80 % as they lay
    # in the layout. 640x360: 90.5 %, 84.8 % before the overruling and the longer reach)
    least = 0.9 if size[0] >= 1280 else 0.87
    assert calibrated.read / calibrated.tiles > least, "the faces as a hand's tiles are seen"
    assert calibrated.found > bundled.found, "the calibrated faces also fill tiles the model missed"


@pytest.mark.parametrize("roll_deg", [-6, -3, 0, 2, 5])
def test_a_rolled_tiles_face_is_kept_upright_as_a_hands_tiles_are_seen(roll_deg):
    """A layout photographed with the camera rolled: each face is turned upright by its row's
    slant (faces kept as they lay were matched to upright hands' tiles, and read worse)."""
    import cv2

    from mjray.mahjong.calibrate import face_crop, rolls
    from mjray.mahjong.faces import load_faces

    face = load_faces()[TILES.index("3s")]
    canvas = np.full((400, 400), 60, np.uint8)  # the cloth
    canvas[125:275, 146:254] = tile_with_face(face, 108, 150)  # (its face where face_crop takes it)
    angle = np.deg2rad(roll_deg)
    turned = cv2.warpAffine(canvas, cv2.getRotationMatrix2D((200, 200), -roll_deg, 1.0), (400, 400), borderValue=60)
    corners = np.array([[146, 125], [254, 125], [146, 275], [254, 275]], np.float64) - 200
    corners = corners @ np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]) + 200
    box = np.float32([*corners.min(0), *corners.max(0)])

    def alike(a: np.ndarray, b: np.ndarray) -> float:
        a, b = (x.astype(np.float32).ravel() - x.mean() for x in (a, b))
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    upright = face_crop(canvas, np.float32([146, 125, 254, 275]))
    assert alike(face_crop(turned, box, angle), upright) > 0.95
    if roll_deg:
        assert alike(face_crop(turned, box), upright) < 0.9, "kept as it lay, the face would read worse"

    boxes = layout_boxes(roll_deg)
    assert all(abs(r - angle) < 1e-4 for r in rolls(boxes).values()), "a row's slant is its tiles' roll"
