"""A small calibrated classifier over sentence embeddings: which class does a clause ask for?

Why learned and not nearest-neighbour with hand nudges: the nearest exemplar decides on
whatever word it shares (an object noun such as "music" drags "describe the genre of this
music" to the composer), and every confusion then needed a hand tie-break per pair. A
multinomial logistic regression over the embeddings weighs every exemplar of every class
at once, and its probabilities are calibrated (one temperature fitted on held-out
exemplars), so "clarify only when the scores are truly close" is a statement about
probabilities, not about cosine values.

Two views of a clause:
- English: MiniLM (strong on English paraphrase) concatenated with USE-multilingual;
- any other language: USE-multilingual alone, whose space is shared across 16 languages,
  so the English exemplars train it too.

Training data: the catalogue's exemplars, templates and description sentences, the
engine's non-tool classes (chat, unsupported), plus deterministic augmentations
(politeness frames, a dropped letter). 20% of exemplars (stratified, by hash) are held
out to fit the temperature and to report an honest accuracy; the final model is then
fitted on everything. Weights are cached on disk by a hash of the data and embedders.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

L2 = 1e-4
ITERS = 350
LR = 0.05


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)).astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Softmax:
    """Multinomial logistic regression; ``proba`` applies the fitted temperature."""

    w: np.ndarray
    b: np.ndarray
    temperature: float = 1.0

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.w + self.b

    def proba(self, x: np.ndarray) -> np.ndarray:
        return _softmax(self.logits(x) / self.temperature)


def fit_softmax(x: np.ndarray, y: np.ndarray, n_classes: int, weights: np.ndarray | None = None,
                iters: int = ITERS, l2: float = L2, lr: float = LR, init: Softmax | None = None) -> Softmax:
    """Full-batch Adam on the weighted cross-entropy; deterministic (no sampling).

    ``init`` warm-starts from an earlier fit (the held-out one), so the final fit on all the
    data needs a fraction of the iterations."""
    n, d = x.shape
    sw = np.ones(n, dtype=np.float32) if weights is None else weights.astype(np.float32)
    sw = sw / sw.sum()
    onehot = np.zeros((n, n_classes), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0
    w = init.w.copy() if init is not None else np.zeros((d, n_classes), dtype=np.float32)
    b = init.b.copy() if init is not None else np.zeros(n_classes, dtype=np.float32)
    mw, vw = np.zeros_like(w), np.zeros_like(w)
    mb, vb = np.zeros_like(b), np.zeros_like(b)
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, iters + 1):
        p = _softmax(x @ w + b)
        g = (p - onehot) * sw[:, None]
        gw = x.T @ g + l2 * w
        gb = g.sum(axis=0)
        mw = b1 * mw + (1 - b1) * gw
        vw = b2 * vw + (1 - b2) * gw * gw
        mb = b1 * mb + (1 - b1) * gb
        vb = b2 * vb + (1 - b2) * gb * gb
        c1, c2 = 1 - b1**t, 1 - b2**t
        w -= lr * (mw / c1) / (np.sqrt(vw / c2) + eps)
        b -= lr * (mb / c1) / (np.sqrt(vb / c2) + eps)
    return Softmax(w, b)


def fit_temperature(model: Softmax, x: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising held-out negative log-likelihood (grid search, 0.3..5)."""
    z = model.logits(x)
    best, best_t = float("inf"), 1.0
    for t in np.exp(np.linspace(np.log(0.3), np.log(5.0), 60)):
        p = _softmax(z / t)
        nll = -float(np.mean(np.log(np.maximum(p[np.arange(len(y)), y], 1e-12))))
        if nll < best:
            best, best_t = nll, float(t)
    return best_t


def _held_out(text: str) -> bool:
    return int(hashlib.md5(text.encode()).hexdigest()[:4], 16) % 5 == 0


@dataclass
class Example:
    text: str
    label: int
    weight: float = 1.0
    source: str = ""  # for an augmentation, the exemplar it was made from (held out together)


@dataclass
class TrainReport:
    """What the fit measured on exemplars it did not train on."""

    held_out: int = 0
    held_out_accuracy: float = 0.0
    held_out_accuracy_multilingual: float = 0.0
    temperature: float = 1.0
    temperature_multilingual: float = 1.0
    confusions: list[tuple[str, str, str]] = field(default_factory=list)  # (text, truth, predicted)


