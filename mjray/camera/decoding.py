"""Where a camera's pictures are decoded: the GPU's video decoder (NVDEC, FFmpeg's `cuda` device) or the CPU.

A 720p H.264 frame costs a core 2 to 3 ms in software (`scripts/nvdec_check.py`); NVDEC decodes beside the GPU's
compute (an H100 or H200 has seven of them), which is what leaves a GPU box's cores to the rest
of a hundred cameras' work. Decoded pictures come back to the CPU (`nv12`, luma first, as the
detectors' grey input reads it), so nothing after the decoder changes.

Whether a CUDA device opens is asked once per process and cached: it does not change while the
process lives. Each camera says which decoder its first picture came from, and why not the GPU's.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

from mjray.frames import Decode

log = logging.getLogger(__name__)

PROBE_CODEC = "h264"  # NVDEC decodes H.264 on every generation; a device that opens for it opens for the rest
# what a CUDA-decoded picture comes back to the CPU as (PyAV transfers it): 8, 10 and 16 bits; software H.264 is yuv420p
NVDEC_FORMATS = {"nv12", "p010le", "p016le"}
# the device's primary context, shared by every decoder of the process: a reconnect or a replay's next
# segment does not make a CUDA context of its own
DEVICE_OPTIONS = {"primary_ctx": "1"}

_probing = threading.Lock()


class DecodeUnavailable(RuntimeError):
    """`stream.decode=cuda` where NVDEC cannot decode the stream; the message says why and what to do."""


def cuda_unavailable() -> str | None:
    """None where FFmpeg opens a CUDA device in this process, else why not, in words. Asked once per
    process (cameras of one process, e.g. a benchmark's recorders, ask at once: one probe)."""
    with _probing:
        return _probe()


@functools.cache
def _probe() -> str | None:
    import av
    from av.codec.hwaccel import HWAccel, hwdevices_available

    if "cuda" not in hwdevices_available():
        return "this node's FFmpeg was built without CUDA"
    try:
        HWAccel("cuda", options=DEVICE_OPTIONS).create(av.Codec(PROBE_CODEC, "r"))
    except Exception as error:  # av errors: no driver, no device, not permitted
        return f"no CUDA device opens here ({type(error).__name__}: {error})"
    return None


def hwaccel(choice: Decode) -> tuple[Any, str]:
    """What to open a stream with (`av.open(..., hwaccel=)`: an `HWAccel` or None) and the decoder
    in words. Under `auto` a stream NVDEC cannot decode (another codec, a profile it lacks) is
    decoded in software by FFmpeg's own fallback; under `cuda` it is not (`decoder_in_use` says so)."""
    if choice == Decode.software:
        return None, "software (stream.decode=software)"
    why = cuda_unavailable()
    if why is None:
        from av.codec.hwaccel import HWAccel

        accel = HWAccel("cuda", allow_software_fallback=choice == Decode.auto, options=DEVICE_OPTIONS)
        return accel, "NVDEC (cuda)"
    if choice == Decode.cuda:
        raise DecodeUnavailable(
            f"stream.decode=cuda: {why}; stream.decode=auto decodes in software where there is none"
        )
    return None, f"software: {why}"


def decoder_in_use(picture: Any, stream: Any, asked: str, choice: Decode) -> str:
    """The decoder a stream's first picture came from: `asked` (from `hwaccel`), or software where
    FFmpeg fell back (its picture is not in a format NVDEC hands back); under `cuda` that raises."""
    if asked.startswith("NVDEC") and picture.format.name not in NVDEC_FORMATS:
        why = f"NVDEC did not take this stream ({stream.codec_context.name}, {picture.format.name})"
        if choice == Decode.cuda:
            raise DecodeUnavailable(f"stream.decode=cuda: {why}; stream.decode=auto decodes it in software")
        return f"software: {why}"
    return asked
