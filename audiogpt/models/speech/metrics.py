"""Word error rate and SI-SDR, shared by the tests and the benches.

Text is normalised the way ASR evaluations usually do (case, punctuation,
small numbers written as digits or words), so ``"At 9."`` matches ``"at nine"``
and only real recognition errors count.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np

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


def si_sdr(estimate: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al., 2019).

    Both signals are made zero-mean and cut to the shorter length; the estimate is
    projected on the reference so a gain change alone scores the same. It is the
    usual figure for enhancement and separation because it ignores level, which
    those models may change freely. A silent reference or a perfect estimate are
    clamped to -100 / +100 dB instead of dividing by zero.
    """
    est = np.asarray(estimate, dtype=np.float64).reshape(-1)
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    n = min(est.size, ref.size)
    if n == 0:
        raise ValueError("si_sdr needs non-empty signals")
    est = est[:n] - est[:n].mean()
    ref = ref[:n] - ref[:n].mean()
    energy = float(np.dot(ref, ref))
    if energy <= 0.0:
        return -100.0
    target = (float(np.dot(est, ref)) / energy) * ref
    noise = est - target
    t, e = float(np.dot(target, target)), float(np.dot(noise, noise))
    if e <= 0.0:
        return 100.0
    if t <= 0.0:
        return -100.0
    return float(np.clip(10.0 * np.log10(t / e), -100.0, 100.0))
