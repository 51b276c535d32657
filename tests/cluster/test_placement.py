"""Placement: pool=auto follows the cluster's GPUs; a resource no node has is one line naming the actor."""

from __future__ import annotations

import pytest

from mjray.cluster.placement import Need, Node, check_placement, nodes_from_ray, pool_for, unplaceable
from mjray.config import AppConfig, CameraConfig, ConfigError, PoolConfig, camera_resources, validate

HEAD = Node("10.0.0.1", {"CPU": 2.0})
CAMS = Node("10.0.0.2", {"CPU": 1.0, "room_a": 1.0})
GPUS = Node("10.0.0.3", {"CPU": 8.0, "GPU": 2.0, "gpu_box": 1.0})


def test_auto_pool_splits_the_gpus_among_a_detector_pool_per_camera():
    auto = PoolConfig(auto=True, shared_workers=2, workers_per_camera=2)
    pool, said = pool_for(auto, cameras=4, gpus=1.0, shared_only=False)
    assert (pool.shared_workers, pool.workers_per_camera, pool.gpus_per_worker, pool.auto) == (0, 2, 0.125, False)
    assert "1 GPUs" in said and "0.125 GPU each" in said
    pool, _ = pool_for(auto, cameras=3, gpus=1.0, shared_only=False)
    assert pool.gpus_per_worker == 0.1666  # rounded down to Ray's 1e-4: six of them fit on one GPU
    pool, _ = pool_for(auto, cameras=1, gpus=8.0, shared_only=False)
    assert pool.gpus_per_worker == 1.0  # at most a whole GPU each
    pool, _ = pool_for(PoolConfig(auto=True, workers_per_camera=2), cameras=4, gpus=3.0, shared_only=False)
    assert pool.gpus_per_worker == 0.3333  # 8 on 3 GPUs: 3 a GPU (0.375 would leave 2 pending)
    pool, _ = pool_for(PoolConfig(auto=True, workers_per_camera=2), cameras=3, gpus=4.0, shared_only=False)
    assert pool.gpus_per_worker == 0.5  # 6 on 4 GPUs: 2 a GPU (0.6666 would fit only 4)
    assert auto == PoolConfig(auto=True, shared_workers=2, workers_per_camera=2), "the config is left as given"
    for gpus in (0.0, 1.0):
        given = PoolConfig(auto=True, shared_workers=2)
        pool_for(given, cameras=4, gpus=gpus, shared_only=False)
        assert given == PoolConfig(auto=True, shared_workers=2)


def test_auto_pool_with_batches_keeps_the_shared_detectors_and_splits_the_gpus_among_them():
    batched = PoolConfig(auto=True, shared_workers=2, workers_per_camera=2, batch_size=8)
    pool, said = pool_for(batched, cameras=16, gpus=1.0, shared_only=False)
    assert (pool.shared_workers, pool.gpus_per_worker, pool.batch_size, pool.auto) == (2, 0.5, 8, False)
    assert "2 shared detectors in batches of up to 8 frames, 0.5 GPU each" in said


def test_auto_pool_stays_on_cpus_where_the_model_cannot_use_the_gpus():
    pool, said = pool_for(
        PoolConfig(auto=True, shared_workers=2),
        cameras=4,
        gpus=1.0,
        shared_only=False,
        gpu_unusable="the ONNX model needs onnxruntime-gpu",
    )
    assert (pool.shared_workers, pool.gpus_per_worker) == (2, 0.0) and "needs onnxruntime-gpu" in said


def test_auto_pool_without_gpus_keeps_the_shared_cpu_workers_and_an_explicit_pool_is_kept():
    auto = PoolConfig(auto=True, shared_workers=2)
    pool, said = pool_for(auto, cameras=4, gpus=0.0, shared_only=False)
    assert (pool.shared_workers, pool.gpus_per_worker) == (2, 0.0) and "no GPU" in said
    pool, said = pool_for(auto, cameras=4, gpus=2.0, shared_only=True)  # policy aligned: shared workers, GPU halves
    assert (pool.shared_workers, pool.gpus_per_worker) == (2, 1.0)
    explicit = PoolConfig(shared_workers=2)
    assert pool_for(explicit, cameras=4, gpus=2.0, shared_only=False) == (explicit, "")


def test_a_resource_no_node_has_names_the_camera_the_setting_and_what_to_run():
    needs = [Need("camera ton", "cameras[0].resources", {"CPU": 0.1, "room_b": 0.01})]
    problem = unplaceable(needs, [HEAD, CAMS, GPUS])
    assert problem.startswith("cameras[0].resources: camera ton needs resource 'room_b', which no node")
    assert "room_a" in problem and """ray start --resources='{"room_b": 1}'""" in problem
    with pytest.raises(ConfigError, match="room_b"):
        check_placement(needs, [HEAD, CAMS, GPUS])


def test_resources_that_exist_only_on_different_nodes_are_refused_and_those_on_one_node_pass():
    apart = [Need("detector detector:ton:0", "pool.resources", {"CPU": 1.0, "GPU": 0.25, "room_a": 0.01})]
    assert "no node has that" in unplaceable(apart, [HEAD, CAMS, GPUS])
    together = [
        Need("camera ton", "pool.camera_resources", {"CPU": 0.1, "room_a": 0.01}),
        Need("detector detector:ton:0", "pool.resources", {"CPU": 1.0, "GPU": 0.25, "gpu_box": 0.01}),
    ]
    assert unplaceable(together, [HEAD, CAMS, GPUS]) is None


def test_more_asked_in_all_than_the_cluster_has_is_refused():
    needs = [
        Need(f"detector detector:{s}:0", "pool.resources", {"CPU": 1.0, "GPU": 0.75}) for s in ("ton", "nan", "sha")
    ]
    problem = unplaceable(needs, [HEAD, CAMS, GPUS])
    assert "3 actors need 2.25 GPU in all" in problem and "has 2" in problem


def test_nodes_come_from_ray_alive_ones_only_without_their_memory():
    raw = [
        {
            "Alive": True,
            "NodeManagerAddress": "10.0.0.1",
            "Resources": {"CPU": 2.0, "node:10.0.0.1": 1.0, "memory": 8e9},
        },
        {"Alive": False, "NodeManagerAddress": "10.0.0.9", "Resources": {"CPU": 64.0}},
    ]
    assert nodes_from_ray(raw) == [Node("10.0.0.1", {"CPU": 2.0, "node:10.0.0.1": 1.0})]  # a node may be named


def test_a_camera_takes_its_own_resources_else_the_pools_default_and_reserved_names_are_refused():
    cfg = AppConfig(
        cameras=[
            CameraConfig(seat="ton", url="rtsp://10.0.0.5/s", resources={"room_a": 0.01}),
            CameraConfig(seat="nan", url="rtsp://10.0.0.6/s"),
        ],
        pool=PoolConfig(camera_resources={"room_b": 0.01}),
    )
    validate(cfg)
    assert camera_resources(cfg, "ton") == {"room_a": 0.01} and camera_resources(cfg, "nan") == {"room_b": 0.01}
    cfg.cameras[0].resources = {"GPU": 1}
    with pytest.raises(ConfigError, match=r"cameras\[0\] \(seat 'ton'\)\.resources: names Ray's own resource 'GPU'"):
        validate(cfg)
    cfg.cameras[0].resources = {"room_a": 0}
    with pytest.raises(ConfigError, match=r"room_a: must be an amount of at least 0.0001"):
        validate(cfg)
