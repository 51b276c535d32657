"""The camera's pure parts: which frames are sent or skipped, and their capture clock."""

import pytest

from mjray.camera import CaptureClock, FrameGate


def test_latest_sends_up_to_capacity_then_keeps_only_the_newest_waiting():
    gate = FrameGate("latest", capacity=2)
    assert gate.offer(0) == (0, None)
    assert gate.offer(1) == (1, None)
    assert gate.offer(2) == (None, None)  # waits
    assert gate.offer(3) == (None, 2)  # 2 is replaced: skipped
    assert gate.offer(4) == (None, 3)
    assert gate.done() == 4  # the newest goes when a slot frees
    assert gate.done() is None and gate.in_flight == 1


def test_every_never_skips_and_blocks_when_full():
    gate = FrameGate("every", capacity=1)
    assert gate.offer(0) == (0, None)
    assert gate.offer(1) == (None, None)
    assert gate.blocked
    with pytest.raises(RuntimeError):
        gate.offer(2)
    assert gate.done() == 1 and not gate.blocked
    assert gate.offer(2) == (None, None)


@pytest.mark.parametrize("policy", ["latest", "every"])
@pytest.mark.parametrize("capacity", [1, 2, 5])
def test_in_flight_never_exceeds_capacity_and_every_frame_is_accounted(policy, capacity):
    gate = FrameGate(policy, capacity)
    sent, skipped, in_flight = [], [], []
    for frame in range(300):
        if gate.blocked:
            waiting = gate.done()
            sent += [waiting] if waiting is not None else []
            in_flight.pop(0)
            in_flight += [waiting] if waiting is not None else []
        send, dropped = gate.offer(frame)
        sent += [send] if send is not None else []
        in_flight += [send] if send is not None else []
        skipped += [dropped] if dropped is not None else []
        assert gate.in_flight == len(in_flight) <= capacity
        if frame % 3 == 0 and in_flight:  # the pool finishes a frame every third decoded frame
            in_flight.pop(0)
            waiting = gate.done()
            if waiting is not None:
                sent.append(waiting)
                in_flight.append(waiting)
    held = [gate.pending] if gate.pending is not None else []
    assert sorted(sent + skipped + held) == list(range(300))
    assert sent == sorted(sent)
    if policy == "every":
        assert skipped == []


@pytest.mark.parametrize("policy", ["latest", "every"])
def test_pull_mode_hands_out_the_newest_frame_and_sends_nothing_by_itself(policy):
    gate = FrameGate(policy, capacity=0)  # shared detectors take frames; none is pushed
    assert gate.take() is None
    assert gate.offer(0) == (None, None)
    if policy == "latest":
        assert gate.offer(1) == (None, 0)  # replaced before anyone asked: skipped
        assert gate.take() == 1
    else:
        assert gate.blocked  # the decoder waits: nothing is skipped
        assert gate.take() == 0
    assert gate.take() is None and not gate.blocked and gate.in_flight == 0


def test_done_without_flight_is_a_bug():
    with pytest.raises(RuntimeError):
        FrameGate("latest", 1).done()


def test_capture_clock_prefers_rtcp_and_falls_back_to_arrival():
    clock = CaptureClock()
    assert clock.stamp(None, 1_000_000_000_000_000, 1000.5) == (1000.5, "arrival")
    assert clock.stamp(2.0, None, 1000.5) == (1000.5, "arrival")
    assert clock.stamp(2.0, 998_000_000, 1000.1) == (1000.0, "rtcp")


def test_capture_clock_stops_trusting_a_camera_clock_far_off():
    clock = CaptureClock(max_skew_s=10)
    assert clock.stamp(0.0, 3_600_000_000, 1000.0)[1] == "arrival"
    assert clock.stamp(0.0, 999_000_000, 1000.0) == (1000.0, "arrival"), "stays on arrival once distrusted"
