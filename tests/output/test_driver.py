"""The one driver loop, without Ray: a pipeline stand-in that emits known items."""

from __future__ import annotations

import time

import numpy as np

from mjray.frames import CameraReport, CameraStatus, Detections, Frame, Gap, GapReason, Result, SeatReport
from mjray.order.sync import for_display
from mjray.output.driver import Driver
from mjray.output.sinks import BaseSink
from mjray.policy import parts

SEATS = ["ton", "nan"]


def result(seat: str, seq: int, captured_at: float) -> Result:
    frame = Frame(seat, seq, captured_at, "rtcp", seq * 6000, captured_at + 0.01, 64, 48)
    return Result(
        frame,
        Detections(np.zeros((1, 4), np.float32), np.ones(1, np.float32), np.zeros(1, np.int32)),
        5.0,
        "detector:shared:0",
        captured_at + 0.05,
    )


class ScriptedPipeline:
    """Emits `script[i]` on the i-th drain; ends when the script is done (as a replay does)."""

    keep_pixels = False

    def __init__(self, script: list[dict], last: dict | None = None) -> None:
        self.script, self.last, self.drains, self.stopped = list(script), last or {}, 0, False
        self.seat_names = SEATS

    def drain(self, wait_s: float):
        self.drains += 1
        return self.script.pop(0) if self.script else {}

    def ended(self) -> bool:
        return not self.script

    def stats(self):
        return {s: SeatReport(CameraReport(s, status=CameraStatus.STREAMING, fps=15.0)) for s in SEATS}

    def stop(self):
        self.stopped = True
        return self.last, {s: SeatReport(CameraReport(s, decoded=3)) for s in SEATS}


class Recorder(BaseSink):
    def __init__(self, stop_after: int | None = None) -> None:
        self.items, self.moments, self.closed, self.stop_after = [], [], False, stop_after

    @property
    def stop_requested(self) -> bool:
        return self.stop_after is not None and len(self.items) >= self.stop_after

    def write(self, item, emitted_at):
        self.items.append((item.seat, item.seq))

    def show(self, moments):
        self.moments += moments

    def close(self):
        self.closed = True


class CameraLog(Recorder):
    def __init__(self, stop_after_states: int | None = None) -> None:
        super().__init__()
        self.states, self.stop_after_states = [], stop_after_states

    @property
    def stop_requested(self) -> bool:
        return self.stop_after_states is not None and len(self.states) >= self.stop_after_states

    def cameras(self, states):
        self.states.append(states)


def test_each_status_period_hands_every_sink_each_cameras_state_and_a_seat_down_as_down():
    class HalfDown(ScriptedPipeline):
        def drain(self, wait_s):  # endless: ton's next frame on every drain
            self.drains += 1
            return {"ton": [result("ton", self.drains, now + self.drains / 15)]}

        def ended(self):
            return False

        def stats(self):
            return {
                s: SeatReport(
                    CameraReport(s, status=CameraStatus.STREAMING, fps=15.0), down="camera died" if s == "nan" else ""
                )
                for s in SEATS
            }

    now = time.time()
    watching, plain = CameraLog(stop_after_states=3), Recorder()  # a sink that shows no cameras needs no method
    driver = Driver(HalfDown([]), [watching, plain], status_every_s=0.05)
    # Three periods, however slow the box: counted, not timed (CI's loaded box once fitted one in 0.3 s).
    assert driver.run(duration_s=60) == "window closed"
    assert len(watching.states) == 3 and driver.elapsed_s >= 0.15 and plain.items  # no period comes early
    assert all(
        s
        == {
            "ton": CameraReport("ton", status=CameraStatus.STREAMING, fps=15.0),
            "nan": CameraReport("nan", status=CameraStatus.DOWN, fps=15.0),
        }
        for s in watching.states
    )


