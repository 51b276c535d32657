"""Soak: a long run of `python -m mjray.main` with faults, watched from outside.

    python -m mjray.bench.soak --minutes 30 --out soak

Runs the embedded table (or whatever overrides follow `--`), kills one camera actor's process
every `--kill-camera-every-s` (the seats in turn, but `--spare`; Ray restarts it) and one shared detector once,
and every `--sample-every-s` notes each process's resident memory (anonymous and shared apart:
pages of Ray's object store a process touched count as its shared memory), open file
descriptors, and the object store's bytes in use. Prints the growth per 10 minutes of every
role after warm-up (each process's fitted slope) and checks that every frame is accounted for; writes `soak.csv`,
`soak.json` and `soak.png`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import psutil

from mjray.bench.observe import role
from mjray.cluster.clients import CAMERA, DETECTOR

PID_LINE = re.compile(r"actor (?P<name>\S+): pid (?P<pid>\d+)")  # mjray's start-up log
RESTART_LINE = re.compile(r"\((?P<cls>\w+) pid=(?P<pid>\d+)\).*camera (?P<seat>\S+): restarted")
GCS_LINE = re.compile(r"Ray local at (?P<address>\S+)")
MIB = 2**20


def status_mib(pid: int) -> dict[str, float]:
    """Resident memory of a process from /proc: total, anonymous (its own heap) and shared memory."""
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssShmem"):
                out[key] = int(value.split()[0]) / 1024
    return out


def program(process: psutil.Process) -> str:
    """What a process runs, for the ones that are no actor: `gcs_server`, `raylet`, `dashboard.py`, ..."""
    try:
        command = process.cmdline() or [process.name()]
    except psutil.Error:
        return ""
    if command[0].startswith("ray::"):  # ray::<Class>[.<method>]
        return command[0].split(".")[0]
    script = next((part for part in command[1:3] if part.endswith(".py")), None)
    return os.path.basename(script or command[0])


def store_used_mib(address: str) -> float | None:
    """Bytes in Ray's object store, cluster-wide, asked of a raylet as `ray memory --stats-only` does."""
    try:
        from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
        from ray._private.internal_api import get_memory_info_reply, get_state_from_address

        maybe_enable_token_auth_if_token_available(warn_if_disabled=False)  # as `ray` commands do: ~/.ray/auth_token
        return get_memory_info_reply(get_state_from_address(address)).store_stats.object_store_bytes_used / MIB
    except Exception:
        return None


