"""A tile's votes: its place in the hand and its recent reads, and the hand's tiles named together.

Each tile keeps its own votes (its recent reads and second reads, weighted by the detector's
confidence) and changes label only when they outweigh the current one by a margin, or when its
latest reads outvote the older ones (a tile misplaced by a wrong call); the votes travel with the
tile when the hand re-sorts. The hand is sorted, so its tiles are named together (`name_sorted`):
a read that cannot lie where it is (7p read as 1s between 5p and 8p) yields to one that can, and a
place the model never reads holds a guess, the lowest kind that sorts between its neighbours and
is not held elsewhere. Pure logic, used by `mjray.mahjong.hands.HandReader`.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence

import numpy as np

from mjray.mahjong.tiles import COPIES, SUITS, ranks, sorted_kinds

KEEP = 0.25  # share of reads by which a tile's own label outweighs other names in the hand's order
KEEP_NAME = 0.1  # share of reads by which the name a tile had outweighs others (a name holds until another is better)
GUESS_PENALTY = 0.01  # vote weight a place no read names loses for a kind the hand holds elsewhere
SEEN = 0.25  # share of the samples showing a tile's place with a box on it, under which its reads do not name it
RECENT = 12  # a tile's latest reads that outvote its older ones when they name another label twice as much
YOUNG = 4  # a tile with fewer reads takes the plain majority of them (no margin to overcome)


class Track:
    """One tile's place in the hand and its recent reads; it travels with the tile as the hand re-sorts.
    `label` is what its reads say (kept against flicker by a margin); `name` is what the hand calls it
    (see `name_sorted`): its label where that sorts in its place, else a label that does."""

    __slots__ = ("label", "name", "votes", "weight", "total", "boxed", "apart", "loose", "recent")

    def __init__(self, window: int) -> None:
        self.label: str = ""
        self.name: str = ""
        self.votes: deque[tuple[tuple[str, float], ...]] = deque(maxlen=window)  # per read: (label, weight)
        # of each of its boxes
        self.weight: dict[str, float] = {}  # label -> summed confidence of the reads naming it
        self.total = 0.0
        self.boxed: deque[bool] = deque(maxlen=window)  # per sample that showed its place: whether a box lay on it
        self.apart = False  # read as the drawn tile, apart from the row
        self.loose = False  # a drawn tile kept where it lay, out of the hand's order, until sorted in
        self.recent: deque[tuple[tuple[str, float], ...]] = deque(maxlen=RECENT)  # the latest samples' reads

    def vote(self, label: str, weight: float, margin: float, also: tuple[str, float] | None = None) -> bool:
        """Adds one read, and `also` the label of a second box on the same tile; True when the label
        changed. When the `RECENT` latest reads name another label twice as much as the tile's, its
        older reads are stale (a tile placed wrongly by a change misread): the recent ones alone vote."""
        reads = ((label, weight), also) if also else ((label, weight),)
        self.recent.append(reads)
        if label != self.label and len(self.recent) == RECENT:
            now: dict[str, float] = {}
            for sample in self.recent:
                for old, w in sample:
                    now[old] = now.get(old, 0.0) + w
            if now[label] > 2 * now.get(self.label, 0.0) + margin and max(now, key=now.__getitem__) == label:
                self._forget()
                for sample in self.recent:
                    self._add(sample)
                self.label = label
                return True
        self._add(reads)
        best = max(self.weight, key=self.weight.__getitem__)
        if best == self.label:
            return False
        if len(self.votes) < YOUNG or self.weight[best] > self.weight.get(self.label, 0.0) + margin:
            self.label = best  # (a new tile takes the plain majority so far)
            return True
        return False

    def miss(self) -> bool:
        """A sample that showed its place with no box on it; True when that makes it unseen."""
        seen = self.seen()
        self.boxed.append(False)
        return seen and not self.seen()

    def seen(self) -> bool:
        """Whether its reads name it: it was read apart as the drawn tile, or boxes lie on it in a fair
        share of the samples that showed its place (a place the model does not read gets a stray box
        now and then: such reads do not name it)."""
        return self.apart or (bool(self.votes) and sum(self.boxed) >= SEEN * len(self.boxed))

    def _forget(self) -> None:
        """The reads counted go (not the `recent` ones)."""
        self.votes.clear()
        self.weight.clear()
        self.total = 0.0

    def _add(self, reads: tuple[tuple[str, float], ...]) -> None:
        self.boxed.append(True)
        if len(self.votes) == self.votes.maxlen:
            for old, w in self.votes[0]:
                left = self.weight[old] - w
                if left > 1e-9:
                    self.weight[old] = left
                else:
                    del self.weight[old]
                self.total -= w
        self.votes.append(reads)
        for label, weight in reads:
            self.weight[label] = self.weight.get(label, 0.0) + weight
            self.total += weight

    def share(self, label: str) -> float:
        """How much of its reads name `label`, in [0, 1]."""
        return self.weight.get(label, 0.0) / self.total if self.total > 0 else 0.0

    def credit(self, label: str) -> float:
        """1 for a read of its label; for another, that label's weight relative to its label's, up to 1."""
        if label == self.label:
            return 1.0
        held = self.weight.get(self.label, 0.0)
        return min(1.0, self.weight.get(label, 0.0) / held) if held > 0 else 0.0

    def tile(self) -> str:
        """What the hand calls it: its name once sorted in, else its label (a drawn tile)."""
        return self.name or self.label

    def confidence(self, tile: str | None = None) -> float:
        return self.share(tile or self.tile())

    def rename(self, label: str) -> None:
        """Its reads were misreads (a tile read only unsurely, or misread while it lay loose): they
        go, and `label` holds until reads outweigh it, as a tile's first reads do."""
        self._forget()
        self.recent.clear()
        self.label = self.name = label

    def runner_up(self, tile: str | None = None) -> tuple[str, float] | None:
        tile = tile or self.tile()
        others = [(w, label) for label, w in self.weight.items() if label != tile]
        if not others:
            return None
        w, label = max(others)
        return label, w / self.total


