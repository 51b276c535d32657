"""Model weights shipped to a detector's node: used in place where the same bytes are there, else
a verified copy in the node's cache."""

from __future__ import annotations

import hashlib

import pytest

from mjray.cluster.shipping import cached


def test_a_node_with_the_same_file_uses_it_and_one_without_gets_a_verified_copy_once(tmp_path):
    weights = tmp_path / "driver" / "best.onnx"
    weights.parent.mkdir()
    weights.write_bytes(b"model bytes")
    sha = hashlib.sha256(b"model bytes").hexdigest()
    fetched = []

    def fetch() -> bytes:
        fetched.append(1)
        return b"model bytes"

    assert cached(str(weights), sha, fetch, tmp_path / "cache") == str(weights) and not fetched
    elsewhere = str(tmp_path / "not-on-this-node" / "best.onnx")
    copy = cached(elsewhere, sha, fetch, tmp_path / "cache")
    assert copy.endswith("best.onnx") and open(copy, "rb").read() == b"model bytes" and len(fetched) == 1
    assert cached(elsewhere, sha, fetch, tmp_path / "cache") == copy and len(fetched) == 1  # once per node
    assert cached(str(weights), sha, fetch, tmp_path / "cache", in_place=False) == copy  # another node: the copy
    weights.write_bytes(b"another model at the same path")
    assert cached(str(weights), sha, fetch, tmp_path / "cache") == copy  # not the driver's bytes: the copy


def test_bytes_that_do_not_match_their_hash_are_refused(tmp_path):
    with pytest.raises(ValueError, match="do not match"):
        cached(str(tmp_path / "x.onnx"), hashlib.sha256(b"a").hexdigest(), lambda: b"b", tmp_path / "cache")
