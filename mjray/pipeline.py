"""Build the actor graph from a config and its sources, start it, drain it, stop it.

Per seat: one `reorder:<seat>` actor, one `camera:<seat>` actor (around the seat's source: live
RTSP or a replay) and, for a pool per camera,
`workers_per_camera` actors `detector:<seat>:<i>` that the camera sends frames to; or else
`shared_workers` actors `detector:shared:<i>` that take frames from every camera in turn (under
policy aligned, at the instants one `rounds` actor sets).
Detectors push results straight into their seat's reorder; the driver drains every reorder.
This is the only module that knows every stage, and the one place where plain classes become
Ray actors.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from pathlib import Path

import ray

from mjray.camera import CameraActor
from mjray.config import AppConfig, CameraConfig, ConfigError, check_resources, redact, with_credentials
from mjray.detector import DetectorActor
from mjray.frames import Item
from mjray.model import OFFLINE_ENV, ModelError
from mjray.policy import parts
from mjray.recording import Recording
from mjray.reorder import ReorderActor
from mjray.sources import ReplaySource, RtspSource, Source
from mjray.turns import RoundsActor

log = logging.getLogger(__name__)

START_DELAY_S = 0.1  # cameras start together this long after they are up: one time zero for a replay


def live_sources(cfg: AppConfig, cameras: list[CameraConfig], record_to: Path | None = None) -> dict[str, Source]:
    """An RTSP source per camera; `record_to`: a recording folder to write every stream into."""
    stream = cfg.stream
    return {c.seat: RtspSource(with_credentials(c), f"{c.seat} {redact(c.url)}", stream.open_timeout_s,
                               stream.reconnect_max_s, str(record_to / c.seat) if record_to else None)
            for c in cameras}


def replay_sources(recording: Recording, speed: float | None) -> dict[str, Source]:
    """A replay source per recorded seat, all on the recording's one time zero. A seat whose
    camera never streamed (no video) is left out, so the display does not wait for it."""
    first = recording.first_capture()
    for seat in recording.seats:
        if not recording.segments[seat]:
            log.warning("replay: seat %s has no recorded video; replaying the others", seat)
    return {seat: ReplaySource(str(recording.folder), seat, speed, first)
            for seat in recording.seats if recording.segments[seat]}


@dataclasses.dataclass
class Seat:
    source: Source
    reorder: object
    detectors: list
    camera: object | None = None


class Pipeline:
    """`sources`: seat -> where its frames come from (`live_sources`, `replay_sources`), in seat order."""

    def __init__(self, cfg: AppConfig, sources: dict[str, Source], keep_pixels: bool) -> None:
        self.cfg, self.keep_pixels = cfg, keep_pixels
        self.sources = dict(sources)
        self.started_at: float | None = None  # wall time the cameras started (a replay's time zero)
        self.seats: dict[str, Seat] = {}
        self.names: dict[int, str] = {}
        self.shared: list = []  # detectors serving every seat (pool.shared_workers), else per seat
        self.detector_stats: list[dict] = []  # each detector's last words, after stop()
        self.rounds = None  # policy aligned: the actor that sets every round's instant
        self.rounds_stats: dict | None = None  # its last words, after stop()
        self._draining: dict = {}  # outstanding drain call -> seat
        self.drain_wait_s = 0.5

    @property
    def seat_names(self) -> list[str]:
        return list(self.sources)

    @property
    def detectors(self) -> list:
        return self.shared + [d for s in self.seats.values() for d in s.detectors]

    def start(self, ready_timeout_s: float = 600.0) -> None:
        cfg, pool, stream = self.cfg, self.cfg.pool, self.cfg.stream
        check_resources(cfg, len(self.sources), ray.cluster_resources())
        reorder_cls = ray.remote(ReorderActor)
        detector_cls = ray.remote(DetectorActor)
        camera_cls = ray.remote(CameraActor)
        model = dataclasses.asdict(cfg.model)
        model["threads"] = inference_threads(cfg)
        for seat, source in self.sources.items():
            self.seats[seat] = Seat(source, reorder_cls.options(
                name=f"reorder:{seat}", num_cpus=0, max_concurrency=4,
            ).remote(seat, stream.max_wait_ms / 1000.0, stream.max_pending), [])

        policy = parts(stream.policy)
        aligned = policy.rounds
        if aligned:  # one clock for every round, before the workers that ask it
            self.rounds = ray.remote(RoundsActor).options(name="rounds", num_cpus=0, max_restarts=3).remote(
                self.seat_names, 1.0 / stream.aligned_hz if stream.aligned_hz else 0.0)

        def detector(name: str, seats: list[str], shared: bool):
            return detector_cls.options(
                name=name, num_cpus=pool.cpus_per_worker, num_gpus=pool.gpus_per_worker,
                max_restarts=3, runtime_env={"env_vars": OFFLINE_ENV},
            ).remote(name, model, seats, shared, aligned)

        if pool.shared_workers:
            seats, n = self.seat_names, pool.shared_workers
            # each worker starts its round at another seat, so the workers stay out of step
            self.shared = [detector(f"detector:shared:{i}", seats[i * len(seats) // n:] + seats[:i * len(seats) // n], True)
                           for i in range(n)]
        else:
            for seat, s in self.seats.items():
                s.detectors = [detector(f"detector:{seat}:{i}", [seat], False) for i in range(pool.workers_per_camera)]

        all_detectors = self.detectors
        log.info("loading the model in %d detector actors (%s) ...", len(all_detectors),
                 f"shared by {len(self.seats)} cameras" if self.shared else f"{pool.workers_per_camera} per camera")
        started = time.monotonic()
        pending = [d.ready.remote() for d in all_detectors]
        while pending:
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=10.0)
            try:
                ray.get(done)  # a model that fails to load raises here, with its own message
            except Exception as error:
                cause = getattr(error, "cause", error)
                if isinstance(cause, ModelError):
                    raise ConfigError(f"model.weights: {cause}") from None
                raise
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
            s.camera = camera_cls.options(
                name=f"camera:{seat}", num_cpus=pool.camera_cpus, max_concurrency=2 + len(self.shared),
            ).remote(seat, s.source, s.detectors, s.reorder, policy, pool.in_flight_per_worker, self.keep_pixels,
                     stream.buffer_s)
        ray.get([s.camera.stats.remote() for s in self.seats.values()])  # every camera process up
        self.started_at = time.time() + START_DELAY_S
        ray.get([s.camera.start.remote(self.started_at) for s in self.seats.values()])

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

    def ended(self) -> bool:
        """Has every seat's source ended (a replay at its end) and handed out every frame it
        decoded? Live cameras never end, and are not asked."""
        if not any(source.ends for source in self.sources.values()):
            return False
        states = ray.get([s.camera.stats.remote() for s in self.seats.values()])
        return bool(states) and all(state["status"] == "ended" and not state["waiting"] and not state["in_flight"]
                                    for state in states)

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
        self.detector_stats = ray.get([d.stop.remote() for d in self.detectors])
        self.rounds_stats = ray.get(self.rounds.stats.remote()) if self.rounds is not None else None
        # A detector's pushes reach the reorder in the order it sent them, so one more (empty) push
        # that has completed proves all earlier results from that detector have landed.
        ray.get([d.barrier.remote() for d in self.detectors])
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
        for actor in self.detectors + [a for s in self.seats.values() for a in (s.camera, s.reorder)] + [self.rounds]:
            if actor is not None:
                ray.kill(actor)
        self.seats.clear()
        self.shared.clear()
        self.rounds = None


def inference_threads(cfg: AppConfig) -> int:
    """`model.threads`, with 0 (auto) resolved: a shared detector owns this machine's cores (split
    among shared workers); a per-camera detector uses the CPUs it reserves."""
    if cfg.model.threads:
        return cfg.model.threads
    if cfg.pool.shared_workers:
        return max(1, (os.cpu_count() or 1) // cfg.pool.shared_workers)
    return max(1, math.ceil(cfg.pool.cpus_per_worker))
