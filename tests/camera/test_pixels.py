"""The pixels a camera keeps for the display, without Ray: kept, asked for, let go, expired."""

from __future__ import annotations

import io

import av
import cv2
import numpy as np
import pytest

from mjray.camera.pixels import PixelHold, Sending, hold_for, shown
from mjray.config import StreamConfig
from mjray.frames import Policy
from mjray.order.sync import for_display
from mjray.policy import parts


def test_pixels_are_kept_until_released_and_asked_for_by_seq():
    hold = PixelHold(max_age_s=30.0)
    for seq in range(5):
        hold.keep(seq, f"pixels {seq}", now=100.0)
    assert hold.get([3, 0, 9], now=101.0) == ["pixels 3", "pixels 0", None], "one never kept is None"
    assert hold.release(2) == 2 and len(hold) == 3
    assert hold.get([0, 1, 2], now=101.0) == [None, None, "pixels 2"]
    assert hold.release(1) == 0 and len(hold) == 3, "a release never takes back one made"


def test_a_frame_sent_after_its_seq_was_released_is_not_kept():
    hold = PixelHold(max_age_s=30.0)
    hold.keep(7, "pixels 7", now=0.0)
    hold.release(8)
    hold.keep(6, "pixels 6", now=0.1)  # a slower send of an older frame
    assert len(hold) == 0 and hold.get([6, 7], now=0.2) == [None, None]


def test_sends_finishing_out_of_order_are_still_released_in_seq_order():
    hold = PixelHold(max_age_s=30.0)
    for seq in (4, 2, 5, 3):
        hold.keep(seq, seq, now=0.0)
    assert hold.release(4) == 2 and hold.get([2, 3, 4, 5], now=0.0) == [None, None, 4, 5]


def test_pixels_the_driver_never_releases_go_after_max_age():
    hold = PixelHold(max_age_s=2.0)
    hold.keep(0, "old", now=0.0)
    hold.keep(1, "new", now=1.5)
    assert hold.get([0, 1], now=1.9) == ["old", "new"]
    assert hold.get([0, 1], now=2.5) == [None, "new"] and len(hold) == 1
    hold.keep(2, "newer", now=10.0)
    assert len(hold) == 1, "memory stays bounded by age with nobody asking"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_age_s"):
        PixelHold(max_age_s=0)


@pytest.mark.parametrize("policy", list(Policy))
def test_a_frame_shown_as_late_as_the_display_allows_still_has_its_pixels(policy):
    """One seat stalls after its first frame: the display shows the other's frames as far behind
    as it waits for a late seat, each after the longest wait in its reorder (a 5 fps camera: the
    sync's queue of 256 frames does not cut the wait short)."""
    lag, reorder_wait = parts(policy).display_lag_s, StreamConfig().max_wait_ms / 1000
    hold, sync = PixelHold(hold_for(lag, reorder_wait)), for_display(["ton", "nan"], 15, parts(policy))
    sync.add("nan", 0.0, -1)
    sent, shown, step = 0, 0, 1 / 5
    for tick in range(int(120 / step)):
        now = tick * step
        hold.keep(tick, f"ton {tick}", now)  # sent as captured
        while (sent + 1) * step + reorder_wait <= now:  # emitted once its reorder gave up on a lost frame
            sync.add("ton", sent * step, sent)
            sent += 1
        for moment in sync.moments(now):
            seq = moment.items["ton"]
            if seq is not None and seq >= 0:
                assert hold.get([seq], now) == [f"ton {seq}"], f"ton {seq} shown at {now:.1f} s without its pixels"
                shown += 1
    assert shown > 300, "the display showed the streaming seat"


def coloured_clip(frames: int = 6, width: int = 320, height: int = 176) -> list[av.VideoFrame]:
    """Frames of a real H.264 stream (limited-range yuv420p, as cameras send), decoded by PyAV:
    colour bars, a ramp and noise, so that every grey level and saturated colours occur."""
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for k in range(frames):
            picture = rng.integers(0, 256, (height, width, 3), np.uint8)
            picture[: height // 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
            picture[: height // 4, : width // 3] = (255 * (k % 2), 0, 255)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")))
        container.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer, format="h264") as container:
        return list(container.decode(video=0))


def test_a_grey_model_is_sent_the_pictures_luma_exactly_as_ffmpeg_makes_grey():
    for picture in coloured_clip():
        sent = Sending(grey=True)(picture)
        assert sent.shape == (picture.height, picture.width) and sent.dtype == np.uint8
        assert np.array_equal(sent, picture.to_ndarray(format="gray"))
        bgr = picture.to_ndarray(format="bgr24")
        assert np.abs(sent.astype(int) - cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)).mean() < 2, "grey as from colour"
        assert np.array_equal(shown(picture), bgr), "a picture shown is in colour, as decoded"


def test_a_full_range_picture_keeps_its_grey_levels():
    picture = coloured_clip(1)[0].reformat(format="yuvj420p")
    assert np.array_equal(Sending(grey=True)(picture), picture.to_ndarray(format="gray"))


def test_pictures_sent_scaled_keep_their_shape_and_their_look():
    picture = coloured_clip(1)[0]
    grey = Sending(160, grey=True)(picture)
    colour = Sending(160)(picture)
    assert grey.shape == (88, 160) and colour.shape == (88, 160, 3)
    expected = cv2.resize(picture.to_ndarray(format="gray"), (160, 88), interpolation=cv2.INTER_AREA)
    off = np.abs(grey.astype(int) - expected)  # scaled before its levels are stretched to 0-255: rounding
    assert off.max() <= 3 and off.mean() < 0.5
    assert np.abs(cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY).astype(int) - expected).mean() < 2
    assert Sending(640)(picture).shape == (176, 320, 3), "never scaled up"


def test_a_picture_with_no_luma_plane_is_still_sent_grey():
    picture = coloured_clip(1)[0].reformat(format="rgb24")
    assert np.array_equal(Sending(grey=True)(picture), picture.to_ndarray(format="gray"))
