"""Several cameras in one process (`pool.cameras_per_process`): a thread per camera, one Ray actor.

A node of a hundred cameras would run a hundred processes for work that is mostly FFmpeg's, which
decodes without holding the GIL. A host runs each of its seats' `CameraActor` as it runs alone,
decode thread and all ([`mjray.cluster.hosted`](../cluster/hosted.py)); a camera whose process dies
takes the others of its process with it, and each resumes from its own ledger.
"""

from __future__ import annotations

from typing import Any

from mjray.camera.actor import CameraActor
from mjray.cluster.hosted import Host


class CameraHost(Host):
    """The cameras of `seats` (seat -> `CameraActor`'s arguments after the seat), in this process."""

    what = "camera"

    def make(self, seat: str, args: tuple) -> Any:
        return CameraActor(seat, *args)
