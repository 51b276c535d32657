"""Run the actor graph (`mjray.cluster.build` makes it): drain it, watch it, stop it.

Detectors push results straight into their seat's reorder; the driver drains every reorder.
Their calls (hundreds a second) record no task events: Ray's control store would keep the last
100,000 of them, about 250 MB. Every actor is restarted by Ray when its process dies (`run.max_restarts` times); one that stays
dead marks its seat down (a shared detector or the rounds actor: every seat) and the others go on.
With `build`, this is the only module that knows every stage.
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

from mjray.camera.recording import Recording
from mjray.camera.sources import ReplaySource, RtspSource, Source
from mjray.cluster import metrics, stages
from mjray.cluster.build import Builder, Graph, Seat, choose_pool, name_detectors
from mjray.cluster.facts import ActorFacts, facts
from mjray.cluster.health import SeatHealth
from mjray.cluster.hosted import HostedSeat
from mjray.cluster.raysafe import settle as settle_one
from mjray.config import AppConfig, CameraConfig, PoolConfig, redact, with_credentials
from mjray.detect.actor import DetectorReport
from mjray.detect.model import auto_threads
from mjray.detect.turns import RoundsReport
from mjray.frames import CameraReport, CameraStatus, Decode, Item, ReorderReport, Restarts, SeatReport

log = logging.getLogger(__name__)

STATS_TIMEOUT_S = 2.0  # a camera that does not answer its stats in this long is restarting
# a camera that does not hand over pictures in this long is restarting: its seat is not asked until it answers
PIXELS_WAIT_S = 0.5


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
            stream.decode,
        )
        for c in cameras
    }


def replay_sources(recording: Recording, speed: float | None, decode: Decode = Decode.auto) -> dict[str, Source]:
    """A replay source per recorded seat, all on the recording's one time zero. A seat whose
    camera never streamed (no video) is left out, so the display does not wait for it."""
    first = recording.first_capture()
    for seat in recording.seats:
        if not recording.segments[seat]:
            log.warning("replay: seat %s has no recorded video; replaying the others", seat)
    return {
        seat: ReplaySource(str(recording.folder), seat, speed, first, decode)
        for seat in recording.seats
        if recording.segments[seat]
    }


class Pipeline:
    """`sources`: seat -> where its frames come from (`live_sources`, `replay_sources`), in seat order."""

    def __init__(self, cfg: AppConfig, sources: dict[str, Source], keep_pixels: bool) -> None:
        self.cfg, self.keep_pixels = cfg, keep_pixels
        self.sources = dict(sources)
        self.graph = Graph()  # the actors as built (`start`), and what the build learnt of the cluster
        self.detector_stats: list[DetectorReport] = []  # each detector's last words, after stop()
        self.rounds_stats: RoundsReport | None = None  # the rounds actor's last words, after stop()
        self._draining: dict = {}  # outstanding drain call -> the seats it drains
        self._last_seq: dict[str, int] = {}  # the last seq each seat emitted: where a restarted reorder resumes
        self._camera_stats: dict[str, CameraReport] = {}  # each camera's last stats, while it cannot answer
        # which seats are down, and why; the detectors' names it judges by (`build.name_detectors`)
        self.health = SeatHealth(list(self.sources), own={seat: [] for seat in self.sources})
        self._dead_cameras: set[str] = set()  # seats whose camera is dead for good: not asked
        self.facts: dict[str, ActorFacts] = {}  # actor name -> what Ray last said of it (each status, and at stop)
        self.pool: PoolConfig = cfg.pool  # the detectors as run: pool=auto's choice once started
        self.pool_choice = ""  # what pool=auto chose, in words
        self.drain_wait_s = 0.5
        self._pictures_late: dict[str, object] = {}  # seat -> a `pixels` call its camera did not answer in time
        # the last handed out: two outputs, one call
        self._pictures: OrderedDict[tuple[str, int], object] = OrderedDict()

    @property
    def seat_names(self) -> list[str]:
        return list(self.sources)

    @property
    def seats(self) -> dict[str, Seat]:
        return self.graph.seats

    def start(self, ready_timeout_s: float = 600.0) -> None:
        """Choose the pool, name its detectors, and build the graph (`build.Builder`); its actors
        are in `graph` as they start, for `shutdown` whatever happens."""
        self.pool, self.pool_choice = choose_pool(self.cfg, len(self.sources))
        name_detectors(self.pool, self.seat_names, self.health)
        Builder(self.cfg, self.sources, self.keep_pixels, self.pool, self.health, self.graph).build(ready_timeout_s)

    def drain(self, wait_s: float = 0.05) -> dict[str, list[Item]]:
        """What seats emitted since their last drain, each list in sequence order.

        Keeps one waiting `drain` call per reorder process (a seat's, or a host's seats' at once:
        `drain_many`) and returns as soon as any seat has output (or after `wait_s`), so output is
        taken when it is ready, without busy polling. Each call says the last seq taken, where a
        restarted reorder resumes.
        """
        busy = {seat for seats in self._draining.values() for seat in seats}
        hosts: dict[object, tuple[object, dict[str, int]]] = {}  # host's actor id -> (its handle, seat -> after)
        for seat, s in self.seats.items():
            if seat in busy or seat in self.health.reorder_dead:
                continue
            after = self._last_seq.get(seat, -1)
            if isinstance(s.reorder, HostedSeat):
                hosts.setdefault(s.reorder.host._actor_id, (s.reorder.host, {}))[1][seat] = after
            else:
                self._draining[s.reorder.drain.remote(self.drain_wait_s, after)] = (seat,)
        for host, after in hosts.values():
            self._draining[host.drain_many.remote(self.drain_wait_s, after)] = tuple(after)
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
            seats = self._draining.pop(ref)
            if isinstance(got, Exception):  # calls to a restarting reorder wait: this one is dead for good
                for seat in seats:
                    self._reorder_dead(seat, f"reorder died and was not restarted ({type(got).__name__})")
                continue
            for seat, items in got.items() if isinstance(got, dict) else [(seats[0], got)]:
                if items:
                    self._last_seq[seat] = items[-1].seq
                out[seat] = items
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
        decoded? A live camera ends only when its source fails for good (`stream.decode=cuda` on a
        node with no NVDEC): judged from the stats the status line last fetched, no call made."""
        if not any(source.ends for source in self.sources.values()):
            last = [self._camera_stats.get(seat) for seat in self.seats if seat not in self.down]
            return bool(last) and all(r is not None and r.status == CameraStatus.ENDED for r in last)
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
            for d in settle([d.stats.remote() for d in self.graph.detectors], STATS_TIMEOUT_S)
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
            got for got in settle([d.stop.remote() for d in self.graph.detectors]) if isinstance(got, DetectorReport)
        ]
        post = [(d.post_ms, d.inferred) for d in self.detector_stats if d.post_ms]
        if post:
            log.info(
                "post-processing (plug-ins) took %.1f ms of each frame's inference",
                sum(ms * n for ms, n in post) / max(sum(n for _, n in post), 1),
            )
        if self.graph.rounds is not None:
            got = settle([self.graph.rounds.stats.remote()])[0]
            self.rounds_stats = got if isinstance(got, RoundsReport) else None
        # A detector's pushes reach the reorder in the order it sent them, so one more (empty) push
        # that has completed proves all earlier results from that detector have landed.
        settle([d.barrier.remote() for d in self.graph.detectors])
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
        return self.graph.actors(self.health.detectors)

    def restarts(self, seat: str) -> Restarts:
        """How often each of this seat's actors was restarted (from the facts last taken)."""
        return self.health.restarts(seat, {name: fact.restarts for name, fact in self.facts.items()})

    def shutdown(self) -> None:
        for actor in self.graph.all_actors:
            if actor is not None:
                ray.kill(actor)
        self.graph.seats.clear()
        self.graph.shared.clear()
        self.graph.hosts.clear()
        self.graph.rounds = None
        self.graph.weights = None  # (its bytes no longer pinned in the object store)


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
