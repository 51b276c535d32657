"""What Ray knows of mjray's actors: was this one restarted, how often each was, where each runs.

Read from Ray's control store (GCS) rather than the state API, which needs the dashboard: a run
with `ray.dashboard=false` still counts its restarts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


def reconstructed() -> bool:
    """Is the calling actor a restart of one that died (Ray ran its constructor again)? False
    outside an actor (a test calling the plain class)."""
    import ray
    from ray._private import state

    actor_id = ray.get_runtime_context().get_actor_id() if ray.is_initialized() else None
    if actor_id is None:
        return False
    # as Ray's `was_current_actor_reconstructed`, without the deprecation warning its `actor_id` prints
    return bool(state.actors(actor_id=actor_id).get("NumRestarts", 0))


@dataclass(frozen=True)
class ActorFacts:
    name: str
    state: str  # ALIVE, RESTARTING, DEAD, ...
    restarts: int
    node_ip: str
    node_id: str
    pid: int

    @property
    def dead(self) -> bool:
        return self.state == "DEAD"


def facts(handles: dict[str, object]) -> dict[str, ActorFacts]:
    """name -> what Ray's control store says of that actor; an actor it cannot tell of is left out."""
    from ray._private import state  # the GCS actor table: public `ray.util.state` needs the dashboard

    out = {}
    for name, handle in handles.items():
        try:
            info = state.actors(actor_id=handle._actor_id.hex())  # type: ignore[attr-defined]
        except Exception as error:  # a control store that does not answer must not stop a run
            log.debug("no facts for actor %s: %s", name, error)
            continue
        if info:
            address = info.get("Address") or {}
            out[name] = ActorFacts(
                name,
                info.get("State", ""),
                int(info.get("NumRestarts", 0)),
                address.get("IPAddress", ""),
                address.get("NodeID", ""),
                int(info.get("Pid", 0)),
            )
    return out
