"""Where the actors may run: the pool chosen for the hardware, and a start-up check that every
actor's Ray resources exist together on some node of the cluster.

Ray leaves an actor whose resources no node has pending forever; mjray says so at start-up, in
one line naming the camera (or detector) and the resource. Pure: the cluster comes in as its
nodes' resources (`nodes_from_ray(ray.nodes())`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from mjray.config import ConfigError, PoolConfig

GPU_STEP = 1e-4  # Ray's resolution for fractions of a resource


@dataclass(frozen=True)
class Node:
    ip: str
    resources: dict[str, float]


@dataclass(frozen=True)
class Need:
    """What one actor asks Ray for, and the setting that asked."""

    who: str  # "camera ton", "detector detector:shared:0"
    setting: str  # "cameras[1].resources", "pool.camera_resources", "pool.resources"
    resources: dict[str, float]  # CPU and GPU included


UNASKED = ("memory", "object_store_memory", "node:__internal_head__")  # resources no setting may name


def nodes_from_ray(raw: list[dict]) -> list[Node]:
    """The alive nodes of `ray.nodes()`, less the resources no setting may name (memory). Only the
    nodes alive now: an autoscaler's future nodes are not seen (docs/cluster.md)."""
    return [
        Node(
            n.get("NodeManagerAddress", "?"),
            {k: float(v) for k, v in n.get("Resources", {}).items() if not k.startswith(UNASKED)},
        )
        for n in raw
        if n.get("Alive")
    ]


def pool_for(
    pool: PoolConfig, cameras: int, gpus: float, shared_only: bool, gpu_unusable: str = ""
) -> tuple[PoolConfig, str]:
    """`pool.auto` resolved for a cluster with `gpus` GPUs: (the pool to run, what was chosen, in words).

    With GPUs the model can use (`gpu_unusable` says why not), the design's pool per camera
    (`workers_per_camera` each; a shared-only policy keeps its shared workers), each detector a
    fraction of a GPU that packs whole into the GPUs (Ray places a fraction within one GPU: 3 at
    0.375 leave a GPU's last quarter unused, 3 at 0.3333 fit); otherwise the settings as they
    are (pool=cpu's)."""
    if not pool.auto:
        return pool, ""
    why = "no GPU in the Ray cluster" if gpus <= 0 else gpu_unusable
    if why:
        return dataclasses.replace(pool, auto=False), (
            f"pool=auto: {why}: {pool.shared_workers} CPU detectors shared by every camera"
            if pool.shared_workers
            else f"pool=auto: {why}: {pool.workers_per_camera} CPU detectors per camera"
        )
    shared_only = shared_only or pool.batch_size > 1  # batches are formed by detectors shared by the cameras
    workers = pool.shared_workers if shared_only else cameras * pool.workers_per_camera
    per_gpu = math.ceil(workers / max(1, int(gpus)))
    fraction = 1.0 if per_gpu <= 1 else math.floor(1.0 / per_gpu / GPU_STEP) * GPU_STEP
    chosen = dataclasses.replace(
        pool, auto=False, shared_workers=pool.shared_workers if shared_only else 0, gpus_per_worker=round(fraction, 4)
    )
    shape = (
        f"{workers} shared detectors"
        + (f" in batches of up to {pool.batch_size} frames" if pool.batch_size > 1 else "")
        if shared_only
        else f"{pool.workers_per_camera} detectors per camera x {cameras} cameras"
    )
    return chosen, f"pool=auto: {gpus:g} GPUs in the Ray cluster: {shape}, {chosen.gpus_per_worker:g} GPU each"


def _fmt(resources: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in sorted(resources.items()))


def unplaceable(needs: list[Need], nodes: list[Node]) -> str | None:
    """Why the cluster cannot hold these actors, in one line naming the first it cannot place; None
    when it may. Checked: each actor fits some single node, and no resource is asked for more in
    total than the nodes have. (Whether they pack together is Ray's to find: start-up waits, and
    says which actors are still pending.)"""
    known = sorted({name for node in nodes for name in node.resources})
    for need in needs:
        asked = {k: v for k, v in need.resources.items() if v > 0}
        for name in asked:
            if name not in known:
                return (
                    f"{need.setting}: {need.who} needs resource {name!r}, which no node of the Ray cluster has "
                    f"(they have {', '.join(known) or 'nothing'}); start the node that should run it with "
                    f"`ray start --resources='{{\"{name}\": 1}}' ...`, or change the setting"
                )
        if not any(all(node.resources.get(k, 0.0) >= v - 1e-9 for k, v in asked.items()) for node in nodes):
            have = "; ".join(f"{node.ip}: {_fmt(node.resources)}" for node in nodes)
            return f"{need.setting}: {need.who} needs {_fmt(asked)} on one node, and no node has that ({have})"
    total: dict[str, float] = {}
    for need in needs:
        for k, v in need.resources.items():
            total[k] = total.get(k, 0.0) + v
    for name, amount in sorted(total.items()):
        have = sum(node.resources.get(name, 0.0) for node in nodes)
        if amount > have + 1e-9:
            who = [need for need in needs if need.resources.get(name, 0) > 0]
            settings = sorted({need.setting for need in who})
            return (
                f"{', '.join(settings)}: {len(who)} actors need {amount:g} {name} in all, and the Ray cluster has "
                f"{have:g}; ask for less each, or add nodes with `ray start --resources='{{\"{name}\": ...}}'`"
            )
    return None


def check_placement(needs: list[Need], nodes: list[Node]) -> None:
    problem = unplaceable(needs, nodes)
    if problem:
        raise ConfigError(problem)
