"""A camera's seqs and owed gaps (mjray.camera.ledger): never a seq twice, also across a restart, and
every gap sent on, with a frame or by itself."""

from __future__ import annotations

from mjray.camera.ledger import GapBatch, SeqLedger
from mjray.frames import Gap, GapReason, Lease, Resume


def test_seqs_are_claimed_in_leases_and_a_new_lease_is_asked_only_past_the_last():
    seqs = SeqLedger(lease_frames=4)
    assert seqs.claim(1) == (0, 5)  # nothing leased yet: lease up to 5 before using seq 0
    seqs.leased = 5
    assert [seqs.claim(1) for _ in range(4)] == [(1, None), (2, None), (3, None), (4, None)]
    assert seqs.claim(3) == (5, 12)  # 5..7 pass the lease
    assert seqs.next == 8


def test_a_lease_that_could_not_be_written_is_asked_for_again():
    seqs = SeqLedger(lease_frames=4)
    assert seqs.claim(1) == (0, 5)  # not written (a reorder restarting): leased stays 0
    assert seqs.claim(1) == (1, 6)


def test_a_restart_resumes_past_the_lease_and_counts_what_it_missed_as_offline():
    seqs = SeqLedger(lease_frames=16)
    # the dead camera leased up to 40; seq 30 (captured at 100.0) was the newest to reach the seat
    assert seqs.resume(Resume(Lease(seq_until=40, interval_s=0.1), 30, 100.0)) == 40
    assert seqs.resumed(100.04) == (False, 0, 0.0, 0.0)  # the same frame again (a replay that starts over)
    assert seqs.resume_from is not None
    # 3 s later: 29 frames due between 30 and this one; 31..39 were claimed already (gaps, or results on their way)
    past, missed, first_at, interval = seqs.resumed(103.0)
    assert past and missed == 29 - 9 and interval == 0.1 and abs(first_at - 101.0) < 1e-9
    assert seqs.resume_from is None


def test_a_restart_past_every_seq_that_reached_the_seat_even_beyond_its_lease():
    seqs = SeqLedger()
    assert seqs.resume(Resume(Lease(seq_until=10), 25, 5.0)) == 26
    assert seqs.resumed(6.0) == (True, 0, 0.0, 0.0)  # no interval known: nothing counted
    assert SeqLedger().resume(Resume()) == 0  # no ledger: from the start


def test_gaps_wait_for_a_frame_and_go_by_themselves_once_due():
    now = [0.0]
    batch = GapBatch(every_s=0.5, clock=lambda: now[0])
    assert not batch.add([Gap("ton", 1, GapReason.SKIPPED)])
    now[0] = 0.4
    assert not batch.add([Gap("ton", 2, GapReason.SKIPPED)]) and len(batch) == 2
    now[0] = 0.6
    assert batch.due()
    assert [g.seq for g in batch.take()] == [1, 2] and len(batch) == 0
    assert not batch.due()  # the clock starts again at the take
