"""Build the actor graph from a config and its sources, start it, drain it, stop it.

Per seat: one `reorder:<seat>` actor, one `camera:<seat>` actor (around the seat's source: live
RTSP or a replay) and, for a pool per camera,
`workers_per_camera` actors `detector:<seat>:<i>` that the camera sends frames to; or else
`shared_workers` actors `detector:shared:<i>` that take frames from every camera in turn (under
policy aligned, at the instants one `rounds` actor sets).
Detectors push results straight into their seat's reorder; the driver drains every reorder.
Their calls (hundreds a second) record no task events: Ray's control store would keep the last
100,000 of them, about 250 MB. Every actor is restarted by Ray when its process dies (`run.max_restarts` times); one that stays
dead marks its seat down (a shared detector or the rounds actor: every seat) and the others go on.
This is the only module that knows every stage, and the one place where plain classes become
Ray actors.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from mjray import plugins
from mjray.camera.actor import CameraActor
from mjray.camera.pixels import Sending, hold_for
from mjray.camera.recording import Recording
from mjray.camera.sources import ReplaySource, RtspSource, Source
from mjray.cluster import metrics, stages
from mjray.cluster.clients import CAMERA, DETECTOR, REORDER, ROUNDS
from mjray.cluster.facts import ActorFacts, facts
from mjray.cluster.health import SeatHealth
from mjray.cluster.placement import Need, check_placement, nodes_from_ray, pool_for
from mjray.cluster.raysafe import settle as settle_one
from mjray.cluster.shipping import ShippedFile, ship
from mjray.config import (
    AppConfig,
    CameraConfig,
    ConfigError,
    PoolConfig,
    camera_resources,
    check_resources,
    redact,
    with_credentials,
)
from mjray.detect.actor import DetectorActor, DetectorReady, DetectorReport
from mjray.detect.batch_server import BatchSettings
from mjray.detect.model import ModelError, auto_threads, gpu_unusable, load_model
from mjray.detect.turns import RoundsActor, RoundsReport
from mjray.frames import CameraReport, CameraStatus, Item, ReorderReport, Restarts, SeatReport
from mjray.order.reorder import ReorderActor
from mjray.policy import parts

log = logging.getLogger(__name__)

CAMERAS_UP_S = 120.0  # cameras' processes all up within this, or start-up says which are pending
STATS_TIMEOUT_S = 2.0  # a camera that does not answer its stats in this long is restarting
# a camera that does not hand over pictures in this long is restarting: its seat is not asked until it answers
PIXELS_WAIT_S = 0.5
START_DELAY_S = 0.1  # cameras start together this long after they are up: one time zero for a replay


def live_sources(cfg: AppConfig, cameras: list[CameraConfig], record_to: Path | None = None) -> dict[str, Source]:
    """An RTSP source per camera; `record_to`: a recording folder to write every stream into."""
    stream = cfg.stream
    return {
        c.seat: RtspSource(
            with_credentials(c),
            f"{c.seat} {redact(c.url)}",
            stream.open_timeout_s,
            stream.reconnect_max_s,
            str(record_to / c.seat) if record_to else None,
        )
        for c in cameras
    }


def replay_sources(recording: Recording, speed: float | None) -> dict[str, Source]:
    """A replay source per recorded seat, all on the recording's one time zero. A seat whose
    camera never streamed (no video) is left out, so the display does not wait for it."""
    first = recording.first_capture()
    for seat in recording.seats:
        if not recording.segments[seat]:
            log.warning("replay: seat %s has no recorded video; replaying the others", seat)
    return {
        seat: ReplaySource(str(recording.folder), seat, speed, first)
        for seat in recording.seats
        if recording.segments[seat]
    }


class StartError(RuntimeError):
    """The cluster did not start every actor in time (resources taken, a node gone)."""


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
        self.detector_stats: list[DetectorReport] = []  # each detector's last words, after stop()
        self.rounds = None  # policy aligned: the actor that sets every round's instant
        self.rounds_stats: RoundsReport | None = None  # its last words, after stop()
        self._draining: dict = {}  # outstanding drain call -> seat
        self._last_seq: dict[str, int] = {}  # the last seq each seat emitted: where a restarted reorder resumes
        self._camera_stats: dict[str, CameraReport] = {}  # each camera's last stats, while it cannot answer
        # which seats are down, and why; the detectors' names it judges by (`_name_detectors`)
        self.health = SeatHealth(list(self.sources), own={seat: [] for seat in self.sources})
        self._dead_cameras: set[str] = set()  # seats whose camera is dead for good: not asked
        self.facts: dict[str, ActorFacts] = {}  # actor name -> what Ray last said of it (each status, and at stop)
        self.weights: ShippedFile | None = None  # the model file, shipped to the detectors' nodes
        self.pool: PoolConfig = cfg.pool  # the detectors as run: pool=auto's choice once started (`choose_pool`)
        self.pool_choice = ""  # what pool=auto chose, in words
        self.nodes: dict[str, dict] = {}  # node id -> address and resources, at start
        self.driver_node = ""  # the node id this process joined the cluster on
        self.drain_wait_s = 0.5
        self._pictures_late: dict[str, object] = {}  # seat -> a `pixels` call its camera did not answer in time
        # the last handed out: two outputs, one call
        self._pictures: OrderedDict[tuple[str, int], object] = OrderedDict()

    @property
    def seat_names(self) -> list[str]:
        return list(self.sources)

    @property
    def detectors(self) -> list:
        return self.shared + [d for s in self.seats.values() for d in s.detectors]

    def needs(self) -> list[Need]:
        """What every camera and detector asks Ray for (reorders and rounds ask nothing)."""
        cfg, pool = self.cfg, self.pool
        own = {c.seat: i for i, c in enumerate(cfg.cameras) if c.resources}
        needs = [
            Need(
                f"camera {seat}",
                f"cameras[{own[seat]}].resources" if seat in own else "pool.camera_resources",
                {"CPU": pool.camera_cpus, **camera_resources(cfg, seat)},
            )
            for seat in self.sources
        ]
        detector = {
            "CPU": pool.cpus_per_worker,
            "GPU": pool.gpus_per_worker,
            **{k: float(v) for k, v in pool.resources.items()},
        }
        return needs + [Need(f"detector {name}", "pool.resources", detector) for name in self._detector_names()]

    def _name_detectors(self) -> None:
        """The detectors' names: those every seat shares, and each seat's own."""
        pool = self.pool
        self.health.shared = [DETECTOR.shared(i) for i in range(pool.shared_workers)]
        self.health.own = {
            seat: [] if pool.shared_workers else [DETECTOR.own(seat, i) for i in range(pool.workers_per_camera)]
            for seat in self.sources
        }

    @property
    def shared_names(self) -> list[str]:
        """The detectors every seat shares."""
        return self.health.shared

    @property
    def own_names(self) -> dict[str, list[str]]:
        """Each seat's own detectors."""
        return self.health.own

    def choose_pool(self) -> PoolConfig:
        """The detectors this cluster gets: `pool` as configured, or what pool=auto picks for its
        GPUs (`placement.pool_for`); decided before anything is built, the config left as given."""
        cfg = self.cfg
        gpus = ray.cluster_resources().get("GPU", 0.0)
        chosen, self.pool_choice = pool_for(
            cfg.pool,
            len(self.sources),
            gpus,
            parts(cfg.stream.policy).shared_only,
            gpu_unusable(cfg.model.weights, cfg.model.device) if gpus else "",
        )
        if self.pool_choice:
            log.info("%s", self.pool_choice)
        return chosen

    def start(self, ready_timeout_s: float = 600.0) -> None:
        """Check the cluster can hold the run; start the reorders, the detectors (waiting for their
        models), then the cameras; and set the cameras going together."""
        self.pool = self.choose_pool()
        self._name_detectors()
        self._check_cluster()
        model = self._model_spec()  # (a file that cannot be shipped fails here, before any actor starts)
        # reorders (drained by the driver) and the rounds clock live on the driver's node, or
        # anywhere if it cannot hold them: results then cross the network once, not twice
        self.driver_node = ray.get_runtime_context().get_node_id()
        beside_driver = NodeAffinitySchedulingStrategy(self.driver_node, soft=True)
        self._start_reorders(beside_driver)
        self._start_detectors(model)
        self._await_detectors(ready_timeout_s)
        self._start_cameras()
        self._wait_cameras_up()
        for name, where in facts(self.actors()).items():
            log.info("actor %s: pid %d on %s (node %s)", name, where.pid, where.node_ip, where.node_id[:12])
        self.started_at = time.time() + START_DELAY_S
        ray.get([s.camera.start.remote(self.started_at) for s in self.seats.values()])

    def _check_cluster(self) -> None:
        """The cluster has the resources every actor asks for, on nodes that can hold them; the
        nodes as the run starts, for the summary."""
        check_resources(self.pool, len(self.sources), ray.cluster_resources())
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.nodes = {
            n["NodeID"]: {
                "ip": n.get("NodeManagerAddress"),
                "resources": {k: v for k, v in n.get("Resources", {}).items() if not k.startswith("node:")},
            }
            for n in nodes
        }
        check_placement(self.needs(), nodes_from_ray(nodes))

    def _model_spec(self) -> dict:
        """What each detector builds its model from: `model`'s settings, how to count its threads
        on its own node, the plug-ins, and the files it needs shipped to that node."""
        cfg = self.cfg
        model = dataclasses.asdict(cfg.model)  # threads 0: each detector counts its own node's cores
        model["auto_threads"] = {
            "shared_workers": self.pool.shared_workers,
            "cpus_per_worker": self.pool.cpus_per_worker,
        }
        model["shipped"] = {}  # files read where they are, loaded where each detector is
        if cfg.model.weights and os.path.isfile(cfg.model.weights):
            self.weights = model["shipped"]["weights"] = ship(cfg.model.weights)
        model["plugins"] = plugins.enabled(cfg.plugins)
        for (name, setting), path in plugins.files(cfg.plugins).items():
            model["shipped"][f"plugins.{name}.{setting}"] = ship(path)
        return model

    def _start_reorders(self, strategy: NodeAffinitySchedulingStrategy) -> None:
        """A reorder per seat; under policy aligned, the one clock for every round (before the
        detectors that ask it)."""
        stream, restarts = self.cfg.stream, self.cfg.run.max_restarts
        for seat, source in self.sources.items():
            reorder = REORDER.start_one(
                ReorderActor,
                seat,
                (stream.max_wait_ms / 1000.0, stream.max_pending),
                restarts=restarts,
                strategy=strategy,
            )
            self.seats[seat] = Seat(source, reorder, [])
        if parts(stream.policy).rounds:
            self.rounds = ROUNDS.start_one(
                RoundsActor,
                (self.seat_names, 1.0 / stream.aligned_hz if stream.aligned_hz else 0.0),
                restarts=restarts,
                strategy=strategy,
            )
            self.health.rounds = True

    def _start_detectors(self, model: dict) -> None:
        """The shared detectors, each starting its round at another seat so they stay out of step;
        or each seat's own. Offline: the job's runtime env (`main.worker_env`)."""
        pool, policy = self.pool, parts(self.cfg.stream.policy)
        batch = BatchSettings(
            pool.batch_size, pool.batch_wait_ms / 1000.0, pool.batch_max_age_ms / 1000.0 or None, policy.lossless
        )

        def detector(name: str, seats: list[str], shared: bool):
            return DETECTOR.start_one(
                DetectorActor,
                name,
                (model, seats, shared, policy.rounds, load_model, batch if shared else None),
                cpus=pool.cpus_per_worker,
                gpus=pool.gpus_per_worker,
                resources={k: float(v) for k, v in pool.resources.items()},
                restarts=self.cfg.run.max_restarts,
            )

        seats, n = self.seat_names, len(self.shared_names)
        self.shared = [
            detector(name, seats[i * len(seats) // n :] + seats[: i * len(seats) // n], True)
            for i, name in enumerate(self.shared_names)
        ]
        for seat, s in self.seats.items():
            s.detectors = [detector(name, [seat], False) for name in self.own_names[seat]]

    def _await_detectors(self, ready_timeout_s: float) -> None:
        """Every detector's model loaded, each said in a line; a model that cannot load is a bad
        `model.weights`, and detectors Ray cannot place in time are named."""
        all_detectors = self.detectors
        log.info(
            "loading the model in %d detector actors (%s) ...",
            len(all_detectors),
            f"shared by {len(self.seats)} cameras" if self.shared else f"{self.pool.workers_per_camera} per camera",
        )
        started = time.monotonic()
        pending = [d.ready.remote() for d in all_detectors]
        names = dict(zip(pending, self._detector_names()))
        while pending:
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=10.0)
            try:
                for said in ray.get(done):  # a model that fails to load raises here, with its own message
                    self._say_ready(said)
            except Exception as error:
                cause = getattr(error, "cause", error)
                if isinstance(cause, ModelError):
                    raise ConfigError(f"model.weights: {cause}") from None
                raise
            if pending:
                waited = time.monotonic() - started
                if waited > ready_timeout_s:
                    raise StartError(
                        f"detector actors not ready after {waited:.0f} s: {', '.join(names[ref] for ref in pending)}; "
                        "the cluster may lack the free resources they ask for (see `ray status`; pool.cpus_per_worker, "
                        "pool.gpus_per_worker, pool.resources), or the model is slow to load"
                    )
                log.info(
                    "... %d of %d detectors ready (%.0f s)",
                    len(all_detectors) - len(pending),
                    len(all_detectors),
                    waited,
                )
        self.names = ray.get(all_detectors[0].names.remote())
        log.info("detectors ready in %.1f s; model has %d classes", time.monotonic() - started, len(self.names))

    def _say_ready(self, said: DetectorReady) -> None:
        """A detector's start-up lines: its model and device, its batches, a GPU it holds but cannot use."""
        pool = self.pool
        post = f", then {' and '.join(said.post)}" if said.post else ""
        log.info("%s ready: %s on %s%s", said.name, said.weights, said.device, post)
        if said.batch > 1:
            log.info(
                "%s infers up to %d frames in one batch, waiting at most %g ms for it to fill%s",
                said.name,
                said.batch,
                pool.batch_wait_ms,
                f"; {said.batch_note}" if said.batch_note else "",
            )
        if pool.gpus_per_worker and said.device == "cpu":
            log.warning(
                "%s holds %g GPU but infers on the CPU: %s",
                said.name,
                pool.gpus_per_worker,
                said.note or "torch sees no CUDA device on its node (a CPU build of torch?)",
            )

    def _start_cameras(self) -> None:
        """A camera per seat. A recording is written, and a replay read, by the cameras: on the
        driver's node, where its files are."""
        cfg, stream, pool = self.cfg, self.cfg.stream, self.pool
        policy = parts(stream.policy)
        files_here = (
            NodeAffinitySchedulingStrategy(self.driver_node, soft=False) if cfg.record or cfg.replay.path else None
        )
        hold_s = hold_for(policy.display_lag_s, stream.max_wait_ms / 1000) if self.keep_pixels else None
        for seat, s in self.seats.items():
            s.camera = CAMERA.start_one(
                CameraActor,
                seat,
                (
                    s.source,
                    self.own_names[seat],
                    policy,
                    pool.in_flight_per_worker,
                    hold_s,
                    stream.buffer_s,
                    Sending(stream.send_size, grey=cfg.model.grayscale),
                ),
                cpus=pool.camera_cpus,
                shared_detectors=len(self.shared),
                resources=camera_resources(cfg, seat),
                restarts=cfg.run.max_restarts,
                strategy=files_here,
            )

    def _wait_cameras_up(self) -> None:
        """Every camera's process up, or an error naming those Ray could not place in time."""
        pending = {s.camera.stats.remote(): seat for seat, s in self.seats.items()}
        done, waiting = ray.wait(list(pending), num_returns=len(pending), timeout=CAMERAS_UP_S)
        ray.get(done)
        if waiting:
            seats = ", ".join(pending[ref] for ref in waiting)
            raise StartError(
                f"the camera actors of {seats} did not start in {CAMERAS_UP_S:.0f} s: the Ray cluster may "
                "not have the resources they ask for free (see `ray status`; pool.camera_cpus, "
                "cameras[].resources, pool.camera_resources)"
            )

    def drain(self, wait_s: float = 0.05) -> dict[str, list[Item]]:
        """What seats emitted since their last drain, each list in sequence order.

        Keeps one waiting `drain` call per seat and returns as soon as any seat has output (or
        after `wait_s`), so output is taken when it is ready, without busy polling. Each call says
        the last seq taken, where a restarted reorder resumes.
        """
        for seat, s in self.seats.items():
            if seat not in self._draining.values() and seat not in self.health.reorder_dead:
                self._draining[s.reorder.drain.remote(self.drain_wait_s, self._last_seq.get(seat, -1))] = seat
        if not self._draining:
            time.sleep(wait_s)
            return {}
        done, _ = ray.wait(list(self._draining), num_returns=1, timeout=wait_s)
        if done:  # take every other seat that is ready too
            done, _ = ray.wait(list(self._draining), num_returns=len(self._draining), timeout=0)
        return self._take_drained(done)

    def _take_drained(self, done: list) -> dict[str, list[Item]]:
        out: dict[str, list[Item]] = {}
        for ref, got in zip(done, settle(done)):
            seat = self._draining.pop(ref)
            if isinstance(got, Exception):  # calls to a restarting reorder wait: this one is dead for good
                self._reorder_dead(seat, f"reorder died and was not restarted ({type(got).__name__})")
                continue
            if got:
                self._last_seq[seat] = got[-1].seq
            out[seat] = got
        return out

    @property
    def down(self) -> dict[str, str]:
        """Seat -> why it is down (an actor dead for good)."""
        return self.health.down

    def _seat_down(self, seat: str, why: str) -> None:
        if self.health.mark(seat, why):
            _say_down(seat, why)

    def _cameras(self, method: str, *args) -> dict[str, CameraReport]:
        """Each camera's answer to `method` (stats, stop); a camera that cannot answer (restarting,
        or dead for good: its seat down) is given its last stats with its state."""
        seats = [seat for seat, s in self.seats.items() if s.camera is not None and seat not in self._dead_cameras]
        out = {seat: self._last_report(seat, CameraStatus.DOWN) for seat in self._dead_cameras}
        calls = {seat: getattr(self.seats[seat].camera, method).remote(*args) for seat in seats}
        for seat, got in answers(calls, STATS_TIMEOUT_S if method == "stats" else None).items():
            if isinstance(got, Exception):
                known = facts({"camera": self.seats[seat].camera}).get("camera")
                if known is not None and known.dead:
                    self._dead_cameras.add(seat)
                    self._seat_down(seat, f"camera died and was not restarted ({type(got).__name__})")
                got = self._last_report(seat, CameraStatus.DOWN if seat in self.down else CameraStatus.RESTARTING)
            out[seat] = self._camera_stats[seat] = got
        return out

    def _last_report(self, seat: str, status: CameraStatus) -> CameraReport:
        """What a camera that cannot answer last said, with the state it is in now."""
        return dataclasses.replace(self._camera_stats.get(seat) or CameraReport(seat), status=status)

    def _check_actors(self) -> None:
        """Seats whose actors died for good are down (`SeatHealth`); a seat whose reorder died has
        its camera stopped, so no detector works for nothing."""
        self.facts = facts(self.actors())
        for seat in self.seats:
            for actor, times in dataclasses.asdict(self.restarts(seat)).items():
                metrics.set_gauge("mjray_actor_restarts", times, seat=seat, actor=actor)
        newly, reorders = self.health.judge({name for name, fact in self.facts.items() if fact.dead})
        for seat, why in newly.items():
            _say_down(seat, why)
        for seat in reorders:
            self._stop_camera(seat)

    def _reorder_dead(self, seat: str, why: str) -> None:
        """Nothing of this seat can be emitted any more: stop its camera."""
        if self.health.lose_reorder(seat, why):
            _say_down(seat, why)
        self._stop_camera(seat)

    def _stop_camera(self, seat: str) -> None:
        camera = self.seats[seat].camera
        if camera is not None and seat not in self._dead_cameras:
            camera.stop.remote()

    def pixels(self, items: Sequence[Item], wait_s: float = PIXELS_WAIT_S) -> list:
        """The pixels of these results, for the outputs that show them, from the cameras that keep
        them (`mjray.camera.pixels`); None for one its camera no longer has (let go, or sent before it
        restarted) or cannot hand over within `wait_s`. A camera that did not answer in time is
        not asked again until it has: a restarting camera never holds up the other seats."""
        out = [self._pictures.get((item.seat, item.seq)) for item in items]
        wanted: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            if out[i] is None:
                wanted.setdefault(item.seat, []).append(i)
        for seat, late in list(self._pictures_late.items()):
            if ray.wait([late], timeout=0)[0]:
                del self._pictures_late[seat]
        calls = {
            seat: self.seats[seat].camera.pixels.remote([items[i].seq for i in wanted[seat]])
            for seat in wanted
            if seat in self.seats
            and self.seats[seat].camera is not None
            and seat not in self._dead_cameras
            and seat not in self._pictures_late
        }
        for seat, got in answers(calls, wait_s).items():
            if isinstance(got, ray.exceptions.GetTimeoutError):
                self._pictures_late[seat] = calls[seat]
            elif isinstance(got, list):
                for i, image in zip(wanted[seat], got):
                    out[i] = image
                    if image is not None:
                        self._pictures[(seat, items[i].seq)] = image
        while len(self._pictures) > 2 * len(self.seats):
            self._pictures.popitem(last=False)
        return out

    def release(self, below: dict[str, int]) -> None:
        """Each seat's camera may let go of the pixels of its frames before these seqs."""
        for seat, seq in below.items():
            s = self.seats.get(seat)
            if s is not None and s.camera is not None and seat not in self._dead_cameras:
                s.camera.release.remote(seq)

    def ended(self) -> bool:
        """Has every seat's source ended (a replay at its end) and handed out every frame it
        decoded? Live cameras never end, and are not asked."""
        if not any(source.ends for source in self.sources.values()):
            return False
        states = [state for seat, state in self._cameras("stats").items() if seat not in self.down]
        return all(state.status == CameraStatus.ENDED and not state.waiting and not state.in_flight for state in states)

    def stats(self) -> dict[str, SeatReport]:
        self._check_actors()
        cams = self._cameras("stats")
        return self._seat_reports(cams, STATS_TIMEOUT_S)

    def _seat_reports(
        self, cams: dict[str, CameraReport], timeout_s: float | None, restarts: bool = False
    ) -> dict[str, SeatReport]:
        """Each seat's camera report with its reorder's (an empty one where it cannot answer)."""
        seats = list(self.seats)
        reorders = settle([self.seats[s].reorder.stats.remote() for s in seats], timeout_s)
        return {
            s: SeatReport(
                cams.get(s) or CameraReport(s),
                r if isinstance(r, ReorderReport) else ReorderReport(),
                self.down.get(s, ""),
                self.restarts(s) if restarts else Restarts(),
            )
            for s, r in zip(seats, reorders)
        }

    def stage_costs(self) -> dict[str, dict]:
        """CPU by stage so far, summed over the cameras and over the detectors (`mjray.cluster.stages`),
        and the frames the cameras decoded: readings to subtract, for a window's costs."""
        cams = [c for seat, c in self._cameras("stats").items() if seat not in self.down]
        detectors = [
            d
            for d in settle([d.stats.remote() for d in self.detectors], STATS_TIMEOUT_S)
            if isinstance(d, DetectorReport)
        ]
        return {
            "cameras": stages.total([c.stages for c in cams]),
            "detectors": stages.total([d.stages for d in detectors]),
            "decoded": sum(c.decoded for c in cams),
        }

    def stop(self) -> tuple[dict[str, list[Item]], dict[str, SeatReport]]:
        """Stop cameras, let frames in flight finish, flush every reorder; (last items, final stats)."""
        if not self.seats:
            return {}, {}
        finals = self._cameras("stop")
        self.detector_stats = [
            got for got in settle([d.stop.remote() for d in self.detectors]) if isinstance(got, DetectorReport)
        ]
        post = [(d.post_ms, d.inferred) for d in self.detector_stats if d.post_ms]
        if post:
            log.info(
                "post-processing (plug-ins) took %.1f ms of each frame's inference",
                sum(ms * n for ms, n in post) / max(sum(n for _, n in post), 1),
            )
        if self.rounds is not None:
            got = settle([self.rounds.stats.remote()])[0]
            self.rounds_stats = got if isinstance(got, RoundsReport) else None
        # A detector's pushes reach the reorder in the order it sent them, so one more (empty) push
        # that has completed proves all earlier results from that detector have landed.
        settle([d.barrier.remote() for d in self.detectors])
        last: dict[str, list[Item]] = {seat: [] for seat in self.seats}
        for seat, items in self._take_drained(list(self._draining)).items():  # calls still waiting
            last[seat] += items
        seats = list(self.seats)  # a seat down for its camera still has what its reorder holds
        flushes = [self.seats[s].reorder.flush.remote(self._last_seq.get(s, -1)) for s in seats]
        for seat, items in zip(seats, settle(flushes)):
            if isinstance(items, list):
                last[seat] += items
        self.facts = facts(self.actors())
        return last, self._seat_reports(finals, None, restarts=True)

    def actors(self) -> dict[str, object]:
        """Every actor of the run by name."""
        named = {
            kind.name(seat): actor
            for seat, s in self.seats.items()
            for kind, actor in ((CAMERA, s.camera), (REORDER, s.reorder))
            if actor is not None
        }
        for detector, name in zip(self.detectors, self._detector_names()):
            named[name] = detector
        if self.rounds is not None:
            named[ROUNDS.name()] = self.rounds
        return named

    def _detector_names(self) -> list[str]:
        return self.shared_names + [name for names in self.own_names.values() for name in names]

    def restarts(self, seat: str) -> Restarts:
        """How often each of this seat's actors was restarted (from the facts last taken)."""
        return self.health.restarts(seat, {name: fact.restarts for name, fact in self.facts.items()})

    def shutdown(self) -> None:
        for actor in self.detectors + [a for s in self.seats.values() for a in (s.camera, s.reorder)] + [self.rounds]:
            if actor is not None:
                ray.kill(actor)
        self.seats.clear()
        self.shared.clear()
        self.rounds = None


def _say_down(seat: str, why: str) -> None:
    log.error("seat %s is down: %s; the other seats go on", seat, why)


def inference_threads(cfg: AppConfig, cores: int | None = None, pool: PoolConfig | None = None) -> int:
    """`model.threads`, with 0 (auto) resolved for a node with `cores` cores (a detector passes its
    own node's; default this machine's): a shared detector owns the node's cores (split among
    shared workers); a per-camera detector uses the CPUs it reserves."""
    pool = pool or cfg.pool  # a started pipeline's `pool`, where pool=auto chose
    return cfg.model.threads or auto_threads(pool.shared_workers, pool.cpus_per_worker, cores or os.cpu_count() or 1)


def answers(calls: dict[str, object], timeout_s: float | None = None) -> dict[str, object]:
    """`settle`, by key."""
    return dict(zip(calls, settle(list(calls.values()), timeout_s)))


def settle(refs: list, timeout_s: float | None = None) -> list:
    """Each call's result, or the exception it raised (a dead actor must not stop the others'
    answers); a `GetTimeoutError` for one not done within `timeout_s` (a restarting actor), the
    same time for all: a slow one does not eat the others' time."""
    done = set(ray.wait(refs, num_returns=len(refs), timeout=timeout_s)[0]) if refs else set()
    late = ray.exceptions.GetTimeoutError(f"no answer in {timeout_s} s")
    return [settle_one(lambda ref=ref: ray.get(ref), ray.exceptions.RayError) if ref in done else late for ref in refs]