class Soak:
    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args, self.out = args, out
        self.lines: list[str] = []
        self.pids: dict[str, int] = {}  # actor name -> its current pid
        self.samples: list[dict] = []
        self.store: list[tuple[float, float]] = []
        self.kills: list[tuple[float, str, int]] = []
        self._log = open(out / "mjray.log", "w")

    def _read(self, stream) -> None:
        for line in stream:
            self._log.write(line)
            self.lines.append(line)
            if m := PID_LINE.search(line):
                self.pids[m["name"]] = int(m["pid"])
            elif m := RESTART_LINE.search(line):
                self.pids[CAMERA.name(m["seat"])] = int(m["pid"])

    def run(self) -> dict:
        args = self.args
        seconds = args.minutes * 60
        command = [
            sys.executable,
            "-m",
            "mjray.main",
            f"run.duration_s={seconds}",
            "display.video=false",
            "ray.dashboard=false",
            f"display.output_dir={self.out / 'run'}",
            "run.status_every_s=30",
            f"run.max_restarts={args.max_restarts}",
            *args.overrides,
        ]
        print("soak:", " ".join(command), flush=True)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        reader = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        reader.start()
        try:
            while not any("running for" in line for line in self.lines):
                if process.poll() is not None:
                    raise SystemExit(f"soak: mjray exited early:\n{''.join(self.lines[-30:])}")
                time.sleep(0.5)
            address = next(m["address"] for line in self.lines if (m := GCS_LINE.search(line)))
            started = time.monotonic()
            root = psutil.Process(process.pid)
            # the spare's process is never killed: with pool.cameras_per_process > 1, not the seats beside it either
            spared = self.pids.get(CAMERA.name(args.spare))
            cameras = sorted(
                name
                for name in self.pids
                if CAMERA.owns(name) and name != CAMERA.name(args.spare) and self.pids[name] != spared
            )
            if not cameras:
                raise SystemExit(f"soak: every camera shares the process of --spare {args.spare}: none to kill")
            next_sample, next_kill, killed_detector, turn = started, started + args.kill_camera_every_s, False, 0
            while process.poll() is None:
                now = time.monotonic()
                t = now - started
                if now >= next_sample:
                    next_sample += args.sample_every_s
                    self._sample(root, t, address)
                    if int(t) % 300 < args.sample_every_s:
                        print(f"soak: {t / 60:.0f} min", flush=True)
                if args.kill_camera_every_s and now >= next_kill and t < seconds - 30:
                    next_kill += args.kill_camera_every_s
                    self._kill(cameras[turn % len(cameras)], t)
                    turn += 1
                if not killed_detector and t >= args.kill_detector_at_s:
                    killed_detector = True
                    self._kill(DETECTOR.shared(0), t)
                time.sleep(0.5)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(120)
            reader.join(10)
            self._log.close()
        return self.report(process.returncode)

    def _kill(self, name: str, t: float) -> None:
        pid = self.pids.get(name)
        if pid is None:
            print(f"soak: no pid known for {name}", flush=True)
            return
        try:
            os.kill(pid, signal.SIGKILL)
            self.kills.append((round(t, 1), name, pid))
            print(f"soak: {t / 60:.1f} min: killed {name} (pid {pid})", flush=True)
        except ProcessLookupError:
            print(f"soak: {name} (pid {pid}) was gone already", flush=True)

    def _sample(self, root: psutil.Process, t: float, address: str) -> None:
        names = {pid: name for name, pid in self.pids.items()}
        for p in [root, *root.children(recursive=True)]:
            try:
                memory = status_mib(p.pid)
                self.samples.append(
                    {
                        "t": round(t, 1),
                        "pid": p.pid,
                        "role": role(p, root.pid),
                        "name": names.get(p.pid) or program(p),
                        "rss_mib": round(memory.get("VmRSS", 0.0), 1),
                        "anon_mib": round(memory.get("RssAnon", 0.0), 1),
                        "shmem_mib": round(memory.get("RssShmem", 0.0), 1),
                        "fds": p.num_fds(),
                    }
                )
            except (psutil.Error, OSError):
                continue
        used = store_used_mib(address)
        if used is not None:
            self.store.append((round(t, 1), round(used, 1)))

    def report(self, returncode: int | None) -> dict:
        args = self.args
        with open(self.out / "soak.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.samples[0]) if self.samples else ["t"])
            writer.writeheader()
            writer.writerows(self.samples)
        warm = args.warmup_s
        growth: dict[str, list[float]] = defaultdict(list)  # role -> % growth per 10 min of each process after warm-up
        by_pid: dict[int, list[dict]] = defaultdict(list)
        for sample in self.samples:
            by_pid[sample["pid"]].append(sample)
        lives = {}
        for pid, rows in by_pid.items():
            after = [r for r in rows if r["t"] - rows[0]["t"] >= warm]  # each process's own warm-up
            if len(after) < 2 or after[-1]["t"] - after[0]["t"] < 300:
                continue
            first, last = after[0], after[-1]
            # the least-squares slope, not last minus first: a camera's memory swings 2-3 MiB with the frames it holds
            slope = np.polyfit([r["t"] for r in after], [r["anon_mib"] for r in after], 1)[0]
            per_10 = 100 * slope * 600 / max(1.0, first["anon_mib"])
            growth[rows[0]["role"]].append(round(per_10, 2))
            lives[pid] = {
                "role": rows[0]["role"],
                "name": rows[0]["name"],
                "from_min": round(first["t"] / 60, 1),
                "to_min": round(last["t"] / 60, 1),
                "anon_mib": [first["anon_mib"], last["anon_mib"]],
                "rss_mib": [first["rss_mib"], last["rss_mib"]],
                "fds": [first["fds"], last["fds"]],
                "anon_growth_pct_per_10min": round(per_10, 2),
            }
        summary_path = self.out / "run" / "summary.json"
        seats = json.loads(summary_path.read_text())["seats"] if summary_path.exists() else []
        accounted = {}
        detections = self.out / "run" / "detections.jsonl"
        if detections.exists():
            spans: dict[str, list] = {}
            for line in detections.open():
                record = json.loads(line)
                seat = spans.setdefault(record["seat"], [None, None, 0, -1, 0])
                if record.get("captured_at") is not None:
                    seat[0] = record["captured_at"] if seat[0] is None else min(seat[0], record["captured_at"])
                    seat[1] = record["captured_at"] if seat[1] is None else max(seat[1], record["captured_at"])
                seat[2] += 1
                seat[4] += record["seq"] != seat[3] + 1  # out of order, missing or repeated
                seat[3] = record["seq"]
            for seat, (first, last, count, _, broken) in spans.items():
                sent = (last - first) * 15 + 1 if first is not None else 0
                accounted[seat] = {
                    "emitted": count,
                    "sent": round(sent),
                    "error_pct": round(100 * (count - sent) / max(1, sent), 2),
                    "seq_breaks": broken,
                }
        store = [used for t, used in self.store if t >= warm]
        report = {
            "minutes": args.minutes,
            "returncode": returncode,
            "kills": self.kills,
            "anon_growth_pct_per_10min_max": {r: max(v) for r, v in growth.items()},
            "store_mib": {"min": min(store, default=None), "max": max(store, default=None)},
            "fds_max": max((s["fds"] for s in self.samples), default=0),
            "accounted": accounted,
            "processes": lives,
            "restarts": {s["seat"]: s.get("restarts") for s in seats},
        }
        (self.out / "soak.json").write_text(json.dumps(report, indent=1))
        self.plot()
        return report

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
        by_pid: dict[int, list[dict]] = defaultdict(list)
        for sample in self.samples:
            by_pid[sample["pid"]].append(sample)
        colours = {
            "CameraActor": "tab:blue",
            "DetectorActor": "tab:red",
            "ReorderActor": "tab:green",
            "driver": "black",
        }
        for rows in by_pid.values():
            colour = colours.get(rows[0]["role"])
            if colour is None:
                continue
            t = [r["t"] / 60 for r in rows]
            axes[0].plot(t, [r["anon_mib"] for r in rows], color=colour, lw=1)
            axes[1].plot(t, [r["fds"] for r in rows], color=colour, lw=1)
        for label, colour in colours.items():
            axes[0].plot([], [], color=colour, label=label)
        axes[0].legend(loc="upper left", fontsize=8)
        axes[0].set_ylabel("anonymous RSS, MiB")
        axes[1].set_ylabel("open fds")
        axes[2].plot([t / 60 for t, _ in self.store], [used for _, used in self.store], color="tab:purple")
        axes[2].set_ylabel("object store, MiB")
        axes[2].set_xlabel("minutes")
        for t, *_ in self.kills:
            for ax in axes:
                ax.axvline(t / 60, color="grey", lw=0.5, ls=":")
        fig.suptitle("mjray soak: one process per line; dotted: an actor killed")
        fig.tight_layout()
        fig.savefig(self.out / "soak.png", dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--kill-camera-every-s", type=float, default=180.0, help="0: never")
    parser.add_argument(
        "--spare",
        default="",
        metavar="SEAT",
        help="a seat whose camera is never killed: its one long life tells warm-up from growth",
    )
    parser.add_argument("--kill-detector-at-s", type=float, default=900.0)
    parser.add_argument("--sample-every-s", type=float, default=10.0)
    parser.add_argument(
        "--warmup-s", type=float, default=120.0, help="growth is measured after each process's first this long"
    )
    parser.add_argument("--max-restarts", type=int, default=-1)
    parser.add_argument("--out", type=Path, default=Path("soak"))
    parser.add_argument("overrides", nargs="*", help="mjray settings, after --")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report = Soak(args, args.out).run()
    print(json.dumps({k: v for k, v in report.items() if k != "processes"}, indent=1))
    print(f"soak: figures in {args.out / 'soak.json'}, plot in {args.out / 'soak.png'}")


if __name__ == "__main__":
    main()