def sorts_to(tracks: Sequence[Track], kind: str, order: str = SUITS) -> range:
    """Where a tile of `kind` may sort among `tracks` (a hand whose suits lie in `order`): after the
    last one read as a kind at or below it and before the first read as a kind above it (a guessed
    place may be either)."""
    rank = ranks(order)
    lo, hi = 0, len(tracks)
    for at, tr in enumerate(tracks):
        if tr.weight.get(tr.tile()) and tr.seen() and not tr.loose:
            if rank[tr.tile()] <= rank[kind]:
                lo = at + 1
            elif hi == len(tracks):
                hi = at
    return range(lo, max(lo, hi) + 1)


def may_sort_to(tracks: Sequence[Track], kind: str, order: str = SUITS) -> list[int]:
    """Where a tile of `kind` may go among `tracks`: where it sorts, and, when the hand holds no
    tile of its suit (so where the player keeps that suit is not known), any end of a suit's run."""
    places = list(sorts_to(tracks, kind, order))
    suits = [tr.tile()[1:] for tr in tracks]
    if kind[1:] not in suits:
        ends = [at for at in range(len(tracks) + 1) if at in (0, len(tracks)) or suits[at - 1] != suits[at]]
        places += [at for at in ends if at not in places]
    return places


def in_order(labels: Sequence[str], order: str = SUITS) -> bool:
    """Labels sorted as a hand whose suits lie in `order` is, with at most COPIES of a kind."""
    rank = ranks(order)
    run = 0
    for a, b in zip(labels, labels[1:]):
        if rank[a] > rank[b]:
            return False
        run = run + 1 if a == b else 0
        if run >= COPIES:
            return False
    return True


def name_sorted(tracks: Sequence[Track], order: str = SUITS) -> list[str]:
    """Names the tracks left to right: the labels in the hand's sorted order, at most COPIES of a kind,
    that their reads name most (each tile by the shares of its reads, so a tile long read counts no
    more than one just drawn; its own label earns `KEEP` more, so a hand in order keeps its labels,
    and the name it had `KEEP_NAME` more, so a name holds until another is better). A tile read as a
    kind that cannot lie there (a confusion across suits) takes the best read that can, and a place
    no read names (or only now and then: not `seen`) takes the lowest kind that fits between its
    neighbours, preferring kinds not held elsewhere (the model reads a kind alike wherever it lies):
    a guess, seen by its confidence of 0. A dynamic programme over (place, kind, copies in a row).
    `order`: the order of the suits in the hand (the player's habit). A tile `loose` (kept where it
    lay, out of order) is named by its own reads, the others around it."""
    if any(tr.loose for tr in tracks):
        named = iter(name_sorted([tr for tr in tracks if not tr.loose], order))
        for tr in tracks:
            if tr.loose:
                tr.name = tr.label
        return [tr.name if tr.loose else next(named) for tr in tracks]
    labels = [tr.label if tr.seen() else "" for tr in tracks]
    if all(labels) and in_order(labels, order):
        for tr in tracks:
            tr.name = tr.label
        return labels
    kinds, rank = sorted_kinds(order), ranks(order)
    n = len(tracks)
    value = np.zeros((n, len(kinds)))
    for p, tr in enumerate(tracks):
        if labels[p]:
            for label, w in tr.weight.items():
                value[p, rank[label]] += w / tr.total
            value[p, rank[tr.label]] += KEEP
        if tr.name and tr.weight.get(tr.name):  # (a guess holds nothing)
            value[p, rank[tr.name]] += KEEP_NAME
    for label, count in Counter(labels).items():
        if label:
            value[:, rank[label]] -= GUESS_PENALTY * count
    # best[p, k, r]: the most weight of places 0..p with place p named kind k, the (r+1)-th copy in a row
    best = np.full((n, len(kinds), COPIES), -np.inf)
    best[0, :, 0] = value[0]
    for p in range(1, n):
        below = np.maximum.accumulate(best[p - 1].max(axis=1))
        best[p, 1:, 0] = below[:-1] + value[p, 1:]
        best[p, :, 1:] = best[p - 1, :, :-1] + value[p][:, None]
    k, r = divmod(int(np.argmax(best[n - 1])), COPIES)
    names = [""] * n
    for p in range(n - 1, -1, -1):
        names[p] = kinds[k]
        if p == 0:
            break
        if r:
            r -= 1
        else:
            k, r = divmod(int(np.argmax(best[p - 1, :k])), COPIES)
    for tr, name in zip(tracks, names):
        tr.name = name
    return names
