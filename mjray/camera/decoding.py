"""Where a camera's pictures are decoded: the GPU's video decoder (NVDEC, FFmpeg's `cuda` device) or the CPU.

A 720p H.264 frame costs a core about a millisecond in software; NVDEC decodes beside the GPU's
compute (an H100 or H200 has seven of them), which is what leaves a GPU box's cores to the rest
of a hundred cameras' work. Decoded pictures come back to the CPU (`nv12`, luma first, as the
detectors' grey input reads it), so nothing after the decoder changes.

Whether a CUDA device opens is asked once per process and cached: it does not change while the
process lives. Each camera says which decoder it got, and why not the GPU's.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from mjray.frames import Decode

log = logging.getLogger(__name__)

PROBE_CODEC = "h264"  # NVDEC decodes H.264 on every generation; a device that opens for it opens for the rest


class DecodeUnavailable(RuntimeError):
    """`stream.decode=cuda` on a node whose FFmpeg cannot open a CUDA device; the message says why and what to do."""


@functools.cache
def cuda_unavailable() -> str | None:
    """None where FFmpeg opens a CUDA device in this process, else why not, in words."""
    import av
    from av.codec.hwaccel import HWAccel, hwdevices_available

    if "cuda" not in hwdevices_available():
        return "this node's FFmpeg was built without CUDA"
    try:
        HWAccel("cuda").create(av.Codec(PROBE_CODEC, "r"))
    except Exception as error:  # av errors: no driver, no device, not permitted
        return f"no CUDA device opens here ({type(error).__name__}: {error})"
    return None


def hwaccel(choice: Decode) -> tuple[Any, str]:
    """What to open a stream with (`av.open(..., hwaccel=)`: an `HWAccel` or None) and the decoder
    in words. A codec NVDEC lacks is still decoded, in software, by FFmpeg's own fallback."""
    if choice == Decode.software:
        return None, "software (stream.decode=software)"
    why = cuda_unavailable()
    if why is None:
        from av.codec.hwaccel import HWAccel

        return HWAccel("cuda", allow_software_fallback=True), "NVDEC (cuda)"
    if choice == Decode.cuda:
        raise DecodeUnavailable(
            f"stream.decode=cuda: {why}; stream.decode=auto decodes in software where there is none"
        )
    return None, f"software: {why}"


def decoder_in_use(stream: Any, asked: str) -> str:
    """The decoder an opened stream got: `asked` (from `hwaccel`), or software where FFmpeg fell back."""
    if asked.startswith("NVDEC") and not stream.codec_context.is_hwaccel:
        return f"software: NVDEC does not decode {stream.codec_context.name}"
    return asked
