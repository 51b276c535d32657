"""Batching of a shared detector: full and partial batches, stalled and restarting seats, bursts,
key-frame pauses, stale frames; every frame out exactly once and each seat's order kept."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pytest

from mjray.detect.batching import Batch, BatchCollector, BatchSizes

SEATS = ["ton", "nan", "sha", "pei"]


@dataclass(frozen=True)
class Shot:
    """A frame as the tests see it: which seat, its number there, when captured and when it arrived."""

    seat: str
    seq: int
    captured_at: float
    arrived_at: float


def steady(seat: str, fps: float, start: float, end: float, latency: float = 0.03) -> list[Shot]:
    count = int(round((end - start) * fps))
    return [Shot(seat, i, start + i / fps, start + i / fps + latency) for i in range(count)]


@dataclass
class Run:
    added: list[Shot] = field(default_factory=list)
    takes: list[tuple[float, Batch[Shot]]] = field(default_factory=list)
    drained: list[tuple[str, Shot]] = field(default_factory=list)

    @property
    def inferred(self) -> list[Shot]:
        return [shot for _, batch in self.takes for _, shot in batch.items]

    @property
    def stale(self) -> list[Shot]:
        return [shot for _, batch in self.takes for _, shot in batch.stale]

    def taken_at(self) -> dict[Shot, float]:
        return {shot: now for now, batch in self.takes for _, shot in batch.items + batch.stale}


def simulate(
    collector: BatchCollector[Shot],
    shots: list[Shot],
    infer_s: float = 0.0,
    stop_at: float = math.inf,
    asks_left: int = 0,
) -> Run:
    """A detector's loop in virtual time: frames are added as they arrive, and a batch is taken as soon
    as it is due and the GPU is free (busy `infer_s` after each inferred batch). An ask is outstanding
    while frames are still to come, and `asks_left` after the last (a dead camera's). Each take is
    checked against an independent model of what is pending; what is left at `stop_at` is drained."""
    shots = sorted(shots, key=lambda shot: (shot.arrived_at, shot.seat, shot.seq))
    run, pending, gpu_free, i = Run(), [], -math.inf, 0
    max_age = collector.max_age_s if collector.max_age_s is not None else math.inf
    for _ in range(20 * len(shots) + 10):
        if i == len(shots) and not pending:
            break
        now = min(
            shots[i].arrived_at if i < len(shots) else math.inf,
            max(gpu_free, collector.wake_at()) if pending else math.inf,
        )
        if now >= stop_at:
            break
        while i < len(shots) and shots[i].arrived_at <= now:
            collector.add(shots[i].seat, shots[i], shots[i].captured_at, now=shots[i].arrived_at)
            pending.append(shots[i])
            run.added.append(shots[i])
            i += 1
        expecting = 1 if i < len(shots) else asks_left
        fresh = [shot for shot in pending if now - shot.captured_at <= max_age]
        waited = bool(pending) and now >= pending[0].arrived_at + collector.wait_s
        due = bool(pending) and (len(fresh) >= collector.size or not fresh or expecting == 0 or waited)
        assert collector.due(now, expecting) == due, now
        assert collector.pending() == len(pending)
        assert collector.wake_at() == (pending[0].arrived_at + collector.wait_s if pending else None)
        if not due or now < gpu_free:
            continue
        batch = collector.take(now)
        assert batch.items == [(shot.seat, shot) for shot in fresh[: collector.size]]
        fresh_set = set(fresh)
        assert batch.stale == [(shot.seat, shot) for shot in pending if shot not in fresh_set]
        out = {shot for _, shot in batch.items + batch.stale}
        pending = [shot for shot in pending if shot not in out]
        run.takes.append((now, batch))
        if batch.items:
            gpu_free = now + infer_s
    else:
        raise AssertionError("the simulation did not finish")
    run.drained = collector.drain()
    assert run.drained == [(shot.seat, shot) for shot in pending]
    assert collector.pending() == 0 and collector.wake_at() is None
    return run


def assert_each_frame_out_once_in_seat_order(run: Run, collector: BatchCollector[Shot]) -> None:
    """What a user checks: every frame added comes out exactly once, inferred, stale or drained; no
    batch above size; stale frames never inferred; each seat's frames leave in the order they came."""
    out = run.inferred + run.stale + [shot for _, shot in run.drained]
    assert len(out) == len(set(out)) and set(out) == set(run.added)
    assert all(len(batch.items) <= collector.size and (batch.items or batch.stale) for _, batch in run.takes)
    for seat in {shot.seat for shot in run.added}:
        left = []  # within a take a seat's stale and inferred frames may interleave; across takes, never
        for _, batch in run.takes:
            left += sorted(shot.seq for _, shot in batch.items + batch.stale if shot.seat == seat)
        left += [shot.seq for _, shot in run.drained if shot.seat == seat]
        assert left == list(range(len(left))), seat
        inferred = [shot.seq for shot in run.inferred if shot.seat == seat]
        assert inferred == sorted(inferred), seat
    if collector.max_age_s is not None:
        taken_at = run.taken_at()
        assert all(taken_at[shot] - shot.captured_at > collector.max_age_s for shot in run.stale)
        assert all(taken_at[shot] - shot.captured_at <= collector.max_age_s for shot in run.inferred)
    else:
        assert run.stale == []
    sizes = [len(batch.items) for _, batch in run.takes if batch.items]
    stats = collector.sizes
    assert (stats.count, stats.total, stats.max) == (len(sizes), sum(sizes), max(sizes, default=0))


# --- settings


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"size": 0, "wait_s": 0.05}, "size"),
        ({"size": -1, "wait_s": 0.05}, "size"),
        ({"size": 2.5, "wait_s": 0.05}, "size"),
        ({"size": 4.0, "wait_s": 0.05}, "size"),
        ({"size": True, "wait_s": 0.05}, "size"),
        ({"size": "4", "wait_s": 0.05}, "size"),
        ({"size": None, "wait_s": 0.05}, "size"),
        ({"size": 4, "wait_s": -0.001}, "wait_s"),
        ({"size": 4, "wait_s": math.nan}, "wait_s"),
        ({"size": 4, "wait_s": math.inf}, "wait_s"),
        ({"size": 4, "wait_s": "0.05"}, "wait_s"),
        ({"size": 4, "wait_s": None}, "wait_s"),
        ({"size": 4, "wait_s": 0.05, "max_age_s": 0}, "max_age_s"),
        ({"size": 4, "wait_s": 0.05, "max_age_s": -2.0}, "max_age_s"),
        ({"size": 4, "wait_s": 0.05, "max_age_s": math.nan}, "max_age_s"),
        ({"size": 4, "wait_s": 0.05, "max_age_s": "2"}, "max_age_s"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(settings, named):
    with pytest.raises(ValueError, match=rf"^{named} must") as error:
        BatchCollector(**settings)
    assert repr(settings[named]) in str(error.value)


@pytest.mark.parametrize(
    ("size", "wait_s", "max_age_s"), [(1, 0, None), (1, 0.0, 0.001), (4, 0.05, 2.0), (16, 1, 2), (8, 0.066, math.inf)]
)
def test_good_settings_are_kept(size, wait_s, max_age_s):
    collector = BatchCollector(size, wait_s, max_age_s)
    assert (collector.size, collector.wait_s, collector.max_age_s) == (size, wait_s, max_age_s)
    assert (collector.pending(), collector.wake_at(), collector.sizes.count) == (0, None, 0)


@pytest.mark.parametrize("expecting", [-1, -5])
def test_negative_expecting_is_refused(expecting):
    with pytest.raises(ValueError, match="expecting"):
        BatchCollector(4, 0.05).due(0.0, expecting)


# --- when a batch falls due


@pytest.mark.parametrize("seats", [1, 2, 3, 4])
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8])
def test_a_full_batch_is_due_at_once_and_taken_whole_in_arrival_order(size, seats):
    collector: BatchCollector[int] = BatchCollector(size, wait_s=1.0)
    added = []
    for n in range(size):
        assert not collector.due(10.0, expecting=1)  # not full, not waited, more to come
        seat = SEATS[n % seats]
        collector.add(seat, n, captured_at=9.99, now=10.0)
        added.append((seat, n))
    assert collector.due(10.0, expecting=1)
    collector.add("ton", size, captured_at=9.99, now=10.0)  # one more than fits
    batch = collector.take(10.0)
    assert batch == Batch(added, [])
    assert collector.pending() == 1 and collector.drain() == [("ton", size)]
    assert collector.sizes.as_dict() == {"mean": size, "max": size, "count": 1}


