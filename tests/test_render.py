import numpy as np
import pytest

from mjray.sim import marker
from mjray.sim.game import Hand, TableGame
from mjray.sim.render import SeatView
from mjray.sim.verify import TileMatcher

SEATS = ("ton", "nan", "sha", "pei")
HAND = Hand(("1m", "9m", "2p", "6p", "9p", "1s", "5s", "8s", "1z", "2z", "5z", "6z", "7z"), drawn="4p")


@pytest.mark.parametrize("size", [(640, 360), (1280, 720)])
@pytest.mark.parametrize("seat_index", range(4))
def test_boxes_lie_in_the_frame_left_to_right(size, seat_index):
    view = SeatView(seat_index, *size, seed=0)
    boxes = view.boxes(HAND)
    assert [b.tile for b in boxes] == list(HAND.tiles)
    for b in boxes:
        x1, y1, x2, y2 = b.box
        assert 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]
        assert (x2 - x1) > size[0] / 25, "tiles are big enough to read"
    centres = [(b.box[0] + b.box[2]) / 2 for b in boxes]
    assert centres == sorted(centres)


def test_frames_carry_their_marker_and_seats_see_different_pictures():
    views = [SeatView(i, 640, 360, seed=0) for i in range(4)]
    pictures = [v.render(HAND, 41, fps=15) for v in views]
    for i, picture in enumerate(pictures):
        assert picture.shape == (360, 640, 3) and picture.dtype == np.uint8
        assert marker.read(picture).marker == marker.Marker(i, 41)
    assert not np.array_equal(views[0].homography, views[1].homography)
    assert np.abs(pictures[0].astype(int) - pictures[1].astype(int)).mean() > 5


def test_consecutive_frames_differ_by_noise_only():
    view = SeatView(0, 640, 360, seed=0)
    a, b = view.render(HAND, 100, 15).astype(int), view.render(HAND, 101, 15).astype(int)
    h = marker.marker_shape(360)[0]
    diff = np.abs(a - b)[h:-h]
    assert 0.5 < diff.mean() < 12  # sensor noise and flicker, not a different scene


@pytest.mark.parametrize("size", [(640, 360), (1280, 720)])
def test_truth_matches_the_pixels_of_rendered_hands(size):
    """Template matching on the rendered pixels reads back the true tile in every true box."""
    game = TableGame(SEATS, 60, seed=0)
    matcher = TileMatcher()
    wrong = []
    for i, seat in enumerate(SEATS):
        view = SeatView(i, *size, seed=0)
        for t in (1.0, 9.1, 33.3):
            hand = game.hand(seat, t)
            picture = view.render(hand, int(t * 15), 15)
            wrong += [(b.tile, matcher.read(picture, b.box)) for b in view.boxes(hand)
                      if matcher.read(picture, b.box) != b.tile]
    assert wrong == []


def test_matcher_can_tell_a_wrong_truth():
    view = SeatView(0, 640, 360, seed=0)
    picture = view.render(HAND, 0, 15)
    shifted = view.boxes(Hand(HAND.concealed[1:] + ("3s",)))  # every box one tile off
    matcher = TileMatcher()
    agree = sum(matcher.read(picture, b.box) == b.tile for b in shifted)
    assert agree <= 2


def test_too_small_a_frame_is_refused():
    with pytest.raises(ValueError, match="too small"):
        SeatView(0, 160, 90)
