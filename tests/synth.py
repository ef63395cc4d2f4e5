"""Synthetic speech for the tests, made once and cached by content.

Why: a test that listens to synthetic speech is only as repeatable as the speech. Piper is
deterministic now (its noise scales are fixed at 0 in ``tts_piper``) and espeak-ng is
deterministic by construction, but a cache keyed by everything that decides the samples
(the text, the voice file's bytes, the synthesiser's version and source) makes it a fact
rather than a hope: every run of every test reads the same float32 samples, a new Piper or
a changed ``tts_piper.py`` gets a new key, and the slow models are not loaded at all when
every clip is cached.

The cache lives beside the Whisper weights (``$AUDIOGPT_CACHE_DIR`` or
``$XDG_CACHE_HOME/audiogpt``) in ``test-synth/``; ``AUDIOGPT_TEST_SYNTH_CACHE`` moves it.
``AUDIOGPT_TEST_SYNTH_VERIFY=1`` re-synthesises every cached clip and fails on any byte that
differs, which is how determinism is shown rather than assumed.

The missing-model rule lives here too: a model the tests need that is not installed skips
with a loud reason on a developer's machine and fails on CI (``CI`` set), as the
PostgreSQL guard in ``conftest.py`` does, so CI can never go green by skipping.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pytest

from audiogpt.models.base import Audio


def missing_model(reason: str) -> NoReturn:
    """Skip loudly where a model is not installed; fail on CI, where everything must be."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs every test extra, so this must not be skipped)")
    pytest.skip(f"!!! {reason.rstrip('.')}: these tests are SKIPPED !!!")


def require_module(name: str) -> Any:
    """``pytest.importorskip`` for a third-party test extra, under :func:`missing_model`'s rule."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as err:
        missing_model(f"{name} is not installed ({err}); install the test extras with `make install-test`")


def cache_dir() -> Path:
    explicit = os.environ.get("AUDIOGPT_TEST_SYNTH_CACHE")
    if explicit:
        return Path(explicit)
    root = os.environ.get("AUDIOGPT_CACHE_DIR")
    if root:
        return Path(root) / "test-synth"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "audiogpt" / "test-synth"


def _verify() -> bool:
    return os.environ.get("AUDIOGPT_TEST_SYNTH_VERIFY", "") not in ("", "0")


@functools.lru_cache(maxsize=1)
def _piper_identity() -> str:
    """Everything besides the text that decides Piper's samples: versions, voice bytes, our wrapper."""
    from audiogpt.models.speech import tts_piper

    files = tts_piper.voice_files()
    h = hashlib.sha256()
    for dist in ("piper-tts", "onnxruntime", "numpy"):
        try:
            h.update(f"{dist}={importlib.metadata.version(dist)};".encode())
        except importlib.metadata.PackageNotFoundError:
            h.update(f"{dist}=none;".encode())
    if files is not None:
        for f in files:
            if f.is_file():
                h.update(hashlib.sha256(f.read_bytes()).digest())
    h.update(Path(tts_piper.__file__).read_bytes())
    return h.hexdigest()


def _load(path: Path) -> Audio | None:
    try:
        with np.load(path) as z:
            return Audio(z["samples"].astype(np.float32, copy=False), int(z["rate"]))
    except (OSError, KeyError, ValueError):
        return None  # absent or torn: made again


def _store(path: Path, audio: Audio) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, samples=np.asarray(audio.samples, np.float32), rate=np.int64(audio.sample_rate))
    os.replace(tmp, path)  # atomic: a parallel session never reads half a clip


def _same(a: Audio, b: Audio) -> bool:
    return a.sample_rate == b.sample_rate and np.array_equal(np.asarray(a.samples, np.float32),
                                                             np.asarray(b.samples, np.float32))


