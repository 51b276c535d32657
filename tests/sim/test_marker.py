import av
import numpy as np
import pytest

from mjray.sim import marker
from mjray.sim.marker import Marker


@pytest.mark.parametrize("seat", [0, 1, 7])
@pytest.mark.parametrize("index", [0, 1, 2, 255, 65_535, 1_000_003, marker.MAX_INDEX - 1])
@pytest.mark.parametrize("shape", [(360, 640, 3), (720, 1280, 3), (1080, 1920, 3), (360, 640)])
def test_round_trip_on_raw_pixels(seat, index, shape):
    image = np.random.default_rng(index).integers(0, 256, shape, dtype=np.uint8)
    marker.draw(image, Marker(seat, index))
    reading = marker.read(image)
    assert reading.marker == Marker(seat, index)
    assert not reading.torn


@pytest.mark.parametrize("fill", [0, 255, 128])
def test_flat_picture_has_no_marker(fill):
    reading = marker.read(np.full((360, 640, 3), fill, np.uint8))
    assert reading.top is None and reading.bottom is None and reading.marker is None


def test_single_flipped_block_fails_the_crc():
    image = np.zeros((360, 640, 3), np.uint8)
    marker.draw(image, Marker(2, 12345))
    b = marker.block_size(360)
    for i in range(32):  # flip each block in turn: no single error reads as a valid marker
        flipped = image.copy()
        r, c = divmod(i, marker.COLS)
        patch = flipped[(r + 1) * b : (r + 2) * b, (c + 1) * b : (c + 2) * b]
        patch[:] = 255 - patch
        assert marker.read(flipped).top is None


def test_picture_made_of_two_frames_reads_as_torn():
    first, second = np.zeros((360, 640, 3), np.uint8), np.zeros((360, 640, 3), np.uint8)
    marker.draw(first, Marker(0, 10))
    marker.draw(second, Marker(0, 11))
    torn = np.concatenate([first[:180], second[180:]])
    reading = marker.read(torn)
    assert reading.torn and reading.marker is None
    assert (reading.top, reading.bottom) == (Marker(0, 10), Marker(0, 11))


def test_out_of_range_values_are_refused():
    with pytest.raises(ValueError, match="seat"):
        Marker(8, 0)
    with pytest.raises(ValueError, match="frame index"):
        Marker(0, marker.MAX_INDEX)


@pytest.mark.parametrize("size", [(640, 360), (1280, 720)])
def test_markers_survive_h264_at_low_bitrate(size):
    """Noisy frames through libx264 at a starved bitrate still give every marker back."""
    width, height = size
    rng = np.random.default_rng(0)
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.framerate = 15
    codec.bit_rate = 200_000
    codec.options = {"preset": "ultrafast", "x264-params": "bframes=0"}
    decoder = av.CodecContext.create("h264", "r")
    read = []
    for i in range(20):
        image = np.clip(rng.normal(110, 25, (height, width, 3)), 0, 255).astype(np.uint8)
        marker.draw(image, Marker(3, 1000 + i))
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = i
        for packet in codec.encode(frame):
            read += [marker.read(f.to_ndarray(format="bgr24")).marker for f in decoder.decode(packet)]
    for packet in codec.encode(None):
        read += [marker.read(f.to_ndarray(format="bgr24")).marker for f in decoder.decode(packet)]
    assert read == [Marker(3, 1000 + i) for i in range(20)]
