"""Build the actor graph from a config, start it, drain it, stop it.

Per seat: one `reorder:<seat>` actor, `workers_per_camera` actors `detector:<seat>:<i>`, one
`camera:<seat>` actor. Cameras send frames to their own pool; detectors push results straight
into their seat's reorder; the driver drains every reorder. This is the only module that knows
every stage, and the one place where plain classes become Ray actors.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import ray

from mjray.camera import CameraActor
from mjray.config import AppConfig, CameraConfig, check_resources, redact, with_credentials
from mjray.detector import DetectorActor
from mjray.frames import Item
from mjray.reorder import ReorderActor

log = logging.getLogger(__name__)

WORKER_ENV = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "False", "YOLO_VERBOSE": "False"}


@dataclasses.dataclass
class Seat:
    camera_config: CameraConfig
    reorder: object
    detectors: list
    camera: object | None = None


class Pipeline:
    def __init__(self, cfg: AppConfig, cameras: list[CameraConfig], keep_pixels: bool) -> None:
        self.cfg, self.keep_pixels = cfg, keep_pixels
        self.cameras = cameras
        self.seats: dict[str, Seat] = {}
        self.names: dict[int, str] = {}
        self._draining: dict = {}  # outstanding drain call -> seat
        self.drain_wait_s = 0.5

    @property
    def seat_names(self) -> list[str]:
        return [c.seat for c in self.cameras]

    def start(self, ready_timeout_s: float = 600.0) -> None:
        cfg, pool, stream = self.cfg, self.cfg.pool, self.cfg.stream
        check_resources(cfg, len(self.cameras), ray.cluster_resources())
        reorder_cls = ray.remote(ReorderActor)
        detector_cls = ray.remote(DetectorActor)
        camera_cls = ray.remote(CameraActor)
        model = dataclasses.asdict(cfg.model)
        for camera in self.cameras:
            seat = camera.seat
            reorder = reorder_cls.options(name=f"reorder:{seat}", num_cpus=0, max_concurrency=4).remote(
                seat, stream.max_wait_ms / 1000.0, stream.max_pending)
            detectors = [
                detector_cls.options(
                    name=f"detector:{seat}:{i}", num_cpus=pool.cpus_per_worker, num_gpus=pool.gpus_per_worker,
                    max_restarts=3, runtime_env={"env_vars": WORKER_ENV},
                ).remote(f"detector:{seat}:{i}", model, f"reorder:{seat}")
                for i in range(pool.workers_per_camera)
            ]
            self.seats[seat] = Seat(camera, reorder, detectors)

        all_detectors = [d for s in self.seats.values() for d in s.detectors]
        log.info("loading the model in %d detector actors (%d per camera) ...", len(all_detectors), pool.workers_per_camera)
        started = time.monotonic()
        pending = [d.ready.remote() for d in all_detectors]
        while pending:
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=10.0)
            ray.get(done)  # a model that fails to load raises here, with its own message
            if pending:
                waited = time.monotonic() - started
                if waited > ready_timeout_s:
                    raise RuntimeError(
                        f"{len(pending)} detector actors not ready after {waited:.0f} s: the cluster may lack the "
                        "resources they ask for (see `ray status`), or the model is slow to load")
                log.info("... %d of %d detectors ready (%.0f s)", len(all_detectors) - len(pending), len(all_detectors), waited)
        self.names = ray.get(all_detectors[0].names.remote())
        log.info("detectors ready in %.1f s; model has %d classes", time.monotonic() - started, len(self.names))

        for seat, s in self.seats.items():
            c = s.camera_config
            s.camera = camera_cls.options(
                name=f"camera:{seat}", num_cpus=pool.camera_cpus, max_concurrency=2,
            ).remote(seat, with_credentials(c), redact(c.url), s.detectors, s.reorder, stream.policy,
                     pool.in_flight_per_worker, stream.open_timeout_s, stream.reconnect_max_s, self.keep_pixels)
        ray.get([s.camera.start.remote() for s in self.seats.values()])

    def drain(self, wait_s: float = 0.05) -> dict[str, list[Item]]:
        """What seats emitted since their last drain, each list in sequence order.

        Keeps one waiting `drain` call per seat and returns as soon as any seat has output (or
        after `wait_s`), so output is taken when it is ready, without busy polling.
        """
        for seat, s in self.seats.items():
            if seat not in self._draining.values():
                self._draining[s.reorder.drain.remote(self.drain_wait_s)] = seat
        done, _ = ray.wait(list(self._draining), num_returns=1, timeout=wait_s)
        if done:  # take every other seat that is ready too
            done, _ = ray.wait(list(self._draining), num_returns=len(self._draining), timeout=0)
        return {self._draining.pop(ref): items for ref, items in zip(done, ray.get(done))}

    def stats(self) -> dict[str, dict]:
        seats = list(self.seats)
        cams = ray.get([self.seats[s].camera.stats.remote() for s in seats])
        reorders = ray.get([self.seats[s].reorder.stats.remote() for s in seats])
        return {s: {"camera": c, "reorder": r} for s, c, r in zip(seats, cams, reorders)}

    def stop(self) -> tuple[dict[str, list[Item]], dict[str, dict]]:
        """Stop cameras, let frames in flight finish, flush every reorder; (last items, final stats)."""
        if not self.seats:
            return {}, {}
        finals = ray.get([s.camera.stop.remote() for s in self.seats.values() if s.camera is not None])
        # A detector's pushes reach the reorder in the order it sent them, so one more (empty) push
        # that has completed proves all earlier results from that detector have landed.
        ray.get([d.barrier.remote() for s in self.seats.values() for d in s.detectors])
        last: dict[str, list[Item]] = {seat: [] for seat in self.seats}
        for ref, items in zip(list(self._draining), ray.get(list(self._draining))):  # calls still waiting
            last[self._draining.pop(ref)] += items
        seats = list(self.seats)
        for seat, items in zip(seats, ray.get([self.seats[s].reorder.flush.remote() for s in seats])):
            last[seat] += items
        reorders = ray.get([self.seats[s].reorder.stats.remote() for s in seats])
        stats = {s: {"camera": c, "reorder": r} for s, c, r in zip(seats, finals, reorders)}
        return last, stats

    def shutdown(self) -> None:
        for s in self.seats.values():
            for actor in [s.camera, s.reorder, *s.detectors]:
                if actor is not None:
                    ray.kill(actor)
        self.seats.clear()
