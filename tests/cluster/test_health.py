"""Which seats are down, from the actors Ray gave up on (`mjray.cluster.health`)."""

from __future__ import annotations

from mjray.cluster.clients import CAMERA, DETECTOR, REORDER, ROUNDS
from mjray.cluster.health import SeatHealth
from mjray.frames import Restarts

SEATS = ["ton", "nan", "sha"]


def own_pools() -> SeatHealth:
    return SeatHealth(SEATS, own={seat: [DETECTOR.own(seat, i) for i in range(2)] for seat in SEATS})


def test_a_seat_is_down_once_all_its_own_detectors_are_dead_and_the_others_go_on():
    health = own_pools()
    assert health.judge({DETECTOR.own("nan", 0)}) == ({}, []), "one of two still infers"
    newly, reorders = health.judge({DETECTOR.own("nan", 0), DETECTOR.own("nan", 1)})
    assert newly == {"nan": "its detectors died and none was restarted"} and reorders == []
    assert health.judge({DETECTOR.own("nan", 0), DETECTOR.own("nan", 1)}) == ({}, []), "said once"
    assert health.down == {"nan": "its detectors died and none was restarted"}


def test_a_dead_reorder_takes_its_seat_down_once_and_asks_for_its_camera_to_stop():
    health = own_pools()
    assert health.judge({REORDER.name("sha"), CAMERA.name("ton")}) == (
        {"sha": "reorder died and was not restarted"},
        ["sha"],
    ), "a camera dead for good is the pipeline's to find (its calls fail)"
    assert health.judge({REORDER.name("sha")}) == ({}, []) and health.reorder_dead == {"sha"}
    assert not health.mark("sha", "another reason") and health.down["sha"] == "reorder died and was not restarted"


def test_every_seat_is_down_with_every_shared_detector_or_the_rounds_actor_dead():
    shared = [DETECTOR.shared(i) for i in range(2)]
    health = SeatHealth(SEATS, own={seat: [] for seat in SEATS}, shared=shared)
    assert health.judge({shared[0], ROUNDS.name()}) == ({}, []), "no rounds actor in this run; one detector left"
    newly, _ = health.judge(set(shared))
    assert newly == dict.fromkeys(SEATS, "every shared detector died and none was restarted")
    aligned = SeatHealth(SEATS, own={seat: [] for seat in SEATS}, shared=shared, rounds=True)
    assert aligned.judge({ROUNDS.name()})[0] == dict.fromkeys(SEATS, "the rounds actor died and was not restarted")


def test_restarts_are_summed_per_seat_and_for_what_every_seat_shares():
    health = SeatHealth(SEATS, own={"ton": [DETECTOR.own("ton", 0), DETECTOR.own("ton", 1)]}, shared=["x"])
    restarted = {CAMERA.name("ton"): 2, DETECTOR.own("ton", 0): 1, DETECTOR.own("ton", 1): 3, "x": 1, ROUNDS.name(): 1}
    assert health.restarts("ton", restarted) == Restarts(camera=2, reorder=0, detectors=4, shared=2)
    assert health.restarts("nan", {}) == Restarts()
    assert health.restarts("ton", restarted).own() == {"camera": 2, "detectors": 4}
