"""SeatSync: seats shown together are aligned in capture time, and no seat can freeze the rest."""

import pytest

from mjray.order.sync import SeatSync

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
        for item in m.items.values():
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


def test_in_rounds_a_moment_shows_the_newest_complete_round_without_waiting_for_the_next():
    sync = SeatSync(SEATS, period_s=1 / 15, max_lag_s=5, rounds=True)
    jitter = {"ton": -0.03, "nan": 0.0, "sha": 0.02, "pei": 0.033}  # capture times around the instants
    for seat in SEATS:  # items placed at their round's instant: the same for every seat
        for instant in (100.0, 100.25):
            sync.add(seat, instant + jitter[seat], (seat, instant), instant)
    sync.add("ton", 100.47, ("ton", 100.5), 100.5)  # the next round has begun: ton's is in, the others' not yet
    moments = sync.moments(now=100.6)
    assert moments and moments[-1].at <= 100.5 + 1 / 15
    for m in moments:
        point = 100.0 if m.at < 100.25 else 100.25
        assert all(item == (seat, point) for seat, item in m.items.items()), m
        assert m.skew_s == pytest.approx(0.063)  # of the capture times, not of the instants
    assert moments[-1].at > 100.45  # every moment up to the new round's instant is out already
    for seat in SEATS[1:]:
        sync.add(seat, 100.5 + jitter[seat], (seat, 100.5), 100.5)
    later = sync.moments(now=100.6)
    assert later and all(item == (seat, 100.5) for seat, item in later[0].items.items())


def test_in_rounds_a_seat_missing_from_the_newest_round_holds_it_back():
    sync = SeatSync(("ton", "nan"), period_s=0.1, max_lag_s=5, rounds=True)
    feed(sync, "ton", [10.0, 10.3, 10.6])
    feed(sync, "nan", [10.0])
    shown = sync.moments(now=10.7)
    assert [m.at for m in shown] == pytest.approx([10.0, 10.1, 10.2])  # not 10.3: nan's round 10.3 is not in
    assert all(m.items == {"ton": ("ton", 10.0), "nan": ("nan", 10.0)} for m in shown)
    feed(sync, "nan", [10.3])
    shown = sync.moments(now=10.7)
    assert [m.at for m in shown] == pytest.approx([10.3, 10.4, 10.5])
    assert all(m.items == {"ton": ("ton", 10.3), "nan": ("nan", 10.3)} for m in shown)


def test_without_rounds_the_same_items_wait_for_the_next_ones():
    sync = SeatSync(SEATS, period_s=1 / 15, max_lag_s=5)
    for seat in SEATS:
        feed(sync, seat, [100.0, 100.25])
    moments = sync.moments(now=100.6)
    assert moments[-1].at < 100.25  # the 100.25 items show only once something later comes
    assert all(item == (seat, 100.0) for m in moments for seat, item in m.items.items())


def test_the_display_sync_follows_the_stream_policy():
    from mjray.order.sync import for_display
    from mjray.policy import parts

    assert (
        for_display(SEATS, 15, parts("latest")).max_lag_s == 2.0 and not for_display(SEATS, 15, parts("latest")).rounds
    )
    assert for_display(SEATS, 15, parts("every")).max_lag_s == 30.0  # nothing is skipped: wait for slow seats
    assert for_display(SEATS, 15, parts("aligned")).rounds


def test_oldest_is_the_item_a_moment_may_still_show():
    sync = SeatSync(["ton", "nan"], period_s=0.1, max_lag_s=1.0)
    assert sync.oldest("ton") is None
    sync.add("ton", 0.0, "ton 0")
    sync.add("ton", 0.05, "ton 1")
    assert sync.oldest("ton") == "ton 0", "the first waiting"
    sync.add("nan", 0.02, "nan 0")
    sync.add("nan", 0.2, "nan 1")
    sync.add("ton", 0.2, "ton 2")
    assert sync.moments(now=0.21)
    assert sync.oldest("ton") == "ton 1" and sync.oldest("nan") == "nan 0", (
        "the one shown last: shown again until a newer comes"
    )
