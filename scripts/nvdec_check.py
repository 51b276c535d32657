"""Does this node decode on NVDEC, are its pictures software's, and what does each cost a frame.

    python scripts/nvdec_check.py CLIP [CLIP ...]

Prints numbers; exits 1 where NVDEC's luma differs from software's (H.264 decoding is exact, so
the detectors must see the same pixels either way). On a node without NVDEC both runs are software.
"""

from __future__ import annotations

import sys
import time

import av
import numpy as np

from mjray.camera.decoding import cuda_unavailable, decoder_in_use, hwaccel
from mjray.camera.pixels import luma
from mjray.frames import Decode


def decode(clip: str, choice: Decode) -> list[np.ndarray]:
    accel, words = hwaccel(choice)
    with av.open(clip, hwaccel=accel) as container:
        stream = container.streams.video[0]
        wall, cpu = time.perf_counter(), time.process_time()
        pictures = container.decode(stream)
        first = next(pictures, None)
        lumas = [luma(picture) for picture in ([first] if first is not None else []) + list(pictures)]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        got = decoder_in_use(first, stream, words, choice) if first is not None else "no pictures"
    frames = max(len(lumas), 1)
    print(
        f"{clip}: {got}: {len(lumas)} frames, "
        f"{wall * 1e3 / frames:.2f} ms a frame, CPU {cpu * 1e3 / frames:.2f} ms a frame"
    )
    return lumas


def main(clips: list[str]) -> int:
    print("NVDEC:", cuda_unavailable() or "a CUDA device opens")
    differ = 0
    for clip in clips:
        software, auto = decode(clip, Decode.software), decode(clip, Decode.auto)
        same = len(software) == len(auto) and all(np.array_equal(a, b) for a, b in zip(software, auto))
        print(f"{clip}: luma equal to software's: {same}")
        differ += not same
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    sys.exit(main(sys.argv[1:]))
