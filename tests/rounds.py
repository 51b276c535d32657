"""Which of an aligned run's rounds to judge: cameras come up one by one at start (a seat not up
yet holds no one back, so the first rounds may miss seats), and the last round is cut by the stop."""


def steady_rounds(members_by_instant: dict[float, set[str]], seats) -> list[set[str]]:
    """The rounds from the first one that holds every seat, less the last two."""
    ordered = [members for _, members in sorted(members_by_instant.items())]
    print("seats per round:", "".join(str(len(members)) for members in ordered))
    first = next((i for i, members in enumerate(ordered) if members == set(seats)), len(ordered))
    assert first < len(ordered) / 4, f"the seats took {first} of {len(ordered)} rounds to share one"
    return ordered[first:-2]
