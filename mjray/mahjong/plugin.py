"""The mahjong plug-in's settings and its three seams: checked at start-up, the tile faces after
the model in each detector, the game record among the sinks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Optional

from mjray.frames import Detections, DisplayMode
from mjray.output.sinks import SinkEntry
from mjray.plugins import PluginError, Seen, Settings


@dataclass(frozen=True)
class MahjongConfig:
    """`plugins.mahjong.*` (conf/mahjong/tiles.yaml)."""

    faces: bool = True  # each tile box relabelled by the face inside it, missed tiles filled (mjray.mahjong.faces)
    faces_file: Optional[str] = None  # .npz of the table's tile faces (docs/game-record.md); None: the bundled artwork
    faces_memory: bool = True  # a box whose place and pixels have not changed keeps its last read (FaceMemory)
    game: bool = True  # read each seat's hand; write game.jsonl (mjai-style) and hands.jsonl (a tile model only)

    @classmethod
    def of(cls, settings: Settings, where: str = "plugins.mahjong") -> MahjongConfig:
        known = {f.name: f for f in fields(cls)}
        for key, value in settings.items():
            if key not in known:
                raise PluginError(f"{where}.{key}: no such setting (it has {', '.join(known)})")
            wanted = bool if known[key].type == "bool" else str
            if value is not None and not isinstance(value, wanted):
                raise PluginError(
                    f"{where}.{key}: must be {'true or false' if wanted is bool else 'a path'}, got {value!r}"
                )
        return cls(**dict(settings))


class FacesPost:
    """The tile faces as a detector post-processor: relabel, then fill the row's holes."""

    name = "tile faces"

    def __init__(self, matcher) -> None:
        self.matcher = matcher

    def __call__(self, seen: Seen, detections: Detections) -> Detections:
        return self.matcher.read(seen.grey, detections)


class MahjongPlugin:
    def validate(self, settings: Settings, where: str) -> None:
        cfg = MahjongConfig.of(settings, where)
        if cfg.faces_file and not os.path.isfile(cfg.faces_file):
            raise PluginError(
                f"{where}.faces_file: file not found: {cfg.faces_file} (an .npz of the table's 34 tile "
                "faces, docs/game-record.md; or leave it unset for the bundled artwork)"
            )
        if cfg.faces and cfg.faces_file:
            from mjray.mahjong.faces import FacesError, load_faces

            try:
                load_faces(cfg.faces_file)
            except FacesError as error:
                raise PluginError(str(error)) from None

    def files(self, settings: Settings) -> dict[str, str]:
        cfg = MahjongConfig.of(settings)
        return {"faces_file": cfg.faces_file} if cfg.faces and cfg.faces_file else {}

    def postprocessor(self, settings: Settings, names: Mapping[int, str]) -> FacesPost | None:
        from mjray.mahjong.faces import FaceMatcher, FaceMemory, FacesError

        cfg = MahjongConfig.of(settings)
        if not cfg.faces:
            return None
        try:
            matcher = FaceMatcher.for_model(dict(names), cfg.faces_file, FaceMemory() if cfg.faces_memory else None)
        except FacesError as error:
            raise PluginError(str(error)) from error
        return FacesPost(matcher) if matcher is not None else None

    def sinks(self, settings: Settings) -> dict[str, SinkEntry]:
        from mjray.mahjong.sink import game_sink

        cfg = MahjongConfig.of(settings)
        return {"game": SinkEntry(lambda c, screen: cfg.game and c.display.mode != DisplayMode.none, game_sink)}


PLUGIN = MahjongPlugin()


def plugged(**settings) -> dict:
    """`plugins` with this plug-in set so (`YoloDetector(plugins=plugged(faces=True))`)."""
    return {"mahjong": {"module": "mjray.mahjong", **settings}}
