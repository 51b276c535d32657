"""The camera's pure parts: which frames are sent or skipped, and their capture clock."""

import pytest

from mjray.camera.actor import FrameGate, FrameRing
from mjray.camera.sources import CaptureClock


def test_latest_sends_up_to_capacity_then_keeps_only_the_newest_waiting():
    gate = FrameGate(capacity=2)
    assert gate.offer(0) == (0, None)
    assert gate.offer(1) == (1, None)
    assert gate.offer(2) == (None, None)  # waits
    assert gate.offer(3) == (None, 2)  # 2 is replaced: skipped
    assert gate.offer(4) == (None, 3)
    assert gate.done() == 4  # the newest goes when a slot frees
    assert gate.done() is None and gate.in_flight == 1


def test_every_buffers_oldest_first_and_gives_the_oldest_up_when_full():
    gate = FrameGate(capacity=1, max_waiting=3)
    assert gate.offer(0) == (0, None)
    assert [gate.offer(i) for i in (1, 2, 3)] == [(None, None)] * 3
    assert gate.offer(4) == (None, 1), "the oldest waiting overflows, the decoder never waits"
    assert not gate.blocked
    assert [gate.done(), gate.done(), gate.done(), gate.done()] == [2, 3, 4, None]


def test_a_source_that_can_wait_is_held_back_and_nothing_is_given_up():
    gate = FrameGate(capacity=1, max_waiting=2, hold=True)
    assert gate.offer(0) == (0, None)
    assert gate.offer(1) == (None, None) and not gate.blocked
    assert gate.offer(2) == (None, None) and gate.blocked
    with pytest.raises(RuntimeError):
        gate.offer(3)
    assert gate.done() == 1 and not gate.blocked


@pytest.mark.parametrize("max_waiting, hold", [(1, False), (4, False), (4, True)], ids=["latest", "every", "replay"])
@pytest.mark.parametrize("capacity", [1, 2, 5])
def test_in_flight_never_exceeds_capacity_and_every_frame_is_accounted(max_waiting, hold, capacity):
    gate = FrameGate(capacity, max_waiting, hold)
    sent, given_up, in_flight = [], [], []
    for frame in range(300):
        while gate.blocked:
            waiting = gate.done()
            sent += [waiting] if waiting is not None else []
            in_flight.pop(0)
            in_flight += [waiting] if waiting is not None else []
        send, dropped = gate.offer(frame)
        sent += [send] if send is not None else []
        in_flight += [send] if send is not None else []
        given_up += [dropped] if dropped is not None else []
        assert gate.in_flight == len(in_flight) <= capacity and len(gate.waiting) <= max_waiting
        if frame % 3 == 0 and in_flight:  # the pool finishes a frame every third decoded frame
            in_flight.pop(0)
            waiting = gate.done()
            if waiting is not None:
                sent.append(waiting)
                in_flight.append(waiting)
    assert sorted(sent + given_up + list(gate.waiting)) == list(range(300))
    assert sent == sorted(sent)
    assert (given_up == []) == hold


@pytest.mark.parametrize("max_waiting", [1, 3])
def test_pull_mode_hands_out_the_oldest_waiting_frame_and_sends_nothing_by_itself(max_waiting):
    gate = FrameGate(capacity=0, max_waiting=max_waiting)  # shared detectors take frames; none is pushed
    assert gate.take() is None
    assert gate.offer(0) == (None, None)
    if max_waiting == 1:  # latest
        assert gate.offer(1) == (None, 0)  # replaced before anyone asked: skipped
        assert gate.take() == 1
    else:  # every
        assert gate.offer(1) == (None, None)
        assert gate.take() == 0 and gate.take() == 1
    assert gate.take() is None and gate.in_flight == 0


def test_done_without_flight_is_a_bug():
    with pytest.raises(RuntimeError):
        FrameGate(1).done()


def test_capture_clock_prefers_rtcp_and_falls_back_to_arrival():
    clock = CaptureClock()
    assert clock.stamp(None, 1_000_000_000_000_000, 1000.5) == (1000.5, "arrival")
    assert clock.stamp(2.0, None, 1000.5) == (1000.5, "arrival")
    assert clock.stamp(2.0, 998_000_000, 1000.1) == (1000.0, "rtcp")


def test_capture_clock_stops_trusting_a_camera_clock_far_off():
    clock = CaptureClock(max_skew_s=10)
    assert clock.stamp(0.0, 3_600_000_000, 1000.0)[1] == "arrival"
    assert clock.stamp(0.0, 999_000_000, 1000.0) == (1000.0, "arrival"), "stays on arrival once distrusted"


def test_ring_hands_out_the_frame_captured_nearest_an_instant_and_gives_up_the_older():
    ring = FrameRing(keep_s=1.0, max_frames=64)
    interval = 1 / 15
    for seq in range(10):
        assert ring.add(100.0 + seq * interval, seq) == []
    assert ring.take(100.2) == (3, [0, 1, 2])  # 100.2 lies on frame 3
    assert ring.take(100.33) == (5, [4])  # 100.333 is nearer than 100.267
    assert ring.take(100.0) == (6, [])  # an instant already passed: the oldest frame left, never one handed out
    assert ring.take(200.0) == (9, [7, 8])
    assert ring.take(200.0) == (None, [])


def test_ring_knows_the_nearest_frame_once_a_frame_half_an_interval_before_the_instant_or_later_arrived():
    ring = FrameRing(keep_s=1.0, max_frames=64)
    half = 0.5 / 15
    assert not ring.ready(100.0, half)
    ring.add(99.9, "a")
    assert not ring.ready(100.0, half)  # the next frame may still be nearer
    ring.add(99.97, "b")
    assert ring.ready(100.0, half)  # 100.03 can be no nearer than 99.97


@pytest.mark.parametrize("seed", range(20))
def test_ring_is_bounded_and_accounts_for_every_frame_once(seed):
    import random

    rng = random.Random(seed)
    ring = FrameRing(keep_s=0.5, max_frames=8)
    handed, given_up, t = [], [], 0.0
    for seq in range(300):
        t += rng.uniform(0.0, 0.1)
        given_up += ring.add(t, seq)
        assert len(ring.frames) <= 8 and ring.frames[-1][0] - ring.frames[0][0] <= 0.5
        if rng.random() < 0.2:
            frame, older = ring.take(t - rng.uniform(0.0, 0.6))
            given_up += older
            handed += [frame] if frame is not None else []
    given_up += ring.clear()
    assert handed == sorted(handed), "handed out out of order"
    assert sorted(handed + given_up) == list(range(300)), "a frame lost or counted twice"


def test_ring_keeps_order_when_the_capture_clock_steps_back():
    ring = FrameRing(keep_s=1.0, max_frames=64)
    ring.add(10.0, 0)
    ring.add(9.0, 1)  # clock stepped back: kept after frame 0
    assert ring.take(9.0) == (0, [])
    assert ring.take(9.0) == (1, [])


def test_every_gives_up_what_waited_longer_than_its_buffer_oldest_first():
    gate = FrameGate(capacity=0, max_waiting=1000)
    for at in range(10):
        gate.offer(at)
    assert gate.trim(lambda old: 9 - old > 3) == [0, 1, 2, 3, 4, 5] and list(gate.waiting) == [6, 7, 8, 9]
    assert gate.trim(lambda old: False) == []
