"""Actors' log lines with their name (`camera:ton`) in each, on the console and in the run's log.

An actor's process logs INFO and up to its stderr, which Ray copies to the driver's console
(`log_to_driver`); Hydra's run log (`main.log`) would never see those copies, so the driver also
writes every line Ray forwards into its log files (`to_run_log`).
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)
FORMAT = "%(asctime)s %(levelname)s [{actor}] %(name)s: %(message)s"


def setup_actor(actor: str) -> None:
    """In an actor's process (no-op elsewhere, e.g. a plain-class test): its log lines carry its name."""
    try:
        import ray

        if not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
            return
    except Exception:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT.format(actor=actor)))
    handler.set_name("mjray")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "mjray"] + [handler]
    root.setLevel(logging.INFO)


def to_run_log() -> None:
    """Driver: write the actors' lines that Ray forwards into this process's log files too."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    if not files:
        return
    try:
        from ray._private.ray_logging import global_worker_stdstream_dispatcher
    except ImportError as error:  # Ray moved it: the console still has the lines
        log.warning("actors' log lines stay out of the run log: %s", error)
        return

    def write(data: dict) -> None:
        who = data.get("actor_name") or data.get("task_name") or f"pid={data.get('pid')}"
        for line in data.get("lines", []):
            record = logging.LogRecord("ray.worker", logging.INFO, "", 0, f"({who}) {line}", None, None)
            for handler in files:
                handler.handle(record)

    global_worker_stdstream_dispatcher.remove_handler("mjray_run_log")
    global_worker_stdstream_dispatcher.add_handler("mjray_run_log", write)
