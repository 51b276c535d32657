"""Ray's errors, caught without what they hold: no Ray import, so any stage (and tests) can use it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def settle(get: Callable[[], T], errors: type[E]) -> T | E:
    """`get()`'s value, or the error of type `errors` it raised, without the error's traceback.

    Ray's `get` keeps the error it raises in a local of its own frame: a reference cycle through
    the traceback that holds every frame up the caller's stack, with the ObjectRefs their locals
    had when they returned, until Python's full collection, minutes apart in a detector. A take
    asked for next was such a local: its camera's frame stayed in the object store that long."""
    try:
        return get()
    except errors as error:
        return error.with_traceback(None)
