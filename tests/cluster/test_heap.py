"""HeapTrimmer: trims on its period, and really calls glibc here."""

from __future__ import annotations

from mjray.cluster.heap import HeapTrimmer


def test_it_trims_at_most_once_a_period_and_has_glibcs_malloc_trim_here():
    trimmer = HeapTrimmer(every_s=0.05, now=100.0)  # its clock given: a loaded box cannot make it trim twice
    assert trimmer._trim is not None, "this Linux box has glibc: the camera actors would grow without it"
    trimmer.tick(100.04)
    assert trimmer.trims == 0, "not before its first period"
    trimmer.tick(100.06)
    trimmer.tick(100.07)
    assert trimmer.trims == 1


def test_mjray_workers_start_with_few_arenas_unless_the_environment_says(monkeypatch):
    from mjray.main import worker_env

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    env = worker_env()
    assert env["MALLOC_ARENA_MAX"] == "2" and env["YOLO_OFFLINE"] == "1"
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # a user's choice: inherited by Ray's workers as it is
    assert "MALLOC_ARENA_MAX" not in worker_env()


def test_rays_processes_report_no_task_events_unless_the_environment_says(monkeypatch):
    from mjray.main import TASK_EVENTS, worker_env

    monkeypatch.delenv(TASK_EVENTS, raising=False)
    assert worker_env()[TASK_EVENTS] == "0", "Ray's control store kept a run's task events: it grew all run"
    monkeypatch.setenv(TASK_EVENTS, "1000")  # a user who wants the dashboard's task views
    assert worker_env()[TASK_EVENTS] == "1000"
