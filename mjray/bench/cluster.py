"""A real multi-node Ray cluster on 127.0.0.1 (tests, benchmarks): a head and worker nodes, each its own
`ray start --block` process with its own CPUs, logical GPUs and custom resources, stopped after.

A node may run from another Python environment (`bare_env`: Ray and mjray's dependencies but not
mjray), as a worker machine would that never had mjray installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from mjray.sim.server import free_port


@dataclass
class NodeSpec:
    name: str
    num_cpus: float
    num_gpus: int = 0
    resources: dict[str, float] = field(default_factory=dict)
    python: str = sys.executable  # the environment the node and its workers run in


def bare_env(folder: Path) -> str:
    """A virtual environment that sees this one's packages but not mjray (installed here as an
    editable package, found through a .pth hook that the plain path entry below does not run).
    Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "this-venvs-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return str(python)


class LocalCluster:
    """`nodes[0]` is the head. `address` once started; `node_ids()`: node id -> the spec's name."""

    def __init__(self, nodes: list[NodeSpec], log_dir: Path) -> None:
        self.specs, self.log_dir = nodes, log_dir
        self.temp_dir = tempfile.mkdtemp(prefix="mjc", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.processes: list[subprocess.Popen] = []
        self.nodes: dict[str, dict] = {}  # node id -> {"name", "resources"} once up
        # for the nodes and every driver: no token auth (Ray 2.60 turns it on where ~/.ray/auth_token
        # exists, and a driver given an address must then be told so: docs/cluster.md says how)
        self.env = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}
        self.node_env: dict[str, str] = {}  # for the nodes (and so their workers) alone

    def _start(self, spec: NodeSpec, head: bool) -> None:
        where = (
            ["--head", f"--port={self.port}", "--include-dashboard=false"] if head else [f"--address={self.address}"]
        )
        cmd = [
            spec.python,
            "-m",
            "ray.scripts.scripts",
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={spec.num_cpus}",
            f"--num-gpus={spec.num_gpus}",
            f"--temp-dir={self.temp_dir}",
            f"--resources={json.dumps({**spec.resources, f'node_{spec.name}': 1})}",
            "--disable-usage-stats",
            *where,
        ]
        log = self.log_dir / f"ray-{spec.name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**self.env, **self.node_env}
            )
        self.processes.append(process)
        deadline = time.monotonic() + 120  # one at a time: nodes starting together on one machine race
        while "Ray runtime started" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, (
                f"ray start for node {spec.name} failed: {log.read_text()[-3000:]}"
            )
            time.sleep(0.5)

    def start(self, timeout_s: float = 180.0) -> LocalCluster:
        self._start(self.specs[0], head=True)
        for spec in self.specs[1:]:
            self._start(spec, head=False)
        probe = (
            "import json, sys, time, ray\n"
            f"ray.init(address='{self.address}', log_to_driver=False)\n"
            f"deadline = time.time() + {timeout_s / 2}\n"
            f"while time.time() < deadline and len([n for n in ray.nodes() if n['Alive']]) < {len(self.specs)}:\n"
            "    time.sleep(0.5)\n"
            "print(json.dumps({n['NodeID']: n['Resources'] for n in ray.nodes() if n['Alive']}))\n"
        )
        deadline = time.monotonic() + timeout_s
        while True:  # the head's GCS may take a while to listen
            done = subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout_s, env=self.env
            )
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert done.returncode == 0, f"the cluster did not come up: {done.stderr[-3000:]}"
        alive = json.loads(done.stdout.strip().splitlines()[-1])
        for node_id, resources in alive.items():
            names = [k[len("node_") :] for k in resources if k.startswith("node_") and not k.startswith("node:")]
            self.nodes[node_id] = {"name": names[0] if names else "?", "resources": resources}
        assert len(self.nodes) == len(self.specs), f"{len(self.nodes)} of {len(self.specs)} nodes came up: {self.nodes}"
        return self

    def name_of(self, node_id: str) -> str:
        return self.nodes.get(node_id, {}).get("name", "?")

    def stop(self) -> None:
        """SIGTERM to every node's process group, SIGKILL to what is left after 20 s, then to any
        process still naming this cluster's address or temp dir (a worker that left the group)."""
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = " ".join(proc.info["cmdline"] or [])
            if self.address in cmdline or self.temp_dir in cmdline:
                try:
                    proc.kill()
                except psutil.Error:
                    pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
