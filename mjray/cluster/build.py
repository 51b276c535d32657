"""Build the actor graph from a config and its sources: the one place where plain classes become Ray actors.

Per seat: one `reorder:<seat>` actor, one `camera:<seat>` actor (around the seat's source: live
RTSP or a replay; with `pool.cameras_per_process` > 1, seats' cameras share a `cameras:<seats>`
process, and with `pool.reorders_per_process` > 1 their reorders a `reorders:<seats>` one:
`mjray.cluster.hosted`) and, for a pool per camera, `workers_per_camera` actors
`detector:<seat>:<i>` that the camera sends frames to; or else `shared_workers` actors `detector:shared:<i>` that take
frames from every camera in turn (under policy aligned, at the instants one `rounds` actor sets).
They start in that order (reorders, detectors with their models loaded, cameras) once the
cluster is known to hold them all, and the cameras are set going together. What is built goes
into a `Graph` as it is made, so a start that fails midway leaves its actors for `Pipeline.shutdown`.
`mjray.cluster.pipeline` runs the graph.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from mjray import plugins
from mjray.camera.actor import CameraActor
from mjray.camera.host import CameraHost
from mjray.camera.pixels import Sending, hold_for
from mjray.camera.sources import Source
from mjray.cluster.clients import CAMERA, DETECTOR, REORDER, ROUNDS
from mjray.cluster.facts import facts
from mjray.cluster.health import SeatHealth
from mjray.cluster.hosted import HostedSeat, groups
from mjray.cluster.placement import Need, check_placement, nodes_from_ray, pool_for
from mjray.cluster.shipping import ShippedFile, ship
from mjray.config import AppConfig, ConfigError, PoolConfig, camera_resources, check_resources
from mjray.detect.actor import DetectorActor, DetectorReady
from mjray.detect.batch_server import BatchSettings
from mjray.detect.model import ModelError, gpu_unusable, load_model
from mjray.detect.turns import RoundsActor
from mjray.order.host import ReorderHost
from mjray.order.reorder import ReorderActor
from mjray.policy import parts

log = logging.getLogger(__name__)

CAMERAS_UP_S = 120.0  # cameras' processes all up within this, or start-up says which are pending
START_DELAY_S = 0.1  # cameras start together this long after they are up: one time zero for a replay


class StartError(RuntimeError):
    """The cluster did not start every actor in time (resources taken, a node gone)."""


@dataclasses.dataclass
class Seat:
    source: Source
    reorder: object
    detectors: list
    camera: object | None = None


@dataclasses.dataclass
class Graph:
    """The run's actors, as far as they are built, and what the build learnt of the cluster."""

    seats: dict[str, Seat] = dataclasses.field(default_factory=dict)
    shared: list = dataclasses.field(default_factory=list)  # detectors serving every seat (pool.shared_workers)
    hosts: list = dataclasses.field(default_factory=list)  # processes holding several seats' cameras or reorders
    rounds: object | None = None  # policy aligned: the actor that sets every round's instant
    names: dict[int, str] = dataclasses.field(default_factory=dict)  # the model's classes
    nodes: dict[str, dict] = dataclasses.field(default_factory=dict)  # node id -> address and resources, at start
    driver_node: str = ""  # the node id this process joined the cluster on
    weights: ShippedFile | None = None  # the model file shipped to the detectors' nodes (its bytes held for the run)
    started_at: float | None = None  # wall time the cameras started (a replay's time zero)

    @property
    def detectors(self) -> list:
        return self.shared + [d for s in self.seats.values() for d in s.detectors]

    @property
    def all_actors(self) -> list:
        """Every actor built, the detectors first: they are asked first, then what they ask and push to."""
        others = [actor for _, actor in self._named_others() if not isinstance(actor, HostedSeat)]
        return self.detectors + self.hosts + others

    def actors(self, detector_names: list[str]) -> dict[str, object]:
        """Every actor built by name; `detector_names` in the order of `detectors`."""
        return dict(zip(detector_names, self.detectors)) | dict(self._named_others())

    def _named_others(self) -> Iterator[tuple[str, object]]:
        """Each actor but the detectors, with its name."""
        for seat, s in self.seats.items():
            for kind, actor in ((CAMERA, s.camera), (REORDER, s.reorder)):
                if actor is not None:
                    yield kind.name(seat), actor
        if self.rounds is not None:
            yield ROUNDS.name(), self.rounds


