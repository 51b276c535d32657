"""Files a detector needs (model weights, tile faces) shipped with the job: a detector on another
node gets the driver's file through Ray's object store, not a shared file system.

The driver puts the file's bytes once (`ship`); a detector on another node writes them into a
cache there, named by their SHA-256 (`receive`); one on the driver's node reads the file in place
when it still holds the same bytes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("MJRAY_CACHE", Path.home() / ".cache" / "mjray")) / "weights"


@dataclass(frozen=True)
class ShippedFile:
    path: str  # where the driver read it (read in place on the driver's node, and named in messages)
    sha256: str
    ref: object  # ObjectRef of its bytes
    node_id: str  # the driver's node


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ship(path: str) -> ShippedFile:
    """Put a local file's bytes into the object store for detectors on any node."""
    import ray

    data = Path(path).read_bytes()
    return ShippedFile(
        os.path.abspath(path), hashlib.sha256(data).hexdigest(), ray.put(data), ray.get_runtime_context().get_node_id()
    )


def cached(path: str, sha256: str, fetch, cache: Path = CACHE, in_place: bool = True) -> str:
    """A local path holding the file `path` with these bytes: `path` itself where it holds them
    (`in_place`), else a copy in `cache` (fetched once per node, written atomically so concurrent
    detectors never read half a file). `fetch()` gives the bytes."""
    if in_place and os.path.isfile(path) and sha256_of(path) == sha256:
        return path
    target = cache / sha256[:16] / Path(path).name
    if target.is_file() and sha256_of(target) == sha256:
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = fetch()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{path}: the shipped bytes do not match their SHA-256")
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as f:
        f.write(data)
    os.replace(f.name, target)
    return str(target)


def receive(shipped: ShippedFile) -> str:
    """On a detector's node: a local path holding the shipped file. Another node's file of the same
    name is never trusted (its cwd, its mounts are not the driver's): the cache holds the bytes."""
    import ray

    same_node = ray.get_runtime_context().get_node_id() == shipped.node_id
    return cached(shipped.path, shipped.sha256, lambda: ray.get(shipped.ref), in_place=same_node)
