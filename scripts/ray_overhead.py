"""What Ray costs a process that does nothing, and a call: the floor under mjray's per-frame CPU.

    .venv/bin/python scripts/ray_overhead.py [--actors 10] [--seconds 20] [--calls-per-s 90]

Starts a local Ray, `--actors` actors that do nothing, and measures every Ray process's CPU over
`--seconds`: first idle, then answering `--calls-per-s` calls a second spread over the actors.
Prints the share of a core each kind of process took; no assertion (docs/results.md).
"""

from __future__ import annotations

import argparse
import os
import time

import psutil
import ray


@ray.remote(num_cpus=0)
class Idle:
    def ping(self) -> int:
        return 1


def cpu_by_kind() -> dict[str, tuple[str, float]]:
    out = {}
    for p in psutil.process_iter(["cmdline"]):
        line = " ".join(p.info["cmdline"] or [])
        if p.pid == os.getpid() or "ray" not in line:
            continue
        kind = "idle actor" if line.startswith("ray::Idle") else os.path.basename(line.split()[0])[:24]
        try:
            out[p.pid] = (kind, sum(p.cpu_times()[:2]))
        except psutil.Error:
            pass
    return out


def measure(actors: list, seconds: float, calls_per_s: float) -> tuple[dict[str, float], int]:
    before, started, calls = cpu_by_kind(), time.monotonic(), 0
    while time.monotonic() - started < seconds:
        if calls_per_s:
            ray.get([a.ping.remote() for a in actors])
            calls += len(actors)
            time.sleep(len(actors) / calls_per_s)
        else:
            time.sleep(0.5)
    after, elapsed = cpu_by_kind(), time.monotonic() - started
    cores: dict[str, float] = {}
    for pid, (kind, cpu) in after.items():
        if pid in before:
            cores[kind] = cores.get(kind, 0.0) + (cpu - before[pid][1]) / elapsed
    return cores, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--calls-per-s", type=float, default=90.0)
    args = parser.parse_args()
    ray.init(include_dashboard=False, num_cpus=2)
    try:
        actors = [Idle.remote() for _ in range(args.actors)]
        ray.get([a.ping.remote() for a in actors])
        time.sleep(5.0)  # past start-up
        idle, _ = measure(actors, args.seconds, 0.0)
        busy, calls = measure(actors, args.seconds, args.calls_per_s)
    finally:
        ray.shutdown()
    per_actor = idle.get("idle actor", 0.0) / args.actors
    extra = (busy.get("idle actor", 0.0) - idle.get("idle actor", 0.0)) * args.seconds / max(calls, 1)
    print(f"{args.actors} idle actors: {100 * per_actor:.2f} % of a core each, doing nothing")
    print(f"{calls} calls in {args.seconds:.0f} s: {1000 * extra:.2f} ms of the callee's CPU a call, beyond idle")
    for name, cores in (("idle", idle), ("answering calls", busy)):
        print(f"{name}: " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in sorted(cores.items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
