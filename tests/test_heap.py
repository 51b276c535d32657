"""HeapTrimmer: trims on its period, and really calls glibc here."""

from __future__ import annotations

import time

from mjray.heap import HeapTrimmer


def test_it_trims_at_most_once_a_period_and_has_glibcs_malloc_trim_here():
    trimmer = HeapTrimmer(every_s=0.05)
    assert trimmer._trim is not None, "this Linux box has glibc: the camera actors would grow without it"
    trimmer.tick()
    assert trimmer.trims == 0, "not before its first period"
    time.sleep(0.06)
    trimmer.tick()
    trimmer.tick()
    assert trimmer.trims == 1
