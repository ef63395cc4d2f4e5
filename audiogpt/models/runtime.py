"""The model runtime: device choice and a cache of loaded models under a memory budget.

Models load lazily on first use, never at start-up. The cache evicts the least
recently used model when the budget would be exceeded; loading the same model
from two jobs at once loads it once.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from audiogpt.models.base import Backend, have_module

log = logging.getLogger(__name__)


def pick_device(preference: str = "auto") -> str:
    """The device named (``cpu``, ``cuda``, ``cuda:1``, ``mps``), or for ``auto`` ``cuda`` when torch sees one, else ``cpu``."""
    preference = (preference or "auto").strip().lower()
    if preference in ("cpu", "cuda", "mps") or preference.startswith("cuda:"):
        return preference
    if have_module("torch"):
        try:
            import torch

            if torch.cuda.is_available():
                return "cuda"
        except Exception:  # a broken torch install must not stop the bot
            log.warning("torch is installed but could not be imported; using the CPU", exc_info=True)
    return "cpu"


@dataclass
class _Entry:
    model: Any
    memory_mb: int
    loaded_in: float
    last_used: float


class ModelCache:
    """Thread-safe LRU cache of loaded backends, bounded by ``budget_mb``."""

    def __init__(self, budget_mb: int = 4096) -> None:
        self.budget_mb = budget_mb
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    @staticmethod
    def key(backend: Backend) -> str:
        return f"{backend.task}:{backend.name}"

    def get(self, backend: Backend) -> Any:
        """Return the loaded model of ``backend``, loading it (blocking) when needed."""
        key = self.key(backend)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                entry.last_used = time.monotonic()
                return entry.model
            load_lock = self._loading.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:
                    self._entries.move_to_end(key)
                    return entry.model
            need = max(0, int(backend.describe().memory_mb))
            self._make_room(need)
            t0 = time.perf_counter()
            model = backend.load()
            took = time.perf_counter() - t0
            log.info("loaded %s in %.2fs (~%d MB)", key, took, need)
            with self._lock:
                self._entries[key] = _Entry(model, need, took, time.monotonic())
            return model

    def _make_room(self, need_mb: int) -> None:
        with self._lock:
            while self._entries and self.used_mb + need_mb > self.budget_mb:
                old_key, old = self._entries.popitem(last=False)
                log.info("evicting %s (~%d MB) to fit %d MB in a %d MB budget", old_key, old.memory_mb, need_mb, self.budget_mb)
                del old
        gc.collect()

    @property
    def used_mb(self) -> int:
        return sum(e.memory_mb for e in self._entries.values())

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
        gc.collect()