@dataclass
class IntentModel:
    """Both views' classifiers and the report of their held-out fit."""

    classes: list[str]
    english: Softmax
    multilingual: Softmax
    mean_en: np.ndarray
    report: TrainReport


def _cache_dir() -> Path:
    base = os.environ.get("AUDIOGPT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "audiogpt"
    )
    return Path(base)


def train(classes: list[str], examples: list[Example], en_vecs: np.ndarray, ml_vecs: np.ndarray,
          cache_key: str = "") -> IntentModel:
    """Fit (or load from the cache) the two classifiers for ``examples`` embedded both ways."""
    y = np.asarray([e.label for e in examples])
    sw = np.asarray([e.weight for e in examples], dtype=np.float32)
    mean_en = en_vecs.mean(axis=0) if len(en_vecs) else np.zeros(en_vecs.shape[1], dtype=np.float32)
    x_en = np.concatenate([_unit(en_vecs - mean_en), ml_vecs], axis=1)
    x_ml = ml_vecs
    path = _cache_dir() / f"intent-{cache_key}.npz" if cache_key else None
    if path is not None:
        try:
            z = np.load(path, allow_pickle=False)
            if list(z["classes"]) == classes:
                rep = TrainReport(int(z["held_out"]), float(z["acc"]), float(z["acc_ml"]), float(z["t_en"]),
                                  float(z["t_ml"]))
                return IntentModel(classes, Softmax(z["w_en"], z["b_en"], float(z["t_en"])),
                                   Softmax(z["w_ml"], z["b_ml"], float(z["t_ml"])), mean_en, rep)
        except (OSError, KeyError, ValueError):
            pass
    # Held out: 1 exemplar in 5 as written. Its augmentations would leak it into training,
    # so they are left out of the held-out fit too (and not scored).
    hold = np.asarray([not e.source and _held_out(e.text) for e in examples])
    leak = np.asarray([bool(e.source) and _held_out(e.source) for e in examples])
    train_mask = ~hold & ~leak
    report = TrainReport(held_out=int(hold.sum()))
    k = len(classes)
    temps = []
    fitted = []
    for x, name in ((x_en, "en"), (x_ml, "ml")):
        m = fit_softmax(x[train_mask], y[train_mask], k, sw[train_mask])
        fitted.append(m)
        t = fit_temperature(m, x[hold], y[hold]) if hold.any() else 1.0
        temps.append(t)
        pred = m.logits(x[hold]).argmax(axis=1) if hold.any() else np.zeros(0, dtype=int)
        acc = float((pred == y[hold]).mean()) if hold.any() else 0.0
        if name == "en":
            report.held_out_accuracy = acc
            held = [e for e, h in zip(examples, hold, strict=True) if h]
            report.confusions = [(e.text, classes[e.label], classes[p]) for e, p in zip(held, pred, strict=True)
                                 if p != e.label]
        else:
            report.held_out_accuracy_multilingual = acc
    report.temperature, report.temperature_multilingual = temps
    en = fit_softmax(x_en, y, k, sw, iters=ITERS // 3, init=fitted[0])
    en.temperature = temps[0]
    ml = fit_softmax(x_ml, y, k, sw, iters=ITERS // 3, init=fitted[1])
    ml.temperature = temps[1]
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, classes=np.asarray(classes), w_en=en.w, b_en=en.b, t_en=en.temperature, w_ml=ml.w,
                     b_ml=ml.b, t_ml=ml.temperature, held_out=report.held_out, acc=report.held_out_accuracy,
                     acc_ml=report.held_out_accuracy_multilingual)
            os.replace(tmp, path)
        except OSError:
            pass
    log.info("intent model: %d examples, held-out accuracy %.3f (multilingual view %.3f), T=%.2f/%.2f",
             len(examples), report.held_out_accuracy, report.held_out_accuracy_multilingual, *temps)
    return IntentModel(classes, en, ml, mean_en, report)


def predict(model: IntentModel, en_vecs: np.ndarray | None, ml_vecs: np.ndarray, english: list[bool]) -> np.ndarray:
    """Class probabilities per row: the English view where the text is English, else multilingual."""
    out = model.multilingual.proba(ml_vecs)
    if en_vecs is not None and any(english):
        idx = np.asarray([i for i, e in enumerate(english) if e])
        x = np.concatenate([_unit(en_vecs[idx] - model.mean_en), ml_vecs[idx]], axis=1)
        out[idx] = model.english.proba(x)
    return out
