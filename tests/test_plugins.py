"""Plug-ins (mjray.plugins): the engine runs any YOLO model without the mahjong plug-in, which
loads only where its settings turn it on, and a plug-in of one's own plugs into the same seams."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from mjray.frames import Detections
from mjray.plugins import PluginError, Seen, enabled, postprocessors, validate

ENGINE_RUN = textwrap.dedent("""
    import dataclasses, json, sys, tempfile
    from pathlib import Path
    import importlib
    import mjray
    from mjray.config import register, validate
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    register()
    with initialize_config_dir(version_base=None, config_dir=str(Path(mjray.__file__).parent.parent / "conf")):
        cfg = OmegaConf.to_object(compose(config_name="config", overrides=sys.argv[1:]))
    validate(cfg)
    # the whole engine: every module but the plug-in itself, the test bed and the benchmark
    root = Path(mjray.__file__).parent
    for path in sorted(root.rglob("*.py")):  # by file: pkgutil.walk_packages would import every package
        name = ".".join(("mjray", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        if not name.startswith(("mjray.mahjong", "mjray.sim", "mjray.bench", "mjray.__main__")):
            importlib.import_module(name)
    from mjray import plugins
    from mjray.detect.model import load_model
    from mjray.output.sinks import SinkContext, build_sinks, sink_table, wanted_sinks

    model = {**dataclasses.asdict(cfg.model), "plugins": plugins.enabled(cfg.plugins)}
    detector = load_model(**model)
    table = sink_table(cfg.plugins)
    outputs = wanted_sinks(cfg, False, table)
    with tempfile.TemporaryDirectory() as out:
        context = SinkContext(Path(out), ("ton",), detector.names, lambda items: [None] * len(items), cfg.display)
        for sink in build_sinks(context, [o for o in outputs if o != "video"], table):
            sink.close()
    print(json.dumps({"post": [p.name for p in detector.post], "outputs": outputs,
                      "mahjong": sorted(m for m in sys.modules if m.startswith("mjray.mahjong"))}))
""")


def engine_run(*overrides: str) -> dict:
    done = subprocess.run([sys.executable, "-c", ENGINE_RUN, *overrides], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_model_that_is_not_the_tile_model_runs_the_engine_with_nothing_of_mahjong_imported():
    other = engine_run("model=custom", "model.weights=yolov8n.yaml")  # COCO's 80 classes, random weights
    # the embedded table's frame markers read too (the test bed's sink): still nothing of mahjong
    assert other == {"post": [], "outputs": ["detections", "video", "markers"], "mahjong": []}
    tiles = engine_run()  # the default: the same check sees the plug-in where it is on
    assert tiles["post"] == ["tile faces"] and tiles["outputs"] == ["detections", "video", "game", "markers"]
    assert "mjray.mahjong.faces" in tiles["mahjong"] and "mjray.mahjong.sink" in tiles["mahjong"]
    off = engine_run("mahjong=none")
    assert off["post"] == [] and off["mahjong"] == []


class Counter:
    """A plug-in of a test's own: counts boxes and drops those under a confidence."""

    name = "counter"

    def __init__(self, below: float) -> None:
        self.below, self.seen = below, 0

    def __call__(self, seen: Seen, detections: Detections) -> Detections:
        self.seen += 1
        assert seen.grey.shape == seen.bgr.shape[:2]
        keep = detections.confidence >= self.below
        return Detections(detections.xyxy[keep], detections.confidence[keep], detections.class_id[keep])


class CounterPlugin:
    def validate(self, settings, where):
        if not 0 <= settings.get("below", 0) <= 1:
            raise PluginError(f"{where}.below: must be within 0..1, got {settings['below']}")

    def files(self, settings):
        return {}

    def postprocessor(self, settings, names):
        return Counter(settings.get("below", 0.0)) if 0 in names else None

    def sinks(self, settings):
        return {}


PLUGIN = CounterPlugin()


def test_a_plugin_of_ones_own_is_checked_built_for_its_models_and_run_on_their_boxes():
    plugins = {"count": {"module": __name__, "below": 0.5}, "off": {"module": "no.such.module", "enabled": False}}
    validate(plugins)  # the one turned off is never imported
    assert list(enabled(plugins)) == ["count"]
    with pytest.raises(PluginError, match=r"plugins.count.below: must be within 0..1, got 2"):
        validate({"count": {"module": __name__, "below": 2}})
    with pytest.raises(PluginError, match=r"plugins.gone.module: cannot import 'no.such.module' .*enabled=false"):
        validate({"gone": {"module": "no.such.module"}})
    with pytest.raises(PluginError, match=r"plugins.bare.module: 'json' holds no PLUGIN object"):
        validate({"bare": {"module": "json"}})
    assert postprocessors(plugins, {1: "car"}) == []  # not its kind of model
    (post,) = postprocessors(plugins, {0: "person"})
    found = Detections(
        np.array([[0, 0, 4, 4], [5, 5, 9, 9]], np.float32), np.array([0.9, 0.2], np.float32), np.array([0, 0], np.int32)
    )
    kept = post(Seen(np.zeros((10, 10, 3), np.uint8), True), found)
    assert len(kept) == 1 and kept.confidence[0] == pytest.approx(0.9) and post.seen == 1