@pytest.mark.parametrize("wait_s", [0.0, 0.02, 0.05, 0.1])
@pytest.mark.parametrize(("size", "count"), [(2, 1), (4, 1), (4, 2), (4, 3), (8, 1), (8, 5), (8, 7)])
def test_a_partial_batch_closes_when_its_first_frame_has_waited_wait_s(size, count, wait_s):
    collector: BatchCollector[int] = BatchCollector(size, wait_s)
    for n in range(count):
        collector.add(SEATS[n % 4], n, captured_at=100.0 + 0.001 * n, now=100.01 + 0.001 * n)
    assert collector.wake_at() == pytest.approx(100.01 + wait_s)
    if wait_s:
        assert not collector.due(collector.wake_at() - 1e-6, expecting=2)
    assert collector.due(collector.wake_at(), expecting=2)
    assert [item for _, item in collector.take(collector.wake_at()).items] == list(range(count))
    assert collector.sizes.max == count and collector.wake_at() is None


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("expecting", [0, 1, 3])
def test_nothing_more_to_come_closes_a_batch_at_once(count, expecting):
    collector: BatchCollector[int] = BatchCollector(4, wait_s=0.05)
    for n in range(count):
        collector.add(SEATS[n], n, captured_at=5.0, now=5.0)
    assert collector.due(5.0, expecting) == (expecting == 0)
    assert collector.due(5.0 + 0.05, expecting)


