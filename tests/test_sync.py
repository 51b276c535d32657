"""SeatSync: seats shown together are aligned in capture time, and no seat can freeze the rest."""

import pytest

from mjray.sync import SeatSync

SEATS = ("ton", "nan", "sha", "pei")


def feed(sync, seat, times):
    for t in times:
        sync.add(seat, t, (seat, t))


def test_moments_show_each_seats_newest_frame_at_or_before_the_cursor():
    sync = SeatSync(SEATS, period_s=0.1, max_lag_s=5)
    offsets = {"ton": 0.0, "nan": 0.03, "sha": 0.05, "pei": 0.08}  # cameras not in phase
    for seat, off in offsets.items():
        feed(sync, seat, [100 + off + k / 15 for k in range(30)])
    moments = sync.moments(now=100.5)
    assert len(moments) >= 15
    for m in moments:
        for seat, item in m.items.items():
            assert item is not None and item[1] <= m.at
            assert m.at - item[1] < 1 / 15 + 1e-9, "the newest frame before the cursor, not an older one"
        assert m.skew_s < 1 / 15 + 1e-9


def test_waits_for_a_seat_that_is_behind_until_it_lags_too_long():
    sync = SeatSync(("ton", "nan"), period_s=0.1, max_lag_s=1.0)
    feed(sync, "ton", [10.0, 10.1, 10.2, 10.3])
    feed(sync, "nan", [10.0])
    assert [m.at for m in sync.moments(now=10.5)] == []  # nan has nothing after 10.0 yet
    late = sync.moments(now=11.25)
    assert late and late[0].at == pytest.approx(10.0)
    assert late[-1].items["nan"] == ("nan", 10.0), "a stalled seat keeps showing its last frame"


def test_a_seat_that_never_starts_does_not_block_the_others_forever():
    sync = SeatSync(("ton", "nan"), period_s=0.5, max_lag_s=1.0)
    feed(sync, "ton", [1.0, 1.5, 2.0])
    assert sync.moments(now=1.2) == []
    moments = sync.moments(now=3.5)
    assert moments and moments[0].items["nan"] is None and moments[0].skew_s is None


def test_capture_time_going_backwards_keeps_sequence_order():
    sync = SeatSync(("ton",), period_s=0.1, max_lag_s=1.0)
    feed(sync, "ton", [5.0, 4.9, 5.15, 5.3])  # a clock-source switch: the second frame is stamped earlier
    shown = [m.items["ton"] for m in sync.moments(now=5.25)]
    assert shown == [("ton", 4.9), ("ton", 4.9), ("ton", 5.15)], "never back to an earlier frame"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        SeatSync(SEATS, period_s=0, max_lag_s=1)