class Synth:
    """Piper and espeak-ng speech, each clip made once and then read from the cache."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir()
        self._piper: tuple[Any, Any] | None = None
        self.made = 0  # clips synthesised this session (0 on a warm cache)
        self.hits = 0

    def _piper_model(self) -> tuple[Any, Any]:
        if self._piper is None:
            from audiogpt.models.speech.tts_piper import PiperJoeMedium

            backend = PiperJoeMedium()
            info = backend.describe()
            if not info.installed:
                missing_model(info.unavailable_message())
            self._piper = (backend, backend.load())
        return self._piper

    def _cached(self, key: str, make: Any) -> Audio:
        path = self.root / f"{key}.npz"
        audio = _load(path)
        if audio is not None:
            self.hits += 1
            if _verify():
                fresh = make()
                assert _same(audio, fresh), f"synthesis is not deterministic: {path} differs when made again"
            return audio
        audio = make()
        self.made += 1
        _store(path, audio)
        return audio

    def piper(self, text: str) -> Audio:
        """``text`` spoken by the project's Piper backend (22,050 Hz), exactly as the bot speaks it."""
        key = hashlib.sha256(f"piper\0{_piper_identity()}\0{text}".encode()).hexdigest()[:32]

        def make() -> Audio:
            backend, voice = self._piper_model()
            audio = backend.run(voice, text=text).outputs[0].audio
            assert audio is not None
            return audio

        return self._cached(key, make)

    def espeak(self, voice: str, texts: list[str], wpm: int = 140) -> list[Audio]:
        """``texts`` in an espeak-ng voice (``de``, ``es``...) from the espeak-ng inside piper-tts."""
        ident = _piper_identity()
        keys = [hashlib.sha256(f"espeak\0{ident}\0{voice}\0{wpm}\0{t}".encode()).hexdigest()[:32] for t in texts]
        out: list[Audio | None] = [_load(self.root / f"{k}.npz") for k in keys]
        self.hits += sum(a is not None for a in out)
        todo = [i for i, a in enumerate(out) if a is None or _verify()]
        if todo:
            fresh = _run_espeak(voice, [texts[i] for i in todo], wpm)
            for i, audio in zip(todo, fresh, strict=True):
                cached = out[i]
                if cached is not None:
                    assert _same(cached, audio), f"espeak-ng is not deterministic for {texts[i]!r}"
                else:
                    _store(self.root / f"{keys[i]}.npz", audio)
                    self.made += 1
                    out[i] = audio
        return [a for a in out if a is not None]


_ESPEAK = r"""
import base64, ctypes, importlib.util, json, sys
from pathlib import Path
import numpy as np
pdir = Path(next(iter(importlib.util.find_spec("piper").submodule_search_locations)))
lib = ctypes.CDLL(str(pdir / "espeakbridge.so"))
rate = lib.espeak_Initialize(2, 0, str(pdir).encode(), 0)  # AUDIO_OUTPUT_SYNCHRONOUS, data in the wheel
assert rate > 0, "espeak-ng did not initialise"
chunks = []
CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
@CB
def collect(wav, n, events):
    if n > 0:
        chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    return 0
lib.espeak_SetSynthCallback(collect)
assert lib.espeak_SetVoiceByName(sys.argv[1].encode()) == 0, "no such espeak-ng voice"
lib.espeak_SetParameter(1, int(sys.argv[2]), 0)  # espeakRATE, words per minute
out = []
for text in json.load(sys.stdin):
    chunks.clear()
    raw = text.encode()
    lib.espeak_Synth(raw, len(raw) + 1, 0, 1, 0, 1, None, None)  # POS_CHARACTER, espeakCHARS_UTF8
    lib.espeak_Synchronize()
    out.append(base64.b64encode(np.concatenate(chunks).astype("<i2").tobytes()).decode())
json.dump({"rate": rate, "audio": out}, sys.stdout)
"""


def _run_espeak(voice: str, texts: list[str], wpm: int) -> list[Audio]:
    """espeak-ng in a subprocess, so its global state never touches Piper's phonemiser."""
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    if not PiperJoeMedium().describe().installed:
        missing_model("piper-tts is not installed, so there is no espeak-ng to make German/Spanish speech")
    proc = subprocess.run([sys.executable, "-c", _ESPEAK, voice, str(wpm)], input=json.dumps(texts),
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.fail(f"espeak-ng inside piper-tts failed: {proc.stderr[-500:]}")
    data = json.loads(proc.stdout)
    return [Audio(np.frombuffer(base64.b64decode(a), "<i2").astype(np.float32) / 32768.0, data["rate"])
            for a in data["audio"]]
