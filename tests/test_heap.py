"""HeapTrimmer: trims on its period, and really calls glibc here."""

from __future__ import annotations

from mjray.heap import HeapTrimmer


def test_it_trims_at_most_once_a_period_and_has_glibcs_malloc_trim_here():
    trimmer = HeapTrimmer(every_s=0.05, now=100.0)  # its clock given: a loaded box cannot make it trim twice
    assert trimmer._trim is not None, "this Linux box has glibc: the camera actors would grow without it"
    trimmer.tick(100.04)
    assert trimmer.trims == 0, "not before its first period"
    trimmer.tick(100.06)
    trimmer.tick(100.07)
    assert trimmer.trims == 1
