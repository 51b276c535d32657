"""Mahjong on mjray's engine: tile names, the tile faces, the hand reader and the game record.

A plug-in (`mjray.plugins`): the engine imports it only where `plugins.mahjong` is enabled (the
`mahjong` config group: `mahjong=tiles`, the default, or `mahjong=none`; `model=custom` turns it
off). It adds the tile faces as the detector's post-processor and the game record as a sink.
"""

from mjray.mahjong.plugin import PLUGIN

__all__ = ["PLUGIN"]
