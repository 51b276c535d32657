"""Which decoder a camera gets: the GPU's (NVDEC) where this node's FFmpeg opens a CUDA device, else
software, said per camera; asked for NVDEC where there is none, a line that names the setting."""

from __future__ import annotations

import logging
import threading

import av
import numpy as np
import pytest

from mjray.camera.decoding import DecodeUnavailable, cuda_unavailable, decoder_in_use, hwaccel
from mjray.camera.sources import ReplaySource, SourceState
from mjray.frames import Decode


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Two seconds of H.264 at 320x240, a moving gradient (pixels that differ frame to frame)."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        ramp = np.add.outer(np.arange(240), np.arange(320)).astype(np.uint8)
        for n in range(30):
            picture = np.dstack([ramp + 4 * n, ramp, 255 - ramp]).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def test_software_is_chosen_without_asking_for_a_gpu():
    assert hwaccel(Decode.software) == (None, "software (stream.decode=software)")


def test_auto_takes_nvdec_where_a_cuda_device_opens_and_says_why_not_where_none_does():
    why = cuda_unavailable()
    accel, words = hwaccel(Decode.auto)
    if why is None:  # a GPU node
        assert accel is not None and words == "NVDEC (cuda)"
        assert hwaccel(Decode.cuda)[1] == "NVDEC (cuda)"
    else:
        assert accel is None and words == f"software: {why}" and why
        with pytest.raises(DecodeUnavailable) as raised:
            hwaccel(Decode.cuda)
        assert "stream.decode=cuda" in str(raised.value) and "stream.decode=auto" in str(raised.value)
        assert why in str(raised.value)


def test_a_stream_the_gpu_did_not_take_is_named_software_and_under_cuda_ends(clip):
    """Told by the first picture: NVDEC hands back nv12 (or 10-, 16-bit), software H.264 yuv420p."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        picture = next(container.decode(stream))
        assert picture.format.name == "yuv420p"
        assert decoder_in_use(picture, stream, "NVDEC (cuda)", Decode.auto) == (
            "software: NVDEC did not take this stream (h264, yuv420p)"
        )
        assert decoder_in_use(picture, stream, "software: no GPU", Decode.auto) == "software: no GPU"
        with pytest.raises(DecodeUnavailable, match=r"stream.decode=cuda: NVDEC did not take this stream"):
            decoder_in_use(picture, stream, "NVDEC (cuda)", Decode.cuda)
        nv12 = picture.reformat(format="nv12")
        assert decoder_in_use(nv12, stream, "NVDEC (cuda)", Decode.cuda) == "NVDEC (cuda)"


def test_a_camera_says_its_decoder_once_and_again_only_when_it_changes(clip, caplog):
    state = SourceState()
    caplog.set_level(logging.INFO, logger="mjray.camera.sources")
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        picture = next(container.decode(stream))
        for _ in range(3):  # reconnects to the same stream
            state.decoding("ton", picture, stream, "software (stream.decode=software)", Decode.software)
        state.decoding("ton", picture, stream, "NVDEC (cuda)", Decode.auto)
    said = [r.getMessage() for r in caplog.records if "decoding" in r.getMessage()]
    assert said == [
        "camera ton: decoding: software (stream.decode=software)",
        "camera ton: decoding: software: NVDEC did not take this stream (h264, yuv420p)",
    ]
    assert state.decoder == "software: NVDEC did not take this stream (h264, yuv420p)"


def test_nvdec_asked_for_where_there_is_none_ends_the_seat_before_a_frame(tmp_path):
    if cuda_unavailable() is None:
        pytest.skip("this node decodes on NVDEC: tests/test_replay.py compares its pictures with software's")
    source = ReplaySource(str(tmp_path), "ton", decode=Decode.cuda)
    with pytest.raises(DecodeUnavailable, match="stream.decode=cuda"):
        next(source.frames(threading.Event(), SourceState(), 0.0))


def test_the_gpu_runs_nvdec_check_compares_the_two_decoders_luma(clip):
    """scripts/nvdec_check.py, which scripts/gpu-run.sh runs on a lent GPU, works here too: both runs in software."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}  # this checkout's mjray, as scripts/gpu-run.sh sets it
    script = root / "scripts" / "nvdec_check.py"
    done = subprocess.run([sys.executable, str(script), str(clip)], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{clip}: luma equal to software's: True" in done.stdout
    assert done.stdout.count(": 30 frames,") == 2, done.stdout