@pytest.mark.parametrize("expecting", [0, 1, 4])
def test_an_empty_collector_is_never_due(expecting):
    collector: BatchCollector[int] = BatchCollector(2, wait_s=0.0, max_age_s=0.1)
    assert not collector.due(0.0, expecting)
    collector.add("ton", 1, captured_at=0.0, now=0.0)
    collector.add("nan", 2, captured_at=0.0, now=0.0)
    collector.take(0.0)
    assert not collector.due(99.0, expecting) and collector.wake_at() is None
    assert collector.take(99.0) == Batch([], []) and collector.sizes.count == 1  # an empty take is not a batch


def test_what_stays_behind_a_full_batch_is_due_by_its_own_first_arrival():
    collector: BatchCollector[int] = BatchCollector(2, wait_s=0.05)
    for n, at in enumerate([1.0, 1.01, 1.02, 1.03, 1.04]):
        collector.add(SEATS[n % 4], n, captured_at=at - 0.02, now=at)
    assert collector.wake_at() == pytest.approx(1.05)
    assert [item for _, item in collector.take(1.04).items] == [0, 1]
    assert collector.wake_at() == pytest.approx(1.07)  # frame 2's arrival
    assert collector.due(1.04, expecting=1)  # frames 2 and 3 fill a batch
    assert [item for _, item in collector.take(1.04).items] == [2, 3]
    assert not collector.due(1.09 - 1e-6, expecting=1) and collector.due(1.09, expecting=1)


# --- stale frames


@pytest.mark.parametrize(
    ("age", "max_age_s", "stale"),
    [
        (0.0, None, False),
        (3600.0, None, False),
        (0.0, 0.5, False),
        (0.25, 0.5, False),
        (0.5, 0.5, False),  # exactly max_age_s is still fresh
        (0.5000001, 0.5, True),
        (0.51, 0.5, True),
        (2.0, 0.5, True),
        (-0.01, 0.5, False),  # a camera clock a little ahead
        (1.99, 2.0, False),
        (2.01, 2.0, True),
        (0.034, 0.033, True),
    ],
)
def test_a_frame_older_than_max_age_is_stale_and_never_inferred(age, max_age_s, stale):
    collector: BatchCollector[str] = BatchCollector(1, wait_s=0.0, max_age_s=max_age_s)
    collector.add("ton", "frame", captured_at=50.0 - age, now=50.0)
    assert collector.due(50.0, expecting=1)
    batch = collector.take(50.0)
    assert (batch.stale, batch.items) == (([("ton", "frame")], []) if stale else ([], [("ton", "frame")]))
    assert collector.sizes.count == (0 if stale else 1)


