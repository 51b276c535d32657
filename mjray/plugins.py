"""Plug-ins: what a domain adds to the generic engine, imported only where its settings turn it on.

The engine knows cameras, detectors, order and outputs; what the detections mean belongs to a
plug-in (the mahjong game record, `mjray.mahjong`, is one; a user's own can be another). A
plug-in is a module holding `PLUGIN`, configured under `plugins.<name>`: `module` names it
(default `mjray.<name>`), `enabled: false` leaves it unimported, the other keys are its own. It
plugs into three seams: the detector runs its `postprocessor` on every frame's detections (given
the model's class names; None where the model is not its kind), the sink registry takes its
`sinks`, and the start-up check runs its `validate`. Files it names in `files` reach the
detectors' nodes as the weights do.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from mjray.frames import Detections

if TYPE_CHECKING:
    from mjray.output.sinks import SinkEntry

Settings = Mapping[str, Any]  # a plug-in's keys under plugins.<name>, `module` and `enabled` left out
ENGINE_KEYS = ("module", "enabled")


class PluginError(ValueError):
    """A plug-in that cannot load or refuses its settings; the message names `plugins.<name>...`."""


@dataclass
class Seen:
    """A frame as the model saw it (after the model's own pre-processing), for a post-processor."""

    bgr: np.ndarray
    is_grey: bool  # all three channels hold the same grey

    @cached_property
    def grey(self) -> np.ndarray:
        return self.bgr[..., 0] if self.is_grey else cv2.cvtColor(self.bgr, cv2.COLOR_BGR2GRAY)


class PostProcessor(Protocol):
    name: str  # said in the detector's start-up line

    def __call__(self, seen: Seen, detections: Detections) -> Detections: ...


class Plugin(Protocol):
    def validate(self, settings: Settings, where: str) -> None:
        """Raise `PluginError` naming `where.<key>` for a wrong setting; runs once at start-up."""

    def files(self, settings: Settings) -> dict[str, str]:
        """Setting -> a file the detectors need; each detector gets it as a local path."""

    def postprocessor(self, settings: Settings, names: Mapping[int, str]) -> PostProcessor | None:
        """Built in each detector once its model has loaded; None: nothing to do for this model."""

    def sinks(self, settings: Settings) -> dict[str, SinkEntry]:
        """Outputs it adds to the sink registry, by name."""


def enabled(plugins: Mapping[str, Any]) -> dict[str, dict]:
    """name -> settings (as plain dicts, engine keys kept) of each plug-in turned on."""
    on = {}
    for name, settings in (plugins or {}).items():
        settings = dict(settings or {})
        if settings.get("enabled", True):
            on[name] = settings
    return on


def own(settings: Mapping[str, Any]) -> dict:
    """The plug-in's own settings, without the engine's keys."""
    return {k: v for k, v in settings.items() if k not in ENGINE_KEYS}


def load(name: str, settings: Mapping[str, Any]) -> Plugin:
    module = settings.get("module") or f"mjray.{name}"
    try:
        plugin = importlib.import_module(module).PLUGIN
    except ImportError as error:
        raise PluginError(
            f"plugins.{name}.module: cannot import {module!r} ({error}); install it, or turn the "
            f"plug-in off with plugins.{name}.enabled=false"
        ) from None
    except AttributeError:
        raise PluginError(f"plugins.{name}.module: {module!r} holds no PLUGIN object") from None
    return plugin


def validate(plugins: Mapping[str, Any]) -> None:
    for name, settings in enabled(plugins).items():
        load(name, settings).validate(own(settings), f"plugins.{name}")


def files(plugins: Mapping[str, Any]) -> dict[tuple[str, str], str]:
    """(plug-in, setting) -> the driver's path of each file a plug-in's detectors need."""
    return {
        (name, setting): path
        for name, settings in enabled(plugins).items()
        for setting, path in load(name, settings).files(own(settings)).items()
    }


def postprocessors(plugins: Mapping[str, Any], names: Mapping[int, str]) -> list[PostProcessor]:
    """Each enabled plug-in's post-processor for a model with these classes, in the settings' order."""
    found = []
    for name, settings in enabled(plugins).items():
        post = load(name, settings).postprocessor(own(settings), names)
        if post is not None:
            found.append(post)
    return found


def sinks(plugins: Mapping[str, Any]) -> dict[str, SinkEntry]:
    return {
        sink: entry
        for name, settings in enabled(plugins).items()
        for sink, entry in load(name, settings).sinks(own(settings)).items()
    }
