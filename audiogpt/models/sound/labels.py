"""Free-text sound queries -> the AudioSet labels a tagger knows, by meaning (MiniLM).

"a door slamming" has no label of that spelling; "Door" and "Sliding door"
mean it. Labels are embedded as "the sound of <label>" and the query (its
filler words removed: "when does the dog bark?" -> "dog bark") as it is, with
the numpy all-MiniLM-L6-v2 encoder. That pairing separated real sounds from
unrelated text best on a hand check of 40 queries: sounds scored 0.40-0.86
against their nearest label ("the baby" 0.40, "a door slamming" -> Door 0.66,
"someone coughing" -> Cough 0.71), unrelated phrases ("the stock market",
"income tax", "xyzzy", "the weather forecast") 0.15-0.34; templating both
sides lifted everything to 0.5-1.0 and erased the gap. Below
:data:`KNOWN_THRESHOLD` the honest answer is that the model has no label for
the query.

Embedding 521 labels takes ~15 s on a busy 2-core CPU, so the matrix is cached
on disk (keyed by the label list) and in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiogpt.models.text_embedding import get_embedder

log = logging.getLogger(__name__)

KNOWN_THRESHOLD = 0.37  # below this the label set has nothing that means the query
MARGIN = 0.08  # labels this close to the best also count (Door / Sliding door)
MAX_LABELS = 4
TEMPLATE = "the sound of {}"

# A few AudioSet ontology edges (child -> parent) the class map does not carry. The tagger
# often fires only the parent ("Speech" for one person talking), so a query that lands on a
# child label also listens to its parent.
PARENTS: dict[str, str] = {
    "Conversation": "Speech", "Narration, monologue": "Speech", "Child speech, kid speaking": "Speech",
    "Babbling": "Speech", "Speech synthesizer": "Speech", "Chatter": "Speech",
    "Bark": "Dog", "Yip": "Dog", "Howl": "Dog", "Bow-wow": "Dog", "Growling": "Dog", "Whimper (dog)": "Dog",
    "Meow": "Cat", "Purr": "Cat", "Caterwaul": "Cat", "Hiss": "Cat",
    "Bird vocalization, bird call, bird song": "Bird", "Chirp, tweet": "Bird", "Squawk": "Bird",
    "Car passing by": "Car", "Vehicle horn, car horn, honking": "Car", "Car alarm": "Car",
    "Police car (siren)": "Siren", "Ambulance (siren)": "Siren", "Fire engine, fire truck (siren)": "Siren",
    "Civil defense siren": "Siren", "Reversing beeps": "Beep, bleep",
    "Raindrop": "Rain", "Rain on surface": "Rain", "Applause": "Clapping",
    "Telephone bell ringing": "Telephone", "Ringtone": "Telephone",
    "Sliding door": "Door", "Doorbell": "Door", "Knock": "Door", "Slam": "Door",
}
_FILLER = re.compile(
    r"^(?:please\s+)?(?:(?:when|where|at what time|how often)\s+(?:does|do|did|is|are|was|were|can i hear)\s+|"
    r"(?:find|detect|locate|extract|isolate|separate|pull out|get|show me|tell me when|is there)\s+)?"
    r"(?:the\s+)?(?:sounds?\s+of\s+|noises?\s+of\s+)?",
    re.IGNORECASE,
)
_TRAIL = re.compile(r"\s*(?:\bhappen(?:s|ing)?\b|\boccur(?:s|ring)?\b|\bin (?:the|this) (?:clip|recording|audio|file)\b)"
                    r"[\s?.!]*$|[\s?.!]+$", re.IGNORECASE)


def clean_query(query: str) -> str:
    """The sound a request names: "When does the dog bark?" -> "dog bark"."""
    q = " ".join(query.split())
    q = _FILLER.sub("", q, count=1)
    q = _TRAIL.sub("", q)
    q = re.sub(r"^(?:the|a|an|some)\s+", "", q, flags=re.IGNORECASE)
    return q.strip() or query.strip()


@dataclass(frozen=True)
class LabelMatch:
    """Labels that mean the query, best first, and how sure the match is."""

    query: str
    labels: tuple[str, ...]
    indices: tuple[int, ...]
    similarities: tuple[float, ...]
    nearest: tuple[str, ...]  # the closest labels even when none is close enough

    @property
    def known(self) -> bool:
        return bool(self.labels)

    @property
    def best(self) -> float:
        return self.similarities[0] if self.similarities else 0.0


class LabelIndex:
    """Unit embeddings of every label; ``match`` finds the labels a query means."""

    def __init__(self, labels: list[str], vectors: np.ndarray) -> None:
        self.labels = labels
        self.vectors = vectors

    def match(self, query: str, threshold: float = KNOWN_THRESHOLD, margin: float = MARGIN,
              limit: int = MAX_LABELS, allowed: set[int] | None = None) -> LabelMatch:
        text = clean_query(query)
        v = get_embedder().embed(text.lower())
        sims = self.vectors @ v
        if allowed is not None:
            mask = np.full(sims.shape, -1.0, np.float32)
            idx = np.fromiter(allowed, int)
            mask[idx] = sims[idx]
            sims = mask
        order = np.argsort(-sims)
        nearest = tuple(self.labels[i] for i in order[:3])
        best = float(sims[order[0]])
        if best < threshold:
            return LabelMatch(text, (), (), (), nearest)
        keep = [int(i) for i in order[:limit] if sims[i] >= max(threshold, best - margin)]
        for i in list(keep):
            parent = PARENTS.get(self.labels[i])
            if parent in self.labels and self.labels.index(parent) not in keep:
                keep.append(self.labels.index(parent))
        return LabelMatch(text, tuple(self.labels[i] for i in keep), tuple(keep),
                          tuple(round(float(sims[i]), 3) for i in keep), nearest)

    def similarity(self, a: int, b: int) -> float:
        return float(self.vectors[a] @ self.vectors[b])


def _cache_file(labels: list[str]) -> Path:
    digest = hashlib.sha256(("\n".join(labels) + TEMPLATE).encode()).hexdigest()[:16]
    root = os.environ.get("AUDIOGPT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "audiogpt")
    return Path(root).expanduser() / "label-embeddings" / f"minilm-{digest}.npy"


_INDEXES: dict[tuple[str, ...], LabelIndex] = {}
_LOCK = threading.Lock()


def label_index(labels: list[str]) -> LabelIndex:
    """The embeddings of ``labels``: from memory, the disk cache, or computed once (~15 s for 521)."""
    key = tuple(labels)
    with _LOCK:
        if key in _INDEXES:
            return _INDEXES[key]
        path = _cache_file(labels)
        vectors: np.ndarray | None = None
        try:
            loaded = np.load(path)
            if loaded.shape[0] == len(labels):
                vectors = loaded.astype(np.float32)
        except (OSError, ValueError):
            pass
        if vectors is None:
            vectors = get_embedder().embed([TEMPLATE.format(lab.lower()) for lab in labels])
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
                with os.fdopen(fd, "wb") as f:
                    np.save(f, vectors)
                os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared by several users
                os.replace(tmp, path)
            except OSError as exc:  # a read-only cache only costs the 15 s next time
                log.warning("could not cache label embeddings in %s: %s", path.parent, exc)
        index = LabelIndex(labels, np.asarray(vectors, np.float32))
        _INDEXES[key] = index
        return index
