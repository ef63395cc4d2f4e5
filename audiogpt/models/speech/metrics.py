"""Word error rate, shared by the tests and the benches.

Text is normalised the way ASR evaluations usually do (case, punctuation,
small numbers written as digits or words), so ``"At 9."`` matches ``"at nine"``
and only real recognition errors count.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_NUMBERS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
]
_DIGITS = {str(i): w for i, w in enumerate(_NUMBERS)}


def normalize(text: str) -> list[str]:
    """Lower-case words without punctuation; 0-20 as words; ``"don't"`` kept whole."""
    t = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    t = re.sub(r"(\d),(\d)", r"\1\2", t)
    t = re.sub(r"[^\w\s']", " ", t)
    words = []
    for w in t.split():
        w = w.strip("'")
        if not w:
            continue
        words.append(_DIGITS.get(w, w))
    return words


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance over words (substitutions, deletions, insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def wer(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """Word error rate; with lists of sentences, corpus WER (total edits / total words).

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise.
    """
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    edits = words = 0
    for r, h in zip(refs, hyps, strict=True):
        rw, hw = normalize(r), normalize(h)
        edits += edit_distance(rw, hw)
        words += len(rw)
    if words == 0:
        return 0.0 if edits == 0 else 1.0
    return edits / words