def choose_pool(cfg: AppConfig, seats: int) -> tuple[PoolConfig, str]:
    """The detectors this cluster gets: `pool` as configured, or what pool=auto picks for its
    GPUs (`placement.pool_for`), with the choice in words; decided before anything is built, the
    config left as given."""
    gpus = ray.cluster_resources().get("GPU", 0.0)
    chosen, choice = pool_for(
        cfg.pool,
        seats,
        gpus,
        parts(cfg.stream.policy).shared_only,
        gpu_unusable(cfg.model.weights, cfg.model.device) if gpus else "",
    )
    if choice:
        log.info("%s", choice)
    return chosen, choice


def name_detectors(pool: PoolConfig, seats: list[str], health: SeatHealth) -> None:
    """The detectors' names, where the seats' health judges by them: those every seat shares, and each seat's own."""
    health.shared = [DETECTOR.shared(i) for i in range(pool.shared_workers)]
    health.own = {
        seat: [] if pool.shared_workers else [DETECTOR.own(seat, i) for i in range(pool.workers_per_camera)]
        for seat in seats
    }


class Builder:
    """Starts a graph of `pool`'s detectors (named in `health` by `name_detectors`) for these sources."""

    def __init__(
        self,
        cfg: AppConfig,
        sources: dict[str, Source],
        keep_pixels: bool,
        pool: PoolConfig,
        health: SeatHealth,
        graph: Graph,
    ) -> None:
        self.cfg, self.sources, self.keep_pixels, self.pool = cfg, sources, keep_pixels, pool
        self.health, self.graph = health, graph

    def needs(self) -> list[Need]:
        """What every camera and detector asks Ray for (reorders and rounds ask nothing)."""
        cfg, pool = self.cfg, self.pool
        own = {c.seat: i for i, c in enumerate(cfg.cameras) if c.resources}
        needs = [  # the cameras of a host (pool.cameras_per_process) need it all on one node
            Need(
                f"camera {group[0]}" if len(group) == 1 else f"the process of cameras {', '.join(group)}",
                (f"cameras[{own[group[0]]}].resources" if group[0] in own else "pool.camera_resources")
                + ("" if len(group) == 1 else " and pool.cameras_per_process"),
                {
                    "CPU": pool.camera_cpus * len(group),
                    **{k: v * len(group) for k, v in camera_resources(cfg, group[0]).items()},
                },
            )
            for group in self.camera_groups()
        ]
        detector = {
            "CPU": pool.cpus_per_worker,
            "GPU": pool.gpus_per_worker,
            **{k: float(v) for k, v in pool.resources.items()},
        }
        return needs + [Need(f"detector {name}", "pool.resources", detector) for name in self.health.detectors]

    def build(self, ready_timeout_s: float) -> None:
        """Check the cluster can hold the run; start the reorders, the detectors (waiting for their
        models), then the cameras; and set the cameras going together."""
        graph = self.graph
        self.check_cluster()
        model = self.model_spec()  # (a file that cannot be shipped fails here, before any actor starts)
        # reorders (drained by the driver) and the rounds clock live on the driver's node, or
        # anywhere if it cannot hold them: results then cross the network once, not twice
        graph.driver_node = ray.get_runtime_context().get_node_id()
        self.start_reorders(NodeAffinitySchedulingStrategy(graph.driver_node, soft=True))
        self.start_detectors(model)
        self.await_detectors(ready_timeout_s)
        self.start_cameras()
        self.wait_cameras_up()
        for name, where in facts(graph.actors(self.health.detectors)).items():
            log.info("actor %s: pid %d on %s (node %s)", name, where.pid, where.node_ip, where.node_id[:12])
        graph.started_at = time.time() + START_DELAY_S
        ray.get([s.camera.start.remote(graph.started_at) for s in graph.seats.values()])

    def check_cluster(self) -> None:
        """The cluster has the resources every actor asks for, on nodes that can hold them; the
        nodes as the run starts, for the summary."""
        check_resources(self.pool, len(self.sources), ray.cluster_resources())
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        self.graph.nodes = {
            n["NodeID"]: {
                "ip": n.get("NodeManagerAddress"),
                "resources": {k: v for k, v in n.get("Resources", {}).items() if not k.startswith("node:")},
            }
            for n in nodes
        }
        check_placement(self.needs(), nodes_from_ray(nodes))

    def model_spec(self) -> dict:
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
            self.graph.weights = model["shipped"]["weights"] = ship(cfg.model.weights)
        model["plugins"] = plugins.enabled(cfg.plugins)
        for (name, setting), path in plugins.files(cfg.plugins).items():
            model["shipped"][f"plugins.{name}.{setting}"] = ship(path)
        return model

    def start_reorders(self, strategy: NodeAffinitySchedulingStrategy) -> None:
        """A reorder per seat; under policy aligned, the one clock for every round (before the
        detectors that ask it)."""
        stream, restarts = self.cfg.stream, self.cfg.run.max_restarts
        args = (stream.max_wait_ms / 1000.0, stream.max_pending)
        for group in self.reorder_groups():
            if len(group) == 1:
                reorders = {
                    group[0]: REORDER.start_one(ReorderActor, group[0], args, restarts=restarts, strategy=strategy)
                }
            else:
                _, host = REORDER.start_host(
                    ReorderHost, dict.fromkeys(group, args), restarts=restarts, strategy=strategy
                )
                self.graph.hosts.append(host)
                reorders = {seat: HostedSeat(host, seat) for seat in group}
            for seat, reorder in reorders.items():
                self.graph.seats[seat] = Seat(self.sources[seat], reorder, [])
        if parts(stream.policy).rounds:
            self.graph.rounds = ROUNDS.start_one(
                RoundsActor,
                (list(self.sources), 1.0 / stream.aligned_hz if stream.aligned_hz else 0.0),
                restarts=restarts,
                strategy=strategy,
            )
            self.health.rounds = True

    def start_detectors(self, model: dict) -> None:
        """The shared detectors, each starting its round at another seat so they stay out of step;
        or each seat's own. Offline: the job's runtime env (`main.worker_env`)."""
        pool, policy = self.pool, parts(self.cfg.stream.policy)
        batch = BatchSettings(
            pool.batch_size, pool.batch_wait_ms / 1000.0, pool.batch_max_age_ms / 1000.0 or None, policy.lossless
        )

        hosts = self.hosts()

        def detector(name: str, seats: list[str], shared: bool):
            return DETECTOR.start_one(
                DetectorActor,
                name,
                (model, seats, shared, policy.rounds, load_model, batch if shared else None, hosts),
                cpus=pool.cpus_per_worker,
                gpus=pool.gpus_per_worker,
                resources={k: float(v) for k, v in pool.resources.items()},
                restarts=self.cfg.run.max_restarts,
            )

        seats, n = list(self.sources), len(self.health.shared)
        for i, name in enumerate(self.health.shared):
            self.graph.shared.append(detector(name, seats[i * len(seats) // n :] + seats[: i * len(seats) // n], True))
        for seat, s in self.graph.seats.items():
            for name in self.health.own[seat]:  # each kept as it starts: a start that fails leaves none unknown
                s.detectors.append(detector(name, [seat], False))

    def await_detectors(self, ready_timeout_s: float) -> None:
        """Every detector's model loaded, each said in a line; a model that cannot load is a bad
        `model.weights`, and detectors Ray cannot place in time are named."""
        all_detectors = self.graph.detectors
        log.info(
            "loading the model in %d detector actors (%s) ...",
            len(all_detectors),
            f"shared by {len(self.sources)} cameras"
            if self.graph.shared
            else f"{self.pool.workers_per_camera} per camera",
        )
        started = time.monotonic()
        pending = [d.ready.remote() for d in all_detectors]
        names = dict(zip(pending, self.health.detectors))
        while pending:
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=10.0)
            try:
                for said in ray.get(done):  # a model that fails to load raises here, with its own message
                    self.say_ready(said)
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
        self.graph.names = ray.get(all_detectors[0].names.remote())
        log.info("detectors ready in %.1f s; model has %d classes", time.monotonic() - started, len(self.graph.names))

    def say_ready(self, said: DetectorReady) -> None:
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

    def start_cameras(self) -> None:
        """A camera per seat. A recording is written, and a replay read, by the cameras: on the
        driver's node, where its files are."""
        cfg, stream, pool = self.cfg, self.cfg.stream, self.pool
        policy = parts(stream.policy)
        files_here = (
            NodeAffinitySchedulingStrategy(self.graph.driver_node, soft=False)
            if cfg.record or cfg.replay.path
            else None
        )
        hold_s = hold_for(policy.display_lag_s, stream.max_wait_ms / 1000) if self.keep_pixels else None

        hosts = self.hosts()

        def args(seat: str) -> tuple:
            return (
                self.graph.seats[seat].source,
                self.health.own[seat],
                policy,
                pool.in_flight_per_worker,
                hold_s,
                stream.buffer_s,
                Sending(stream.send_size, grey=cfg.model.grayscale),
                hosts,
            )

        options = dict(shared_detectors=len(self.graph.shared), restarts=cfg.run.max_restarts, strategy=files_here)
        for group in self.camera_groups():
            if len(group) == 1:
                seat = group[0]
                self.graph.seats[seat].camera = CAMERA.start_one(
                    CameraActor,
                    seat,
                    args(seat),
                    cpus=pool.camera_cpus,
                    resources=camera_resources(cfg, seat),
                    **options,
                )
                continue
            name, host = CAMERA.start_host(
                CameraHost,
                {seat: args(seat) for seat in group},
                cpus=pool.camera_cpus,
                resources=camera_resources(cfg, group[0]),
                **options,
            )
            self.graph.hosts.append(host)
            for seat in group:
                self.graph.seats[seat].camera = HostedSeat(host, seat)

    def camera_groups(self) -> list[list[str]]:
        """The seats whose cameras share a process (`pool.cameras_per_process`; one each by default)."""
        seats = list(self.sources)
        return groups(seats, self.pool.cameras_per_process, {seat: camera_resources(self.cfg, seat) for seat in seats})

    def reorder_groups(self) -> list[list[str]]:
        """The seats whose reorders share a process (`pool.reorders_per_process`; one each by default)."""
        return groups(list(self.sources), self.pool.reorders_per_process, {})

    def hosts(self) -> dict[str, str]:
        """Actor name -> the name of the host it runs in, for the seats' cameras and reorders that share one."""
        return {
            kind.name(seat): kind.host_name(g)
            for kind, made in ((CAMERA, self.camera_groups()), (REORDER, self.reorder_groups()))
            for g in made
            if len(g) > 1
            for seat in g
        }

    def wait_cameras_up(self) -> None:
        """Every camera's process up, or an error naming those Ray could not place in time."""
        pending = {s.camera.stats.remote(): seat for seat, s in self.graph.seats.items()}
        done, waiting = ray.wait(list(pending), num_returns=len(pending), timeout=CAMERAS_UP_S)
        ray.get(done)
        if waiting:
            seats = ", ".join(pending[ref] for ref in waiting)
            raise StartError(
                f"the camera actors of {seats} did not start in {CAMERAS_UP_S:.0f} s: the Ray cluster may "
                "not have the resources they ask for free (see `ray status`; pool.camera_cpus, "
                "cameras[].resources, pool.camera_resources)"
            )
