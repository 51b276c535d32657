"""Each actor kind owns its names (`mjray.cluster.clients`): no other module formats one."""

from __future__ import annotations

import pytest

from mjray.cluster.clients import CAMERA, DETECTOR, REORDER, ROUNDS


def test_each_kind_names_its_actors_and_knows_them_from_the_others():
    names = [CAMERA.name("ton"), REORDER.name("ton"), DETECTOR.own("ton", 0), DETECTOR.shared(1), ROUNDS.name()]
    assert names == ["camera:ton", "reorder:ton", "detector:ton:0", "detector:shared:1", "rounds"]
    kinds = (CAMERA, REORDER, DETECTOR, ROUNDS)
    assert [[kind.owns(name) for kind in kinds] for name in names] == [
        [True, False, False, False],
        [False, True, False, False],
        [False, False, True, False],
        [False, False, True, False],
        [False, False, False, True],
    ]


def test_a_detector_is_looked_up_only_by_a_detectors_name():
    with pytest.raises(ValueError, match="no detector's name"):
        DETECTOR.named(REORDER.name("ton"))
