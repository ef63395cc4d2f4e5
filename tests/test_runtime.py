"""Model cache: lazy loads, one load under concurrency, LRU eviction under a memory budget; registry choice."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from audiogpt.models.base import BackendInfo, BackendResult, ModelNotInstalled
from audiogpt.models.registry import Registry
from audiogpt.models.runtime import ModelCache


class Fake:
    def __init__(self, name: str, mb: int, kind: str = "lite", installed: bool = True, task: str = "text_to_audio") -> None:
        self.name, self.task, self.kind = name, task, kind
        self.mb, self.installed, self.loads = mb, installed, 0
        self.lock = threading.Lock()

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, self.kind, "m", "MIT", self.installed, install_hint="pip install x",
                           reason=f"{self.name} weights are missing.", memory_mb=self.mb)  # type: ignore[arg-type]

    def load(self) -> Any:
        time.sleep(0.05)
        with self.lock:
            self.loads += 1
        return {"model": self.name}

    def run(self, model: Any, **kw: Any) -> BackendResult:
        return BackendResult()


def test_concurrent_gets_load_once() -> None:
    cache, b = ModelCache(1000), Fake("a", 100)
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: cache.get(b), range(8)))
    assert b.loads == 1 and all(r is results[0] for r in results)


def test_lru_eviction_under_budget() -> None:
    cache = ModelCache(250)
    a, b, c = Fake("a", 100), Fake("b", 100), Fake("c", 100)
    cache.get(a)
    cache.get(b)
    cache.get(a)  # a is now most recent
    cache.get(c)  # must evict b
    assert cache.loaded() == ["text_to_audio:a", "text_to_audio:c"] and cache.used_mb == 200
    cache.get(b)
    assert b.loads == 2 and "text_to_audio:a" not in cache.loaded()


def test_registry_selection_and_messages() -> None:
    full, lite = Fake("big", 1, kind="full"), Fake("small", 1)
    reg = Registry(factories=[lambda: [lite, full]], device="cpu")
    assert reg.select("text_to_audio").name == "small"
    assert Registry(factories=[lambda: [lite, full]], device="cuda").select("text_to_audio").name == "big"
    reg = Registry({"text_to_audio": "full"}, factories=[lambda: [lite, Fake("big", 1, kind="full", installed=False)]])
    with pytest.raises(ModelNotInstalled, match=r"^big weights are missing; pip install x\.$"):
        reg.select("text_to_audio")
    reg = Registry({"text_to_audio": "nope"}, factories=[lambda: [lite]])
    with pytest.raises(ModelNotInstalled, match="does not exist"):
        reg.select("text_to_audio")
    with pytest.raises(ModelNotInstalled, match=r"^No backend for text_to_music is installed"):
        Registry(factories=[]).select("text_to_music")
