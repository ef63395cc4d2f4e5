"""Word error rate and SI-SDR, shared by the tests and the benches.

Text is normalised the way ASR evaluations usually do (case, punctuation,
small numbers written as digits or words), so ``"At 9."`` matches ``"at nine"``
and only real recognition errors count.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

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
    return _corpus_wer(reference, hypothesis, normalize)


def _corpus_wer(reference: str | Sequence[str], hypothesis: str | Sequence[str],
                norm: Callable[[str], list[str]]) -> float:
    refs = [reference] if isinstance(reference, str) else list(reference)
    hyps = [hypothesis] if isinstance(hypothesis, str) else list(hypothesis)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    edits = words = 0
    for r, h in zip(refs, hyps, strict=True):
        rw, hw = norm(r), norm(h)
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


# --- numbers as spoken words, for WER on real transcripts ------------------------------------------
# Real references mix "1995", "fifteenth" and "nineteen ninety-five"; Whisper writes either. Scoring
# both sides with every number spelled out keeps a formatting choice from counting as an error.

_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = [(10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")]
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}


def cardinal_words(n: int) -> list[str]:
    """``n`` (>= 0) as English words without "and": 1205 -> one thousand two hundred five."""
    if n <= 20:
        return [_NUMBERS[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_NUMBERS[n % 10]] if n % 10 else [])
    for scale, word in _SCALES:
        if n >= scale:
            rest = n % scale
            return cardinal_words(n // scale) + [word] + (cardinal_words(rest) if rest else [])
    return [str(n)]  # unreachable


def year_words(n: int) -> list[str]:
    """How a four-digit year is said: 1995 -> nineteen ninety five, 2005 -> two thousand five."""
    hi, lo = divmod(n, 100)
    if 2000 <= n < 2010:
        return cardinal_words(n)
    if lo == 0:
        return [*cardinal_words(hi), "hundred"]
    return cardinal_words(hi) + (["oh", *cardinal_words(lo)] if lo < 10 else cardinal_words(lo))


def ordinal_words(n: int) -> list[str]:
    words = cardinal_words(n)
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return words


_NUM_TOKEN = re.compile(r"^(\d+)(st|nd|rd|th|s)?$")


def spell_number(token: str) -> list[str]:
    """One token as spoken words when it is a number ("1995", "15th", "1990s"), else ``[token]``."""
    m = _NUM_TOKEN.match(token)
    if not m or len(m.group(1)) > 12:
        return [token]
    n = int(m.group(1))
    suffix = m.group(2)
    if suffix in ("st", "nd", "rd", "th"):
        return ordinal_words(n)
    words = year_words(n) if len(m.group(1)) == 4 and 1100 <= n <= 2099 else cardinal_words(n)
    if suffix == "s":  # the 1990s
        words[-1] = words[-1][:-1] + "ies" if words[-1].endswith("y") else words[-1] + "s"
    return words


def normalize_spoken(text: str) -> list[str]:
    """:func:`normalize`, then every number spelled out (years as years, ordinals, decimals, percent)."""
    t = unicodedata.normalize("NFKC", text)
    t = re.sub(r"(\d)\.(\d)", r"\1 point \2", t)
    t = re.sub(r"(\d)\s*%", r"\1 percent", t)
    t = re.sub(r"\$(\d[\d,]*)", r"\1 dollars", t)
    out: list[str] = []
    for w in normalize(t):
        out.extend(spell_number(w))
    return out


def wer_spoken(reference: str | Sequence[str], hypothesis: str | Sequence[str]) -> float:
    """Corpus WER with numbers spoken as words on both sides (see :func:`normalize_spoken`)."""
    return _corpus_wer(reference, hypothesis, normalize_spoken)


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate without spaces or punctuation: the fair figure for Chinese, which has no
    spaces between words."""
    def chars(s: str) -> list[str]:
        return [c for c in unicodedata.normalize("NFKC", s).lower() if c.isalnum()]

    ref = chars(reference)
    if not ref:
        return 0.0 if not chars(hypothesis) else 1.0
    return edit_distance(ref, chars(hypothesis)) / len(ref)


STOPWORDS = frozenset(
    ["a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "is", "are", "was", "were", "be", "been", "being", "it", "its", "this", "that", "these", "those", "i", "you", "he", "she", "we", "they", "me", "him", "her", "us", "them", "my", "your", "his", "our", "their", "one's", "oneself", "should", "have", "has", "had", "do", "does", "did", "not", "no", "so", "than", "then", "there", "here", "what", "which", "who", "whom", "whose", "how", "when", "where", "why", "all", "any", "each", "own", "same", "too", "very", "can", "will", "just", "into", "out", "up", "down", "over", "under", "again", "about"])


def content_words(text: str) -> list[str]:
    """The words that carry meaning (stop words dropped), numbers spoken, for translation recall."""
    return [w for w in normalize_spoken(text) if w not in STOPWORDS]


def content_recall(reference: str, hypothesis: str) -> float:
    """Share of the reference's content words that the hypothesis contains (a translation's gist),
    with a crude plural/verb-ending fold so "guys" matches "guy"."""
    def stem(w: str) -> str:
        for suf in ("ing", "ed", "es", "s"):
            if len(w) > len(suf) + 2 and w.endswith(suf):
                return w[: -len(suf)]
        return w

    ref = {stem(w) for w in content_words(reference)}
    if not ref:
        return 1.0
    hyp = {stem(w) for w in content_words(hypothesis)}
    return len(ref & hyp) / len(ref)
