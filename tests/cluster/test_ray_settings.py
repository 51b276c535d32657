"""Ray's own settings for a run (`mjray.main.ray_settings`), as Ray's processes really read them:
a frame in a call's answer comes back in the reply, not through the object store, on a Ray mjray
starts and on a cluster that was started without the setting."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mjray.bench.cluster import LocalCluster, NodeSpec
from mjray.main import INLINE, INLINE_BYTES

pytestmark = pytest.mark.slow

# Ray started as `python -m mjray.main` starts it (address: none, or a cluster's), then an actor's
# answers of a 640x360 and a 1920x1080 frame's luma and of a frame over the limit: which node's
# object store holds each (none: it came back in the reply)
PROBE = """
import json, sys, time
import numpy as np, ray
from mjray.config import AppConfig, RayConfig, validate
from mjray.main import init_ray

init_ray(validate(AppConfig(ray=RayConfig(address=sys.argv[1] or None, dashboard=False, num_cpus=1))))

@ray.remote(num_cpus=0)
class Camera:
    def frame(self, size):
        return np.zeros(size, np.uint8)

camera = Camera.remote()
refs = {size: camera.frame.remote(size) for size in (640 * 360, 1920 * 1080, 3 * 1920 * 1080)}
ray.get(list(refs.values()))

def held():
    where = ray.experimental.get_object_locations(list(refs.values()))
    return {size: len(where[ref]["node_ids"]) for size, ref in refs.items()}

# a raylet reports a stored object's node to its owner later, in batches: wait until the answer
# over the limit (always stored) is placed, then until nothing changes for a second
deadline = time.monotonic() + 30
while not held()[3 * 1920 * 1080] and time.monotonic() < deadline:
    time.sleep(0.1)
last = None
while last != (last := held()) and time.monotonic() < deadline:
    time.sleep(1)
print(json.dumps(last))
"""


def probe(address: str = "", env: dict | None = None) -> dict[int, int]:
    done = subprocess.run([sys.executable, "-c", PROBE, address], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return {int(size): nodes for size, nodes in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def test_a_frames_answer_comes_back_in_the_reply_on_a_ray_mjray_starts(monkeypatch):
    monkeypatch.delenv(INLINE, raising=False)
    assert probe() == {640 * 360: 0, 1920 * 1080: 0, 3 * 1920 * 1080: 1}
    assert 1920 * 1080 < INLINE_BYTES < 3 * 1920 * 1080
    monkeypatch.setenv(INLINE, "102400")  # a user's own value (here Ray's default) is kept: through the store
    assert probe() == {640 * 360: 1, 1920 * 1080: 1, 3 * 1920 * 1080: 1}


def test_on_a_cluster_started_without_it_mjrays_workers_answer_in_the_reply(tmp_path, monkeypatch):
    monkeypatch.delenv(INLINE, raising=False)
    with LocalCluster([NodeSpec("head", 1)], tmp_path) as cluster:
        env = {k: v for k, v in cluster.env.items() if k != INLINE}
        assert probe(cluster.address, env) == {640 * 360: 0, 1920 * 1080: 0, 3 * 1920 * 1080: 1}