@pytest.mark.parametrize("expecting", [1, 4])
@pytest.mark.parametrize("count", [1, 2, 5])
def test_only_stale_frames_pending_are_due_at_once_to_be_reported(count, expecting):
    collector: BatchCollector[int] = BatchCollector(4, wait_s=0.05, max_age_s=0.3)
    for n in range(count):
        collector.add(SEATS[n % 4], n, captured_at=9.0, now=10.0)  # delivered a second late
    assert collector.due(10.0, expecting)
    batch = collector.take(10.0)
    assert batch.items == [] and [item for _, item in batch.stale] == list(range(count))
    assert collector.sizes.as_dict() == {"mean": 0.0, "max": 0, "count": 0}


def test_stale_frames_do_not_fill_a_batch_and_leave_with_the_next_one():
    collector: BatchCollector[str] = BatchCollector(2, wait_s=0.05, max_age_s=0.3)
    collector.add("ton", "late 1", captured_at=9.5, now=10.0)
    collector.add("ton", "late 2", captured_at=9.6, now=10.0)
    collector.add("nan", "fresh", captured_at=9.98, now=10.0)
    assert not collector.due(10.01, expecting=1)  # one fresh frame of two: wait for a second
    collector.add("sha", "fresh too", captured_at=10.0, now=10.02)
    assert collector.due(10.02, expecting=1)
    assert collector.take(10.02) == Batch(
        [("nan", "fresh"), ("sha", "fresh too")], [("ton", "late 1"), ("ton", "late 2")]
    )


def test_a_frame_that_ages_while_pending_goes_stale_and_frees_its_place():
    collector: BatchCollector[int] = BatchCollector(2, wait_s=0.05, max_age_s=0.1)
    collector.add("ton", 0, captured_at=0.0, now=0.06)
    collector.add("nan", 1, captured_at=0.05, now=0.07)
    collector.add("sha", 2, captured_at=0.09, now=0.11)
    assert collector.take(0.12) == Batch([("nan", 1), ("sha", 2)], [("ton", 0)])


# --- seats that stall, restart, burst and pause


def test_a_stalled_seat_never_holds_a_batch_past_wait_s():
    collector: BatchCollector[Shot] = BatchCollector(4, wait_s=0.03)
    shots = [shot for n, seat in enumerate(SEATS[:3]) for shot in steady(seat, 15, 1.0 + 0.005 * n, 3.0)]
    run = simulate(collector, shots, asks_left=1)  # pei is dead: its ask stays outstanding
    assert_each_frame_out_once_in_seat_order(run, collector)
    assert len(run.takes) == 30
    for (now, batch), ton in zip(run.takes, steady("ton", 15, 1.0, 3.0)):
        assert [seat for seat, _ in batch.items] == ["ton", "nan", "sha"]
        assert now == pytest.approx(ton.arrived_at + 0.03)


def test_a_restarting_seat_is_waited_for_only_wait_s_and_rejoins_in_order():
    ton = steady("ton", 15, 0.0, 4.0)
    nan = [shot for shot in steady("nan", 15, 0.001, 4.001) if not 1.0 <= shot.captured_at < 2.5]  # reconnecting
    nan = [Shot("nan", i, shot.captured_at, shot.arrived_at) for i, shot in enumerate(nan)]
    collector: BatchCollector[Shot] = BatchCollector(2, wait_s=0.02)
    run = simulate(collector, ton + nan, infer_s=0.01)
    assert_each_frame_out_once_in_seat_order(run, collector)
    alone = [(now, batch) for now, batch in run.takes if [seat for seat, _ in batch.items] == ["ton"]]
    assert len(alone) == sum(1.0 <= shot.captured_at < 2.5 for shot in ton)
    assert all(now == pytest.approx(batch.items[0][1].arrived_at + 0.02) for now, batch in alone)
    together = [batch for _, batch in run.takes if len(batch.items) == 2]
    assert len(together) == len(nan) and together[-1].items[1][1] == nan[-1]  # back in full batches


