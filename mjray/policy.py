"""Each stream policy's parts, wired in one place: the camera's gate, the workers' turn plan,
the display's sync. Stages receive these parts, never the policy's name."""

from __future__ import annotations

from dataclasses import dataclass

from mjray.frames import Policy


@dataclass(frozen=True)
class PolicyParts:
    lossless: bool  # the camera holds its decoder while a frame waits (nothing skipped)
    by_instant: bool  # the camera keeps recent frames and hands out the one nearest an instant
    rounds: bool  # shared workers take their next (seat, instant) from the `rounds` actor
    shared_only: bool  # needs detectors shared by every camera
    display_lag_s: float  # the display gives up waiting for a seat this far behind the wall clock


PARTS: dict[Policy, PolicyParts] = {
    Policy.latest: PolicyParts(lossless=False, by_instant=False, rounds=False, shared_only=False, display_lag_s=2.0),
    Policy.every: PolicyParts(lossless=True, by_instant=False, rounds=False, shared_only=False, display_lag_s=30.0),
    Policy.aligned: PolicyParts(lossless=False, by_instant=True, rounds=True, shared_only=True, display_lag_s=2.0),
}


def parts(policy: Policy | str) -> PolicyParts:
    """The parts of a policy, by value or name; an unknown name raises ValueError listing the known ones."""
    try:
        return PARTS[Policy(policy)]
    except ValueError:
        raise ValueError(f"unknown stream policy {policy!r}; known: {', '.join(p.value for p in Policy)}") from None
