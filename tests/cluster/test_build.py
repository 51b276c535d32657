"""The build, before and around Ray (`mjray.cluster.build`): what it asks of the cluster, what a failed start leaves, the shutdown."""

from __future__ import annotations

import dataclasses

import pytest

from mjray.cluster.build import Builder, Graph, name_detectors
from mjray.cluster.health import SeatHealth
from mjray.cluster.placement import Need
from mjray.config import AppConfig, CameraConfig, PoolConfig

SEATS = ["ton", "nan"]


def builder(pool: PoolConfig, cameras: list[CameraConfig] | None = None) -> Builder:
    cfg = dataclasses.replace(AppConfig(), pool=pool, cameras=cameras or [])
    seats = [c.seat for c in cameras] if cameras else SEATS
    health = SeatHealth(seats)
    name_detectors(pool, seats, health)
    return Builder(cfg, dict.fromkeys(seats), False, pool, health, Graph())


def test_a_pool_per_camera_names_each_seats_detectors_and_a_shared_pool_names_none_of_a_seat():
    own = builder(PoolConfig(shared_workers=0, workers_per_camera=2)).health
    assert own.shared == [] and own.own == {
        "ton": ["detector:ton:0", "detector:ton:1"],
        "nan": ["detector:nan:0", "detector:nan:1"],
    }
    assert own.detectors == ["detector:ton:0", "detector:ton:1", "detector:nan:0", "detector:nan:1"]
    shared = builder(PoolConfig(shared_workers=2, workers_per_camera=3)).health
    assert shared.own == {"ton": [], "nan": []} and shared.detectors == ["detector:shared:0", "detector:shared:1"]


def test_every_camera_and_detector_asks_for_its_resources_naming_the_setting_that_asked():
    pool = PoolConfig(
        shared_workers=0,
        workers_per_camera=1,
        camera_cpus=0.5,
        cpus_per_worker=1.0,
        gpus_per_worker=0.25,
        resources={"gpu_box": 1},
        camera_resources={"room_a": 0.01},
    )
    cameras = [CameraConfig("ton", "rtsp://a"), CameraConfig("nan", "rtsp://b", resources={"room_b": 0.5})]
    assert builder(pool, cameras).needs() == [
        Need("camera ton", "pool.camera_resources", {"CPU": 0.5, "room_a": 0.01}),
        Need("camera nan", "cameras[1].resources", {"CPU": 0.5, "room_b": 0.5}),
        Need("detector detector:ton:0", "pool.resources", {"CPU": 1.0, "GPU": 0.25, "gpu_box": 1.0}),
        Need("detector detector:nan:0", "pool.resources", {"CPU": 1.0, "GPU": 0.25, "gpu_box": 1.0}),
    ]


def test_cameras_sharing_a_process_ask_for_theirs_together_on_one_node_and_the_detectors_are_told_where():
    pool = PoolConfig(camera_cpus=0.25, cameras_per_process=4, camera_resources={"room_a": 0.01})
    made = builder(pool, [CameraConfig("ton", "rtsp://a"), CameraConfig("nan", "rtsp://b")])
    assert made.needs()[0] == Need(
        "the process of cameras ton, nan",
        "pool.camera_resources and pool.cameras_per_process",
        {"CPU": 0.5, "room_a": 0.02},
    )
    assert made.hosts() == {"camera:ton": "cameras:ton+nan", "camera:nan": "cameras:ton+nan"}
    pinned = [CameraConfig("ton", "rtsp://a"), CameraConfig("nan", "rtsp://b", resources={"room_b": 0.5})]
    apart = builder(pool, pinned)  # placed apart: a process each, asked for as before
    assert apart.camera_groups() == [["ton"], ["nan"]] and apart.hosts() == {}
    assert [need.who for need in apart.needs()[:2]] == ["camera ton", "camera nan"]


def test_reorders_sharing_a_process_go_in_seat_order_and_cameras_and_detectors_are_told_where():
    seats = [CameraConfig(seat, f"rtsp://{seat}") for seat in ("ton", "nan", "sha", "pei", "extra")]
    made = builder(PoolConfig(reorders_per_process=2), seats)
    assert made.reorder_groups() == [["ton", "nan"], ["sha", "pei"], ["extra"]]
    assert made.hosts() == {
        "reorder:ton": "reorders:ton+nan",
        "reorder:nan": "reorders:ton+nan",
        "reorder:sha": "reorders:sha+pei",
        "reorder:pei": "reorders:sha+pei",
    }
    both = builder(PoolConfig(reorders_per_process=4, cameras_per_process=4), seats[:2])
    assert both.hosts() == {
        "camera:ton": "cameras:ton+nan",
        "camera:nan": "cameras:ton+nan",
        "reorder:ton": "reorders:ton+nan",
        "reorder:nan": "reorders:ton+nan",
    }
    assert [need.who for need in both.needs()][0] == "the process of cameras ton, nan"  # reorders ask nothing


def test_a_seats_detectors_are_in_the_graph_as_each_starts_so_a_failed_start_leaves_none_unknown(monkeypatch):
    """The second detector of a seat fails to start: the first is in the graph, for the shutdown."""
    from mjray.cluster import build
    from mjray.cluster.build import Seat

    made = builder(PoolConfig(shared_workers=0, workers_per_camera=2))
    started = []

    def start_one(cls, name, args, **options):
        if name.endswith(":1"):
            raise RuntimeError(f"{name}: an actor of that name is still alive")
        started.append(name)
        return name

    monkeypatch.setattr(build.DETECTOR, "start_one", start_one)
    made.graph.seats = {seat: Seat(None, None, []) for seat in SEATS}
    with pytest.raises(RuntimeError, match="detector:ton:1"):
        made.start_detectors({})
    assert started == ["detector:ton:0"] and made.graph.detectors == ["detector:ton:0"]


def test_shutdown_kills_the_detectors_then_the_cameras_and_reorders_then_the_rounds(monkeypatch):
    from mjray.cluster import pipeline
    from mjray.cluster.build import Seat

    killed = []
    monkeypatch.setattr(pipeline.ray, "kill", killed.append)
    run = pipeline.Pipeline(AppConfig(), dict.fromkeys(SEATS), keep_pixels=False)
    run.graph.seats = {seat: Seat(None, f"reorder:{seat}", [f"detector:{seat}:0"], f"camera:{seat}") for seat in SEATS}
    run.graph.rounds = "rounds"
    run.shutdown()
    assert killed == [
        "detector:ton:0",
        "detector:nan:0",
        "camera:ton",
        "reorder:ton",
        "camera:nan",
        "reorder:nan",
        "rounds",
    ]
    assert run.graph.detectors == [] and run.graph.rounds is None
