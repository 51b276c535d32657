"""Configuration: every preset composes, wrong values fail with the setting's name."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from mjray.config import (
    AppConfig,
    CameraConfig,
    ConfigError,
    PoolConfig,
    StreamConfig,
    check_resources,
    redact,
    register,
    validate,
    with_credentials,
)

CONF = Path(__file__).resolve().parent.parent / "conf"
register()


def presets(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def load(*overrides: str) -> AppConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        return OmegaConf.to_object(compose(config_name="config", overrides=list(overrides)))


@pytest.mark.parametrize("group", ["cameras", "model", "pool"])
def test_every_preset_composes_into_the_typed_config(group, monkeypatch):
    monkeypatch.setenv("TAPO_USER", "admin")
    monkeypatch.setenv("TAPO_PASSWORD", "s3cret")
    assert presets(group), f"no presets in conf/{group}"
    for name in presets(group):
        extra = ["model.weights=" + __file__] if (group, name) == ("model", "custom") else []
        cfg = load(f"{group}={name}", *extra)
        assert isinstance(cfg, AppConfig) and all(isinstance(c, CameraConfig) for c in cfg.cameras)
        if (group, name) != ("model", "custom"):
            validate(cfg)


def test_defaults_are_the_embedded_table_and_a_pool_that_follows_the_hardware():
    cfg = load()
    assert cfg.cameras == [] and cfg.model.weights is None and cfg.pool.gpus_per_worker == 0 and cfg.pool.auto
    validate(cfg)


def test_placement_resources_come_from_the_command_line_as_typed_maps():
    from mjray.main import shorthand

    cfg = validate(
        load(
            *shorthand(
                ["pool.camera_resources={room_a: 0.01}", "+pool.resources.gpu_box=0.5", "urls=[rtsp://10.0.0.5/s]"]
            )
        )
    )
    assert cfg.pool.camera_resources == {"room_a": 0.01} and cfg.pool.resources == {"gpu_box": 0.5}
    with pytest.raises(Exception, match="room_a"):
        load(*shorthand(["pool.camera_resources={room_a: lots}"]))


def test_tapo_preset_takes_credentials_from_the_environment_and_never_shows_them(monkeypatch):
    monkeypatch.setenv("TAPO_USER", "admin")
    monkeypatch.setenv("TAPO_PASSWORD", "p@ss:word")
    cfg = load("cameras=tapo4")
    camera = cfg.cameras[0]
    assert camera.password == "p@ss:word"
    url = with_credentials(camera)
    assert url == "rtsp://admin:p%40ss%3Aword@192.168.1.101:554/stream1"
    assert "p%40ss" not in redact(url) and "***" in redact(url)


def test_overrides_are_type_checked_by_hydra():
    with pytest.raises(Exception, match="pool.workers_per_camera|workers_per_camera"):
        load("pool.workers_per_camera=many")


def base(**changes) -> AppConfig:
    cfg = AppConfig(
        cameras=[CameraConfig("ton", "rtsp://127.0.0.1:8554/ton"), CameraConfig("nan", "rtsp://127.0.0.1:8554/nan")]
    )
    for path, value in changes.items():
        section, _, field = path.partition("__")
        if field:
            setattr(getattr(cfg, section), field, value)
        else:
            setattr(cfg, section, value)
    return cfg


@pytest.mark.parametrize(
    "change, setting",
    [
        ({"pool__workers_per_camera": 0}, "pool.workers_per_camera"),
        ({"pool__gpus_per_worker": 1.5}, "pool.gpus_per_worker"),
        ({"pool__cpus_per_worker": -1}, "pool.cpus_per_worker"),
        ({"pool__in_flight_per_worker": 0}, "pool.in_flight_per_worker"),
        ({"pool__batch_size": 0}, "pool.batch_size"),
        ({"pool__cameras_per_process": 0}, "pool.cameras_per_process"),
        ({"pool__reorders_per_process": 0}, "pool.reorders_per_process"),
        ({"stream__send_size": 16}, "stream.send_size"),
        ({"stream__send_size": -1}, "stream.send_size"),
        ({"pool__batch_size": 4, "pool__shared_workers": 0}, "pool.batch_size"),  # batches need shared detectors
        ({"pool__batch_size": 4, "stream__policy": "aligned"}, "pool.batch_size"),
        ({"pool__batch_wait_ms": -1}, "pool.batch_wait_ms"),
        ({"pool__batch_max_age_ms": -1}, "pool.batch_max_age_ms"),
        ({"model__imgsz": 100}, "model.imgsz"),
        ({"model__conf": 1.5}, "model.conf"),
        ({"model__iou": -0.1}, "model.iou"),
        ({"model__device": "gpu0"}, "model.device"),
        ({"model__device": "cuda"}, "model.device"),  # cuda without reserving a GPU
        ({"model__weights": "/nope/best.pt"}, "model.weights"),
        ({"model__threads": -1}, "model.threads"),
        ({"stream__policy": "fastest"}, "stream.policy"),
        ({"stream__decode": "gpu"}, "stream.decode"),
        ({"stream__max_wait_ms": 0}, "stream.max_wait_ms"),
        ({"stream__max_pending": 0}, "stream.max_pending"),
        ({"stream__open_timeout_s": 0}, "stream.open_timeout_s"),
        ({"display__mode": "tv"}, "display.mode"),
        ({"display__fps": 0}, "display.fps"),
        ({"run__duration_s": -5}, "run.duration_s"),
        ({"sim__seats": 0}, "sim.seats"),
        ({"sim__size": "big"}, "sim.size"),
        ({"ray__num_cpus": 0}, "ray.num_cpus"),
    ],
)
def test_wrong_values_name_their_setting(change, setting):
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        validate(base(**change))


@pytest.mark.parametrize(
    "camera, setting, words",
    [
        (CameraConfig("ton", "http://cam/stream"), "seat 'ton'", "rtsp://"),
        (CameraConfig("ton", "rtsp://u:secret@cam/stream"), "seat 'ton'", "password"),
        (CameraConfig("1st", "rtsp://cam/stream"), "seat '1st'", "letter"),
        (CameraConfig("ton", ""), "seat 'ton'", "rtsp://"),
    ],
)
def test_camera_errors_name_the_seat(camera, setting, words):
    with pytest.raises(ConfigError) as error:
        validate(AppConfig(cameras=[camera]))
    assert setting in str(error.value) and words in str(error.value)
    assert "secret" not in str(error.value)


def test_aligned_policy_needs_shared_workers_and_a_sane_rate():
    aligned = StreamConfig(policy="aligned")
    validate(base(stream=aligned))  # the default pool is shared
    with pytest.raises(ConfigError, match=r"stream\.policy: aligned needs .*pool\.shared_workers"):
        validate(base(stream=aligned, pool=PoolConfig(shared_workers=0)))
    validate(base(stream=StreamConfig(policy="aligned", aligned_hz=0.0)))  # 0: as fast as the workers go
    for hz in (-1.0, 500.0):
        with pytest.raises(ConfigError, match=r"stream\.aligned_hz"):
            validate(base(stream=StreamConfig(policy="aligned", aligned_hz=hz)))


def test_two_cameras_on_one_seat_are_refused():
    cfg = AppConfig(cameras=[CameraConfig("ton", "rtsp://a/1"), CameraConfig("ton", "rtsp://b/1")])
    with pytest.raises(ConfigError, match="two cameras"):
        validate(cfg)


def test_resource_check_says_what_to_lower():
    cfg = base(pool=dataclasses.replace(AppConfig().pool, shared_workers=0, workers_per_camera=5, gpus_per_worker=0.25))
    with pytest.raises(ConfigError, match=r"pool\.gpus_per_worker"):
        check_resources(cfg.pool, cameras=4, available={"CPU": 64, "GPU": 1})
    check_resources(cfg.pool, cameras=4, available={"CPU": 64, "GPU": 5})
    with pytest.raises(ConfigError, match=r"pool\.cpus_per_worker"):
        check_resources(cfg.pool, cameras=4, available={"CPU": 2, "GPU": 5})


def test_shared_workers_are_counted_once_not_per_camera():
    cfg = base(pool=dataclasses.replace(AppConfig().pool, shared_workers=2, cpus_per_worker=0.5, camera_cpus=0.1))
    check_resources(cfg.pool, cameras=8, available={"CPU": 2})  # 2 x 0.5 + 8 x 0.1 = 1.8
    with pytest.raises(ConfigError, match=r"2 shared workers x 0.5 CPUs \+ 12 cameras x 0.1"):
        check_resources(cfg.pool, cameras=12, available={"CPU": 2})


def test_auto_threads_split_the_cores_among_shared_workers_or_follow_the_reservation():
    from mjray.cluster.pipeline import inference_threads

    cores = os.cpu_count()
    pool = AppConfig().pool
    assert inference_threads(base(pool=dataclasses.replace(pool, shared_workers=1))) == cores
    assert inference_threads(base(pool=dataclasses.replace(pool, shared_workers=cores))) == 1
    assert inference_threads(base(pool=dataclasses.replace(pool, shared_workers=0, cpus_per_worker=0.25))) == 1
    assert inference_threads(base(pool=dataclasses.replace(pool, shared_workers=0, cpus_per_worker=2.5))) == 3
    assert inference_threads(base(model=dataclasses.replace(AppConfig().model, threads=3))) == 3


def test_redact_hides_only_the_password():
    assert redact("rtsp://admin:pw@10.0.0.2:554/stream1") == "rtsp://admin:***@10.0.0.2:554/stream1"
    assert redact("rtsp://10.0.0.2/stream1") == "rtsp://10.0.0.2/stream1"


def test_more_seats_than_the_simulator_draws_or_an_unknown_scene_is_one_line_naming_the_setting():
    import contextlib

    from mjray.main import start_embedded_table

    with pytest.raises(ConfigError, match=r"sim\.seats: .*1\.\.8"), contextlib.ExitStack() as stack:
        start_embedded_table(validate(AppConfig(sim=dataclasses.replace(AppConfig().sim, seats=9))), stack)
    with (
        pytest.raises(ConfigError, match=r"sim\.scene: unknown scene 'disco'; known scenes: table, parlour"),
        contextlib.ExitStack() as stack,
    ):
        start_embedded_table(validate(AppConfig(sim=dataclasses.replace(AppConfig().sim, scene="disco"))), stack)


def test_cameras_come_from_the_command_line_with_seats_in_order_and_credentials_out_of_the_url():
    cfg = validate(load("urls=[rtsp://10.0.0.5:554/s1,rtsp://admin:p%40ss@10.0.0.6/s1]"))
    assert [(c.seat, c.url) for c in cfg.cameras] == [("ton", "rtsp://10.0.0.5:554/s1"), ("nan", "rtsp://10.0.0.6/s1")]
    assert (cfg.cameras[1].username, cfg.cameras[1].password) == ("admin", "p@ss")
    assert with_credentials(cfg.cameras[1]) == "rtsp://admin:p%40ss@10.0.0.6/s1"
    assert validate(cfg).cameras == cfg.cameras, "validating twice changes nothing"
    named = validate(load("urls=[rtsp://a/1,rtsp://b/1]", "seats=[east,west]"))
    assert [c.seat for c in named.cameras] == ["east", "west"]
    many = validate(load("urls=[" + ",".join(f"rtsp://h/{i}" for i in range(6)) + "]"))
    assert [c.seat for c in many.cameras] == ["ton", "nan", "sha", "pei", "seat5", "seat6"]


@pytest.mark.parametrize(
    "overrides, setting",
    [
        (["urls=[http://10.0.0.5/s1]"], "urls[0]"),
        (["urls=[rtsp:///nohost]"], "urls[0]"),
        (["urls=[rtsp://a/1,rtsp://b/1]", "seats=[east]"], "seats"),
        (["seats=[east]"], "seats"),
        (["urls=[rtsp://a/1,rtsp://b/1]", "seats=[east,east]"], "seats"),
        (["urls=[rtsp://a/1]", "seats=[1east]"], "cameras[0] (seat '1east').seat"),
        (["urls=[rtsp://a/1]", "cameras=local4"], "urls"),
        (["replay.speed=fast"], "replay.speed"),
        (["replay.speed=0"], "replay.speed"),
        (["replay.speed=2"], "replay.speed"),  # with nothing to replay
        (["replay.path=/no/such/run"], "replay"),
    ],
)
def test_wrong_cameras_or_replay_settings_name_their_setting(overrides, setting):
    with pytest.raises(ConfigError, match=re.escape(setting) + ":"):
        validate(load(*overrides))


def test_replay_speed_is_a_factor_of_the_recorded_pace_or_max():
    from mjray.config import replay_speed

    assert replay_speed("1") == 1.0 and replay_speed("2.5") == 2.5 and replay_speed("max") is None
    assert replay_speed("MAX") is None


def test_a_replay_cannot_be_recorded_again_nor_mixed_with_cameras(tmp_path):
    with pytest.raises(ConfigError, match="record: cannot record a replay"):
        validate(load(f"replay.path={tmp_path}", "record=true"))
    with pytest.raises(ConfigError, match="replay: replays a recording's cameras"):
        validate(load(f"replay.path={tmp_path}", "urls=[rtsp://a/1]"))


def test_the_command_line_shorthand_and_one_line_errors_for_bad_overrides():
    from mjray.main import check_overrides, shorthand

    assert shorthand(["replay=/runs/a", "replay.speed=max", "run.duration_s=5"]) == [
        "replay.path=/runs/a",
        "replay.speed=max",
        "run.duration_s=5",
    ]
    assert check_overrides(["urls=[rtsp://a/1]", "stream.policy=every", "hydra.run.dir=/tmp/x"]) is None
    for bad, words in [
        (["urls=rtsp://a/1"], "urls"),
        (["stream.policy=fastest"], "latest, every, aligned"),
        (["stream.decode=gpu"], "auto, software, cuda"),
        (["nonexistent=1"], "nonexistent"),
        (['cameras=[{seat:a,url:"rtsp://a/1"}]'], "urls=[rtsp://"),
    ]:
        problem = check_overrides(bad)
        assert problem and words in problem and "\n" not in problem, (bad, problem)


def test_hydras_own_flags_are_read_as_hydra_reads_them_and_errors_stay_one_line(tmp_path):
    from mjray.main import check_overrides

    (tmp_path / "cameras").mkdir()
    (tmp_path / "cameras" / "mine.yaml").write_text(
        '# @package _global_\ncameras:\n  - {seat: east, url: "rtsp://a/1"}\n'
    )
    for good in (
        ["--config-dir", str(tmp_path), "cameras=mine"],
        [f"--config-dir={tmp_path}", "cameras=mine"],
        ["-cd", str(tmp_path), "cameras=mine", "run.duration_s=3"],
        ["-m", "run.duration_s=3,4"],
        ["--multirun", "stream.policy=every,latest", "run.duration_s=range(1,3)"],
        ["hydra.mode=MULTIRUN", "run.duration_s=3,4"],
        ["--cfg", "job"],
        ["--help"],
        ["-sc", "install=bash"],
        ["--config-name", "config", "run.duration_s=3"],
        [f"hydra.searchpath=[file://{tmp_path}]", "cameras=mine"],  # Hydra's other way to add one's own
        ["-m", f"hydra.searchpath=['file://{tmp_path}']", "cameras=mine", "run.duration_s=3,4"],
    ):
        assert check_overrides(good) is None, good
    for bad, words in [
        (["cameras=mine"], "Could not find 'cameras/mine'"),
        (["--config-dir", str(tmp_path / "nope"), "cameras=mine"], "--config-dir: no folder at"),
        (["-cd", str(tmp_path), "cameras=theirs"], "mine"),  # the options listed include one's own
        ([f"hydra.searchpath=[file://{tmp_path}]", "cameras=theirs"], "mine"),
        (["hydra.searchpath=[file://a", "cameras=mine"], "hydra.searchpath: cannot read"),
        ([f"hydra.searchpath=file://{tmp_path}", "cameras=mine"], "hydra.searchpath: a list of folders"),
        (["run.duration_s=3,4"], "run it with -m"),
        (["-m", "stream.policy=every,fastest"], "job 2 of the sweep: stream.policy=fastest"),
        (["-m", "run.duration_s=3,4", "nonexistent=1"], "nonexistent"),
        (["-m", "urls=rtsp://a/1"], "urls"),
        (["-cn", "nope"], "Cannot find primary config 'nope'"),
    ]:
        problem = check_overrides(bad)
        assert problem and words in problem and "\n" not in problem, (bad, problem)


def test_a_config_printed_is_checked_as_composed_its_passwords_left_unread(monkeypatch):
    from mjray.main import check_overrides

    for name in [name for name in os.environ if name.startswith("TAPO_")]:
        monkeypatch.delenv(name)
    assert check_overrides(["--cfg", "job", "cameras=tapo4"]) is None  # (Hydra prints ${oc.env:...} as it is)
    assert "TAPO_" in check_overrides(["cameras=tapo4"])  # (a run reads them)
    assert "nonexistent" in check_overrides(["--cfg", "job", "nonexistent=1"])


@pytest.mark.parametrize("path", ["file:///a b/c", "file:///C:\\dir", "x\\", "it's", "a\\'b", "a,b", "\\\\"])
def test_a_folder_is_quoted_for_hydras_grammar_and_read_back_as_it_was(path):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from mjray.main import hydra_quoted

    (override,) = OverridesParser.create().parse_overrides([f"hydra.searchpath=[{hydra_quoted(path)}]"])
    assert override.value() == [path]


def test_a_command_line_url_takes_its_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("CAM_PASSWORD", "p@ss")
    (camera,) = validate(load("urls=[rtsp://admin:${oc.env:CAM_PASSWORD}@10.0.0.5/s1]")).cameras
    assert (camera.url, camera.username, camera.password) == ("rtsp://10.0.0.5/s1", "admin", "p@ss")
