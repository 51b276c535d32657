"""The pixels a camera keeps for the display, without Ray: kept, asked for, let go, expired."""

from __future__ import annotations

import pytest

from mjray.camera.pixels import PixelHold, hold_for
from mjray.config import StreamConfig
from mjray.frames import Policy
from mjray.order.sync import for_display
from mjray.policy import parts


def test_pixels_are_kept_until_released_and_asked_for_by_seq():
    hold = PixelHold(max_age_s=30.0)
    for seq in range(5):
        hold.keep(seq, f"pixels {seq}", now=100.0)
    assert hold.get([3, 0, 9], now=101.0) == ["pixels 3", "pixels 0", None], "one never kept is None"
    assert hold.release(2) == 2 and len(hold) == 3
    assert hold.get([0, 1, 2], now=101.0) == [None, None, "pixels 2"]
    assert hold.release(1) == 0 and len(hold) == 3, "a release never takes back one made"


def test_a_frame_sent_after_its_seq_was_released_is_not_kept():
    hold = PixelHold(max_age_s=30.0)
    hold.keep(7, "pixels 7", now=0.0)
    hold.release(8)
    hold.keep(6, "pixels 6", now=0.1)  # a slower send of an older frame
    assert len(hold) == 0 and hold.get([6, 7], now=0.2) == [None, None]


def test_sends_finishing_out_of_order_are_still_released_in_seq_order():
    hold = PixelHold(max_age_s=30.0)
    for seq in (4, 2, 5, 3):
        hold.keep(seq, seq, now=0.0)
    assert hold.release(4) == 2 and hold.get([2, 3, 4, 5], now=0.0) == [None, None, 4, 5]


def test_pixels_the_driver_never_releases_go_after_max_age():
    hold = PixelHold(max_age_s=2.0)
    hold.keep(0, "old", now=0.0)
    hold.keep(1, "new", now=1.5)
    assert hold.get([0, 1], now=1.9) == ["old", "new"]
    assert hold.get([0, 1], now=2.5) == [None, "new"] and len(hold) == 1
    hold.keep(2, "newer", now=10.0)
    assert len(hold) == 1, "memory stays bounded by age with nobody asking"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_age_s"):
        PixelHold(max_age_s=0)


@pytest.mark.parametrize("policy", list(Policy))
def test_a_frame_shown_as_late_as_the_display_allows_still_has_its_pixels(policy):
    """One seat stalls after its first frame: the display shows the other's frames as far behind
    as it waits for a late seat, each after the longest wait in its reorder (a 5 fps camera: the
    sync's queue of 256 frames does not cut the wait short)."""
    lag, reorder_wait = parts(policy).display_lag_s, StreamConfig().max_wait_ms / 1000
    hold, sync = PixelHold(hold_for(lag, reorder_wait)), for_display(["ton", "nan"], 15, parts(policy))
    sync.add("nan", 0.0, -1)
    sent, shown, step = 0, 0, 1 / 5
    for tick in range(int(120 / step)):
        now = tick * step
        hold.keep(tick, f"ton {tick}", now)  # sent as captured
        while (sent + 1) * step + reorder_wait <= now:  # emitted once its reorder gave up on a lost frame
            sync.add("ton", sent * step, sent)
            sent += 1
        for moment in sync.moments(now):
            seq = moment.items["ton"]
            if seq is not None and seq >= 0:
                assert hold.get([seq], now) == [f"ton {seq}"], f"ton {seq} shown at {now:.1f} s without its pixels"
                shown += 1
    assert shown > 300, "the display showed the streaming seat"