def test_every_item_reaches_every_sink_in_seat_order_and_moments_show_both_seats():
    now = time.time()
    script = [
        {"ton": [result("ton", 0, now)], "nan": [result("nan", 0, now + 0.01)]},
        {
            "ton": [Gap("ton", 1, GapReason.SKIPPED, now + 0.066), result("ton", 2, now + 0.133)],
            "nan": [result("nan", 1, now + 0.07), result("nan", 2, now + 0.14)],
        },
    ]
    pipeline = ScriptedPipeline(script, last={"ton": [result("ton", 3, now + 0.2)], "nan": []})
    sinks = [Recorder(), Recorder()]
    driver = Driver(pipeline, sinks, for_display(SEATS, 15, parts("latest")))
    why = driver.run(duration_s=10)
    driver.finish()
    driver.close()
    assert why == "every source ended" and pipeline.stopped
    for sink in sinks:
        assert [i for i in sink.items if i[0] == "ton"] == [("ton", s) for s in range(4)], "the last items too"
        assert [i for i in sink.items if i[0] == "nan"] == [("nan", s) for s in range(3)]
        assert sink.closed and any(all(m.items[s] is not None for s in SEATS) for m in sink.moments), (
            "no moment showed both seats"
        )
    tally = driver.tallies["ton"]
    assert tally.results == 3 and tally.gaps[GapReason.SKIPPED] == 1 and tally.out_of_order == 0
    assert len(driver.skews) and driver.skews.percentile(100) < 0.1


def test_the_run_stops_when_asked_by_a_sink_by_a_signal_or_by_its_duration():
    now = time.time()
    endless = [{"ton": [result("ton", i, now + i / 15)]} for i in range(1000)]
    assert Driver(ScriptedPipeline(list(endless)), [Recorder(stop_after=3)]).run() == "window closed"
    assert Driver(ScriptedPipeline(list(endless)), [Recorder()]).run(stop=lambda: "SIGTERM") == "SIGTERM"
    started = time.monotonic()
    slow = ScriptedPipeline(list(endless))
    slow.drain = lambda wait_s: time.sleep(0.01) or {}
    assert Driver(slow, [Recorder()]).run(duration_s=0.3) == "duration reached"
    assert 0.3 <= time.monotonic() - started < 3.0  # soon after: a few 10 ms steps, a loaded box's stall allowed


class KeepingPipeline(ScriptedPipeline):
    """Its cameras keep the pixels; the driver's releases and the sinks' moments go into one log."""

    keep_pixels = True

    def __init__(self, script: list[dict], log: list) -> None:
        super().__init__(script)
        self.log = log

    def release(self, below: dict[str, int]) -> None:
        self.log += [("release", seat, seq) for seat, seq in below.items()]


class ShowLog(Recorder):
    def __init__(self, log: list) -> None:
        super().__init__()
        self.log = log

    def show(self, moments):
        super().show(moments)
        self.log += [
            ("show", seat, item.seq) for m in moments[-1:] for seat, item in m.items.items() if item is not None
        ]


def test_the_cameras_let_go_of_pixels_only_once_no_moment_can_show_them(monkeypatch):
    monkeypatch.setattr("mjray.output.driver.RELEASE_EVERY_S", 0.0)
    now = time.time()
    script = [
        {"ton": [result("ton", i, now + i / 15)], "nan": [result("nan", i, now + i / 15 + 0.01)]} for i in range(40)
    ]
    log: list = []
    driver = Driver(KeepingPipeline(script, log), [ShowLog(log)], for_display(SEATS, 15, parts("latest")))
    driver.run(duration_s=10)
    released: dict[str, int] = {}
    for event, seat, seq in log:
        if event == "release":
            released[seat] = seq
        else:
            assert seq >= released.get(seat, 0), f"{seat} {seq} shown after its pixels were let go ({released})"
    assert released.get("ton", 0) >= 30 and released.get("nan", 0) >= 30, f"pixels kept for nothing: {released}"


def test_without_a_display_sync_pixels_are_let_go_once_taken(monkeypatch):
    monkeypatch.setattr("mjray.output.driver.RELEASE_EVERY_S", 0.0)
    now = time.time()
    log: list = []
    script = [
        {"ton": [result("ton", 0, now), Gap("ton", 1, GapReason.SKIPPED, now + 0.07)]},
        {"nan": [result("nan", 4, now)]},
    ]
    Driver(KeepingPipeline(script, log), [Recorder()]).run(duration_s=10)
    assert log == [("release", "ton", 2), ("release", "nan", 5)]
