"""One owner per actor kind: its name, how Ray starts it, and how another actor finds it.

Actors find each other by name rather than by handles passed to their constructors: a handle
among the constructor's arguments keeps Ray from restarting the actor after a crash
(ray-project/ray#53727). So names are a protocol between processes, spelled here alone (as Ray's
`util/queue.py` owns its `_QueueActor`); the pipeline says what each start needs, these say how.
Names show in Ray's dashboard and the run log: `camera:<seat>`, `reorder:<seat>`,
`detector:shared:<i>` or `detector:<seat>:<i>`, `rounds`; `cameras:<seat>+<seat>...` and
`reorders:<seat>+<seat>...` for the cameras or reorders of several seats in one process
(`pool.cameras_per_process`, `pool.reorders_per_process`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

# What a reorder or the rounds clock reserves: Ray places an actor that asks for nothing on a random
# node whatever its node affinity says (ray-project/ray#25360 fixed hard affinity only).
SMALL_ACTOR_MEMORY = 32 * 2**20


@dataclass(frozen=True)
class ActorKind:
    kind: str

    def name(self, *parts: object) -> str:
        return ":".join((self.kind, *map(str, parts)))

    def owns(self, name: str) -> bool:
        return name == self.kind or name.startswith(self.kind + ":")

    def lookup(self, *parts: object) -> Any:
        """The running actor's handle; ValueError while none of that name is up."""
        import ray

        return ray.get_actor(self.name(*parts))

    def start(self, cls: type, name: str, args: tuple, **options: Any) -> Any:
        return remote(cls).options(name=name, enable_task_events=False, **options).remote(*args)

    def of(self, seat: str, hosts: dict[str, str]) -> Any:
        """The seat's actor, called as an actor's handle: its own, or its seat of the host that
        `hosts` (actor name -> host name) names; ValueError while it is not up."""
        name = self.name(seat)
        if name not in hosts:
            return self.lookup(seat)
        import ray

        from mjray.cluster.hosted import HostedSeat

        return HostedSeat(ray.get_actor(hosts[name]), seat)

    def host_name(self, seats: list[str]) -> str:
        """A host's name: `cameras:ton+nan`, `reorders:ton+nan+sha+pei`."""
        return f"{self.kind}s:" + "+".join(seats)


@cache
def remote(cls: type) -> Any:
    """The class as a Ray actor class, made once: each is exported to the cluster when first used."""
    import ray

    return ray.remote(cls)


class Cameras(ActorKind):
    def start_host(
        self,
        cls: type,
        seats: dict[str, tuple],
        *,
        cpus: float,
        shared_detectors: int,
        resources: dict[str, float],
        restarts: int,
        strategy: Any,
    ) -> tuple[str, Any]:
        """(name, handle) of a host of these seats' cameras, asking for what they would alone, together."""
        n = len(seats)
        name = self.host_name(list(seats))
        return name, self.start(
            cls,
            name,
            (name, seats),
            num_cpus=cpus * n,
            max_concurrency=(3 + shared_detectors) * n,
            resources={k: v * n for k, v in resources.items()} or None,
            max_restarts=restarts,
            scheduling_strategy=strategy,
        )

    def start_one(
        self,
        cls: type,
        seat: str,
        args: tuple,
        *,
        cpus: float,
        shared_detectors: int,
        resources: dict[str, float],
        restarts: int,
        strategy: Any,
    ) -> Any:
        # threads: stop, stats and the driver's pixels/release at once, and each shared detector's take
        return self.start(
            cls,
            self.name(seat),
            (seat, *args),
            num_cpus=cpus,
            max_concurrency=3 + shared_detectors,
            resources=resources or None,
            max_restarts=restarts,
            scheduling_strategy=strategy,
        )


class Reorders(ActorKind):
    def start_one(self, cls: type, seat: str, args: tuple, *, restarts: int, strategy: Any) -> Any:
        return self._start(cls, self.name(seat), (seat, *args), 1, restarts, strategy)

    def start_host(self, cls: type, seats: dict[str, tuple], *, restarts: int, strategy: Any) -> tuple[str, Any]:
        """(name, handle) of a host of these seats' reorders."""
        name = self.host_name(list(seats))
        return name, self._start(cls, name, (name, seats), len(seats), restarts, strategy)

    def _start(self, cls: type, name: str, args: tuple, seats: int, restarts: int, strategy: Any) -> Any:
        # threads a seat: the driver's drain, its detector's and its camera's pushes, a lease or
        # stats; calls to a restarting reorder wait for it (max_task_retries=-1) and land
        return self.start(
            cls,
            name,
            args,
            num_cpus=0,
            max_concurrency=4 * seats,
            max_restarts=restarts,
            max_task_retries=-1,
            scheduling_strategy=strategy,
            memory=SMALL_ACTOR_MEMORY * seats,
        )


class Detectors(ActorKind):
    def named(self, name: str) -> Any:
        """A running detector's handle by the full name `shared` or `own` gave it."""
        if not self.owns(name):
            raise ValueError(f"{name!r} is no detector's name")
        import ray

        return ray.get_actor(name)

    def shared(self, i: int) -> str:
        return self.name("shared", i)

    def own(self, seat: str, i: int) -> str:
        return self.name(seat, i)

    def start_one(
        self, cls: type, name: str, args: tuple, *, cpus: float, gpus: float, resources: dict[str, float], restarts: int
    ) -> Any:
        return self.start(
            cls, name, (name, *args), num_cpus=cpus, num_gpus=gpus, resources=resources or None, max_restarts=restarts
        )


class Rounds(ActorKind):
    def start_one(self, cls: type, args: tuple, *, restarts: int, strategy: Any) -> Any:
        return self.start(
            cls,
            self.name(),
            args,
            num_cpus=0,
            max_restarts=restarts,
            max_task_retries=-1,
            scheduling_strategy=strategy,
            memory=SMALL_ACTOR_MEMORY,
        )


CAMERA = Cameras("camera")
REORDER = Reorders("reorder")
DETECTOR = Detectors("detector")
ROUNDS = Rounds("rounds")