@pytest.mark.parametrize("later", [0, 3])
@pytest.mark.parametrize("burst", [1, 4, 7, 10, 25])
@pytest.mark.parametrize("size", [1, 2, 4, 8])
def test_a_burst_of_one_seat_does_not_starve_a_frame_that_came_after_it(size, burst, later):
    collector: BatchCollector[str] = BatchCollector(size, wait_s=0.05)
    for n in range(burst):  # a camera catching up: many frames in one instant
        collector.add("ton", f"ton {n}", captured_at=1.0 - 0.04 * (burst - n), now=1.0)
    collector.add("nan", "nan 0", captured_at=0.99, now=1.001)
    for n in range(burst, burst + later):
        collector.add("ton", f"ton {n}", captured_at=1.0, now=1.002)
    assert collector.pending_for("ton") == burst + later and collector.pending_for("nan") == 1
    batches = []
    while collector.pending():
        full = collector.pending() >= size
        assert collector.due(1.002, expecting=1) == full  # a full batch goes at once, a partial one waits
        batches.append([item for _, item in collector.take(1.002 if full else collector.wake_at()).items])
    assert all(0 < len(items) <= size for items in batches)
    assert [n for n, items in enumerate(batches) if "nan 0" in items] == [math.ceil((burst + 1) / size) - 1]
    expected = [f"ton {n}" for n in range(burst)] + ["nan 0"] + [f"ton {n}" for n in range(burst, burst + later)]
    assert sum(batches, []) == expected


@pytest.mark.parametrize("size", [1, 4])
@pytest.mark.parametrize("max_age_s", [0.2, 0.3, 0.45, None])
@pytest.mark.parametrize("pause_s", [0.4, 0.45, 0.5])
def test_frames_held_over_a_key_frame_pause_that_grew_too_old_are_stale_the_rest_inferred(pause_s, max_age_s, size):
    """15 fps cameras; ton goes silent around a key frame and then delivers what it held at once."""
    wait_s = 0.03
    shots = [shot for n, seat in enumerate(SEATS) for shot in steady(seat, 15, 0.01 * n, 3.0)]
    held = lambda shot: shot.seat == "ton" and 1.0 <= shot.captured_at < 1.0 + pause_s  # noqa: E731
    shots = [Shot(s.seat, s.seq, s.captured_at, 1.0 + pause_s + 0.03) if held(s) else s for s in shots]
    collector: BatchCollector[Shot] = BatchCollector(size, wait_s, max_age_s)
    run = simulate(collector, shots)
    assert_each_frame_out_once_in_seat_order(run, collector)
    assert all(shot.seat == "ton" and held(shot) for shot in run.stale)
    for shot in filter(held, shots):
        age = shot.arrived_at - shot.captured_at
        if max_age_s is not None and age > max_age_s:
            assert shot in run.stale
        if max_age_s is None or age + wait_s <= max_age_s:
            assert shot in run.inferred
    if max_age_s is not None and max_age_s < pause_s + 0.03:
        assert run.stale  # the pause is longer than the staleness budget: gaps, not old frames
    taken_at = run.taken_at()
    assert all(taken_at[shot] - shot.arrived_at <= wait_s + 1e-9 for shot in shots)  # the GPU never waits long


def test_drain_hands_back_everything_pending_in_arrival_order_without_counting_a_batch():
    collector: BatchCollector[int] = BatchCollector(8, wait_s=0.05, max_age_s=0.1)
    arrivals = [("nan", 0), ("ton", 1), ("nan", 2), ("pei", 3), ("ton", 4)]
    for n, (seat, item) in enumerate(arrivals):
        collector.add(seat, item, captured_at=0.0, now=0.001 * n)
    assert [collector.pending_for(seat) for seat in SEATS] == [2, 2, 0, 1]
    assert collector.pending() == 5
    assert collector.drain() == arrivals  # even frames that would be stale by now: the caller is stopping
    assert collector.pending() == 0 and collector.pending_for("ton") == 0 and collector.wake_at() is None
    assert collector.drain() == [] and collector.sizes.count == 0


def test_pending_for_follows_takes_per_seat():
    collector: BatchCollector[int] = BatchCollector(3, wait_s=0.0, max_age_s=1.0)
    for n, seat in enumerate(["ton", "ton", "nan", "ton", "sha"]):
        collector.add(seat, n, captured_at=0.0 if n else -5.0, now=0.0)  # frame 0 is stale
    batch = collector.take(0.0)
    assert batch == Batch([("ton", 1), ("nan", 2), ("ton", 3)], [("ton", 0)])
    assert [collector.pending_for(seat) for seat in SEATS] == [0, 0, 1, 0]


