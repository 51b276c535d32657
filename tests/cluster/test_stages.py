"""CPU by stage: each thread's own CPU, summed across threads and processes, and over a window."""

from __future__ import annotations

import threading
import time

from mjray.cluster.stages import StageClock, since, total


def spin(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


def test_a_stage_counts_its_threads_cpu_not_its_waits():
    clock = StageClock()
    with clock.stage("decode"):
        spin(0.05)
    with clock.stage("decode"):
        time.sleep(0.2)  # waiting for a packet costs the box nothing
    with clock.stage("forward pass", count=4):  # a batch of four frames
        spin(0.02)
    got = clock.as_dict()
    assert got["decode"]["n"] == 2 and 0.05 <= got["decode"]["s"] < 0.1
    assert got["forward pass"]["n"] == 4 and got["forward pass"]["s"] >= 0.02


def test_stages_timed_on_several_threads_all_count():
    clock = StageClock()

    def work() -> None:
        for _ in range(500):
            clock.add("convert", 0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.counts["convert"] == 2000 and abs(clock.seconds["convert"] - 2.0) < 1e-9


def test_processes_readings_sum_and_a_window_is_their_difference():
    a = {"decode": {"s": 1.0, "n": 10}}
    b = {"decode": {"s": 2.0, "n": 20}, "convert": {"s": 0.5, "n": 5}}
    before = total([a, b])
    assert before == {"decode": {"s": 3.0, "n": 30}, "convert": {"s": 0.5, "n": 5}}
    after = total([{"decode": {"s": 1.5, "n": 15}}, {"decode": {"s": 2.5, "n": 25}, "convert": {"s": 0.5, "n": 5}}])
    assert since(before, after) == {"decode": {"s": 1.0, "n": 10}, "convert": {"s": 0.0, "n": 0}}
    assert since({}, a) == a, "a stage first timed in the window"


def test_a_stage_inside_another_is_not_counted_twice():
    clock = StageClock()
    with clock.stage("take"):
        spin(0.02)
        with clock.stage("convert"):
            spin(0.05)
    with clock.stage("take"):
        spin(0.02)
    got = clock.as_dict()
    assert 0.05 <= got["convert"]["s"] < 0.065
    assert 0.04 <= got["take"]["s"] < 0.055, "the take's own time, without the conversion in it"


def test_work_on_a_librarys_own_threads_counts_in_its_stage_and_takes_nothing_from_the_outer_one():
    clock = StageClock()
    with clock.stage("serve"):
        spin(0.01)
        with clock.stage("forward pass", clock=time.process_time):  # ONNX Runtime on several threads
            worker = threading.Thread(target=spin, args=(0.05,))
            worker.start()
            worker.join()
    got = clock.as_dict()
    assert got["forward pass"]["s"] >= 0.05, "the library's threads' CPU is the stage's"
    assert 0.01 <= got["serve"]["s"] < 0.03, "the outer stage is charged only what its own thread did"
