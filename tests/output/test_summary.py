"""What a run did, per seat: the percentiles of a whole run, kept in constant memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mjray.frames import Detections, Frame, Gap, GapReason, Result
from mjray.output.summary import Quantiles, SeatTally, Summary


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_are_within_one_percent_of_numpys(seed):
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.lognormal(-1.5, 1.0, 20_000), rng.uniform(0.001, 30.0, 5_000)])
    q = Quantiles()
    q.extend(values)
    assert len(q) == len(values)
    for p in (1, 10, 50, 90, 99, 99.9):
        true = np.percentile(values, p, method="lower")
        assert abs(q.percentile(p) - true) <= 0.01 * true, p
    assert q.percentile(0) == values.min() and q.percentile(100) == values.max()


def test_memory_stays_the_same_however_many_values_come():
    q = Quantiles()
    size = q._counts.nbytes
    for i in range(100_000):
        q.add(0.001 * (i % 5000 + 1))
    assert q._counts.nbytes == size < 64 * 1024


def test_edges_none_one_zero_negative_and_past_the_top():
    q = Quantiles()
    assert math.isnan(q.percentile(50))
    q.add(0.25)
    assert q.percentile(0) == q.percentile(50) == q.percentile(99) == q.percentile(100) == 0.25
    q = Quantiles()
    q.extend([-0.002, 0.0, 0.0, 1e9, float("nan"), float("inf")])  # not finite: not counted
    assert q.percentile(0) == -0.002 and q.percentile(100) == 1e9
    assert 0 <= q.percentile(50) <= 1e-4  # zero and below count at the bottom
    assert q.percentile(99) <= 1e9 and len(q) == 4


def test_a_summary_gives_latency_and_inference_percentiles_of_every_result():
    tally = SeatTally("ton")
    det = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))
    latencies, inference = [], []
    for seq in range(200):
        frame = Frame("ton", seq, 100.0 + seq, "arrival", seq, 100.0 + seq, 64, 36)
        if seq % 10 == 9:
            tally.add(Gap("ton", seq, GapReason.SKIPPED, frame.captured_at), 0.0)
        else:
            latencies.append(50.0 + seq % 50)
            inference.append(10.0 + seq % 7)
            tally.add(Result(frame, det, inference[-1], "w", 0.0), frame.captured_at + latencies[-1] / 1000)
    skews = Quantiles()
    skews.extend([0.01] * 99 + [0.5])
    seat = Summary.build({"ton": tally}, {}, 10.0, skews)
    s = seat.seats[0]
    assert (s.inferred, s.skipped, s.emitted) == (180, 20, 200)
    assert s.latency_max_ms == pytest.approx(max(latencies), abs=0.01)
    for p, got in ((50, s.latency_p50_ms), (99, s.latency_p99_ms)):
        assert got == pytest.approx(np.percentile(latencies, p, method="lower"), rel=0.01)
    assert s.infer_p50_ms == pytest.approx(np.percentile(inference, 50, method="lower"), rel=0.01)
    assert seat.skew_p50_ms == pytest.approx(10.0, rel=0.01) and seat.skew_p99_ms == pytest.approx(10.0, rel=0.01)


def test_the_summary_says_which_decoder_each_seat_got_grouped():
    from mjray.frames import CameraReport, SeatReport

    decoders = {"ton": "NVDEC (cuda)", "nan": "software: no CUDA device", "sha": "NVDEC (cuda)", "pei": ""}
    final = {seat: SeatReport(CameraReport(seat, decoder=decoder)) for seat, decoder in decoders.items()}
    summary = Summary.build({seat: SeatTally(seat) for seat in decoders}, final, 10.0, Quantiles())
    assert [s.decoder for s in summary.seats] == list(decoders.values())
    lines = summary.table().splitlines()
    assert [line for line in lines if line.startswith("decoding ")] == [
        "decoding NVDEC (cuda): ton, sha",
        "decoding software: no CUDA device: nan",
    ]
