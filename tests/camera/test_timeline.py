"""Every frame a camera sent is accounted for: the timeline finds the ones that never came."""

from __future__ import annotations

import pytest

from mjray.camera.timeline import MissingFrames, Timeline

FPS = 15
T = 1 / FPS


def feed(timeline: Timeline, frames: list[int], start: float = 1000.0, offset_pts: float = 0.0):
    """Frames by their index in the camera's timeline; what went missing before each."""
    return [(i, timeline.frame(offset_pts + i * T, start + i * T)) for i in frames]


def test_a_steady_stream_misses_nothing():
    assert all(m is None for _, m in feed(Timeline(), list(range(100))))


@pytest.mark.parametrize("gone", [[10], [10, 11, 12], [50, 51, 52, 53, 54, 55, 56, 57, 58, 59]])
def test_frames_gone_in_transit_are_lost_with_their_capture_times(gone):
    timeline = Timeline()
    got = feed(timeline, [i for i in range(100) if i not in gone])
    missing = [(i, m) for i, m in got if m is not None]
    assert len(missing) == 1
    at, m = missing[0]
    assert at == gone[-1] + 1 and m.reason == "lost" and m.count == len(gone)
    assert m.first_captured_at == pytest.approx(1000.0 + gone[0] * T) and m.interval_s == pytest.approx(T)


def test_every_other_frame_dropped_upstream_is_counted_not_taken_for_a_slower_camera():
    timeline = Timeline()
    got = feed(timeline, list(range(20)) + list(range(20, 200, 2)))
    assert sum(m.count for _, m in got if m) == 89  # 21, 23, ..., 197: one frame gone before each of 22..198
    assert timeline.interval_s == pytest.approx(T)


def test_a_reconnect_counts_the_frames_sent_while_unreachable_as_offline():
    timeline = Timeline()
    feed(timeline, list(range(60)))
    timeline.reconnected()
    # 10 s later, the new connection's timestamps start again at 0
    missing = timeline.frame(0.0, 1000.0 + 59 * T + 10.0)
    assert missing == MissingFrames("offline", 149, pytest.approx(1000.0 + 60 * T), pytest.approx(T))
    assert timeline.frame(T, 1000.0 + 59 * T + 10.0 + T) is None, "then the new connection's steps count"


def test_a_camera_still_down_at_the_end_counts_up_to_then():
    timeline = Timeline()
    feed(timeline, list(range(30)))
    last = 1000.0 + 29 * T
    missing = timeline.until(last + 2.0)
    assert missing.reason == "offline" and missing.count == 30
    assert timeline.until(last + 2.0) is None, "counted once"


def test_a_clock_that_steps_back_or_stands_still_is_no_loss():
    timeline = Timeline()
    feed(timeline, list(range(30)))
    assert timeline.frame(0.5, 1003.0) is None  # pts back to 0.5 s
    assert timeline.frame(0.5, 1003.1) is None


def test_before_the_interval_is_known_nothing_is_guessed():
    timeline = Timeline()
    assert timeline.frame(0.0, 1000.0) is None and timeline.frame(1.0, 1001.0) is None
    timeline.reconnected()
    assert timeline.frame(0.0, 1010.0) is None


def test_a_timestamp_jumping_far_past_the_time_that_passed_is_a_clock_jump_not_a_loss():
    timeline = Timeline()
    feed(timeline, list(range(30)))
    assert timeline.frame(29 * T + 3600.0, 1000.0 + 30 * T) is None, "an hour of 'lost' frames in 1/15 s"
    assert timeline.frame(29 * T + 3600.0 + T, 1000.0 + 31 * T) is None, "and it goes on from the new clock"
    missing = timeline.frame(29 * T + 3600.0 + 3 * T, 1000.0 + 33 * T)
    assert missing is not None and missing.count == 1