# --- random seats


def random_seat(rng: random.Random, seat: str, end: float) -> list[Shot]:
    """A camera of one of the kinds a table sees: steady, stalling, restarting, bursting, pausing at key frames."""
    fps = rng.choice([10, 12.5, 15, 20, 25, 30])
    start, latency, kind = (
        rng.uniform(0, 0.1),
        rng.uniform(0.005, 0.08),
        rng.choice(["steady", "stall", "restart", "burst", "keyframe"]),
    )
    shots, arrived = [], -math.inf
    hold_until, t, n = -math.inf, start, 0
    stall, gap = rng.uniform(0.2, end), (rng.uniform(0.2, end - 1), rng.uniform(0.3, 2.0))
    while t < end:
        if kind == "stall" and t >= stall:
            break
        if kind == "restart" and gap[0] <= t < gap[0] + gap[1]:
            t += 1 / fps
            continue
        at = t + latency + rng.uniform(0, 0.01)
        if kind == "burst" and rng.random() < 0.05:
            hold_until = t + rng.uniform(0.1, 0.6)
        if kind == "keyframe" and (t - start) % 2.0 < 1 / fps:
            hold_until = t + rng.uniform(0.4, 0.5)
        if t < hold_until:
            at = hold_until + latency
        arrived = max(arrived, at)  # a seat's frames arrive in their order
        shots.append(Shot(seat, n, t, arrived))
        n, t = n + 1, t + 1 / fps
    return shots


@pytest.mark.parametrize("seed", range(150))
def test_random_tables_keep_every_frame_once_in_seat_order_and_batches_bounded(seed):
    rng = random.Random(seed)
    seats = SEATS[: rng.randint(1, 4)] + ["extra"] * (seed % 7 == 0)
    end = rng.uniform(1.5, 3.0)
    shots = [shot for seat in seats for shot in random_seat(rng, seat, end)]
    size = rng.choice([1, 2, 3, 4, 6, 8])
    wait_s = rng.choice([0.0, 0.01, 0.03, 0.066, 0.1])
    max_age_s = rng.choice([None, 0.15, 0.3, 0.5, 2.0])
    infer_s = rng.choice([0.0, 0.0, 0.005, 0.02, 0.06])
    stop_at = rng.choice([math.inf, math.inf, rng.uniform(0.5, end)])
    collector: BatchCollector[Shot] = BatchCollector(size, wait_s, max_age_s)
    run = simulate(collector, shots, infer_s, stop_at)
    assert_each_frame_out_once_in_seat_order(run, collector)
    if stop_at == math.inf:
        assert run.drained == [] and len(run.inferred) + len(run.stale) == len(shots)
    if infer_s == 0.0:  # a free GPU: no frame waits longer than wait_s for its batch
        taken_at = run.taken_at()
        assert all(now - shot.arrived_at <= wait_s + 1e-9 for shot, now in taken_at.items())


# --- batch sizes


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ([], {"mean": 0.0, "max": 0, "count": 0}),
        ([1], {"mean": 1.0, "max": 1, "count": 1}),
        ([4, 4, 4], {"mean": 4.0, "max": 4, "count": 3}),
        ([1, 2, 2], {"mean": 1.67, "max": 2, "count": 3}),
        ([3, 1], {"mean": 2.0, "max": 3, "count": 2}),
        ([8, 1, 1, 1], {"mean": 2.75, "max": 8, "count": 4}),
        ([2, 7, 5, 7], {"mean": 5.25, "max": 7, "count": 4}),
        ([1] * 99 + [2], {"mean": 1.01, "max": 2, "count": 100}),
    ],
)
def test_batch_sizes_mean_and_max(sizes, expected):
    stats = BatchSizes()
    for size in sizes:
        stats.add(size)
    assert stats.as_dict() == expected
    assert stats.total == sum(sizes)
    assert stats.mean == pytest.approx(sum(sizes) / len(sizes) if sizes else 0.0)
