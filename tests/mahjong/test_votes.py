"""A tile's votes and the hand's tiles named together (`mjray.mahjong.votes`)."""

from __future__ import annotations

from mjray.mahjong.votes import Track, name_sorted, sorts_to

HAND = ["1m", "2m", "3m", "5p", "6p", "7p", "8p", "2s", "3s", "4s", "1z", "1z", "5z"]


def track(label: str, reads: int = 10) -> Track:
    out = Track(48)
    for _ in range(reads):
        out.vote(label, 0.9, 1.0)
    return out


def test_a_steady_read_that_cannot_lie_where_it_is_yields_to_one_that_can():
    tracks = [track(label) for label in HAND]
    tracks[5] = track("1s", 6)  # 7p steadily confused with 1s, read as 7p now and then
    for _ in range(4):
        tracks[5].vote("7p", 0.9, 1.0)
    assert tracks[5].label == "1s"
    assert name_sorted(tracks) == HAND


def test_a_tile_left_loose_is_named_by_its_reads_and_the_others_in_order_around_it():
    held = HAND[:4] + HAND[5:] + ["7p"]  # the drawn 7p kept at the row's end, out of order
    tracks = [track(label) for label in held]
    assert name_sorted(tracks)[-1] != "7p", "sorted, the end cannot hold a 7p"
    tracks = [track(label) for label in held]
    tracks[-1].loose = True
    assert name_sorted(tracks) == held
    rest = tracks[:-1]
    assert sorts_to(rest, "7p") == range(5, 6) and sorts_to(tracks, "9p") == range(6, 7), "a loose tile sets no bound"


def test_a_tile_renamed_drops_its_misreads_and_keeps_the_new_name_against_them():
    """Read 1p twenty times, then found to be a 4m (misread while loose): renamed, one read of 4m
    holds it, where the old reads would have outweighed that read by far."""
    track = Track(window=48)
    for _ in range(20):
        track.vote("1p", 0.9, margin=1.0)
    track.rename("4m")
    assert track.tile() == "4m" and track.total == 0.0 and not track.votes
    track.vote("4m", 0.9, margin=1.0)
    assert track.tile() == "4m" and track.confidence() == 1.0
