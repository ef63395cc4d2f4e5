"""Which backends exist for which task, and how one is chosen.

Backends are discovered in one place: each family package (``speech``, ``sound``,
``generation``, ``transform``) declares its own in ``backends(config)``, and any
installed distribution can add more through the ``audiogpt.backends`` entry-point
group (each entry point is a callable ``(BackendConfig) -> list[Backend]``). Every
backend is constructed once, from a :class:`BackendConfig`, when a task is first
looked up.

``auto`` picks the first installed full backend when a GPU is present, else the
first installed lite backend. Every task ships a lite backend; a family or plug-in
that cannot be imported or fails to build is logged and left out, and its tasks then
say so in one sentence instead of failing obscurely.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib import metadata

from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Backend, BackendInfo, ModelNotInstalled

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "audiogpt.backends"
# The family packages, in the order their backends are listed (within a task, earlier wins a tie).
FAMILY_PACKAGES = ("audiogpt.models.speech", "audiogpt.models.sound", "audiogpt.models.generation",
            "audiogpt.models.transform")

Factory = Callable[[], list[Backend]]


def _family_factory(module: str, config: BackendConfig) -> Factory:
    def build() -> list[Backend]:
        import importlib

        return list(importlib.import_module(module).backends(config))

    build.__name__ = module.rsplit(".", 1)[-1]
    return build


def _plugin_factory(ep: metadata.EntryPoint, config: BackendConfig) -> Factory:
    def build() -> list[Backend]:
        return list(ep.load()(config))

    build.__name__ = f"{ENTRY_POINT_GROUP}:{ep.name}"
    return build


def plugin_entry_points() -> list[metadata.EntryPoint]:
    """The ``audiogpt.backends`` entry points of the installed distributions (looked up when called)."""
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)


def default_factories(config: BackendConfig) -> list[Factory]:
    """The family packages, then every plug-in entry point, each bound to ``config``."""
    return [*(_family_factory(m, config) for m in FAMILY_PACKAGES),
            *(_plugin_factory(ep, config) for ep in plugin_entry_points())]


class Registry:
    """All backends by task, built lazily; selection honours per-task settings."""

    def __init__(self, preferences: dict[str, str] | None = None, device: str | None = None,
                 factories: list[Factory] | None = None, *, config: BackendConfig | None = None) -> None:
        """``config`` builds the default backends; ``device`` (tests) overrides its device for selection.

        ``factories`` replaces discovery entirely (tests, custom builds): zero-argument callables
        returning backends.
        """
        self.preferences = dict(preferences or {})
        self.config = config or BackendConfig()
        self.device = device if device is not None else self.config.device
        self._factories = factories if factories is not None else default_factories(self.config)
        self._by_task: dict[str, list[Backend]] | None = None
        self._lock = threading.Lock()
        # select() runs on every job; describe() does file and cache look-ups, so the answer
        # (or the ModelNotInstalled sentence) is kept until refresh() or register().
        self._chosen: dict[str, Backend | ModelNotInstalled] = {}

    def __getstate__(self) -> dict[str, object]:
        # a registry handed to App.open travels to Ray replicas; a lock does not pickle
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Forget cached choices (after installing weights at run time)."""
        self._chosen.clear()

    def _build(self) -> dict[str, list[Backend]]:
        if self._by_task is not None:
            return self._by_task
        with self._lock:  # replicas select from worker threads: construct every backend once
            if self._by_task is not None:
                return self._by_task
            by_task: dict[str, list[Backend]] = {}
            for factory in self._factories:
                name = getattr(factory, "__name__", repr(factory))
                try:
                    backends = factory()
                except Exception as exc:  # a family or plug-in that fails is absent, never fatal
                    # the type and the first line only: a plug-in's message may hold a path or a token
                    first = (str(exc).splitlines() or [""])[0][:200]
                    log.warning("backend factory %s unavailable: %s: %s", name, type(exc).__name__, first)
                    continue
                for b in backends:
                    by_task.setdefault(b.task, []).append(b)
            self._by_task = by_task
        return self._by_task

    def register(self, backend: Backend) -> None:
        self._build().setdefault(backend.task, []).insert(0, backend)
        self._chosen.pop(backend.task, None)

    def backends(self, task: str) -> list[Backend]:
        return list(self._build().get(task, []))

    def infos(self, task: str) -> list[BackendInfo]:
        return [b.describe() for b in self.backends(task)]

    def select(self, task: str) -> Backend:
        """The backend to run for ``task``, or :class:`ModelNotInstalled` with one clear sentence."""
        if task not in self._chosen:
            try:
                self._chosen[task] = self._select(task)
            except ModelNotInstalled as exc:
                self._chosen[task] = exc
        chosen = self._chosen[task]
        if isinstance(chosen, ModelNotInstalled):
            raise ModelNotInstalled(str(chosen))
        return chosen

    def _select(self, task: str) -> Backend:
        pref = self.preferences.get(task, "auto")
        candidates = self.backends(task)
        infos = {b.name: b.describe() for b in candidates}
        if pref not in ("auto", "full", "lite"):
            named = [b for b in candidates if b.name == pref]
            if not named:
                names = ", ".join(infos) or "none"
                raise ModelNotInstalled(f"The backend '{pref}' configured for {task} does not exist (available: {names}).")
            if not infos[pref].installed:
                raise ModelNotInstalled(infos[pref].unavailable_message())
            return named[0]
        if pref == "auto":
            order = ["full", "lite"] if self.device != "cpu" else ["lite", "full"]
        else:
            order = [pref]
        for kind in order:
            for b in candidates:
                if b.kind == kind and infos[b.name].installed:
                    return b
        wanted = [b for b in candidates if b.kind in order]
        if wanted:
            raise ModelNotInstalled(infos[wanted[0].name].unavailable_message())
        which = f"{pref} " if pref in ("full", "lite") else ""
        raise ModelNotInstalled(f"No {which}backend for {task} is installed in this deployment "
                                "(its backend module failed to load; the log says why).")

    def availability(self, task: str) -> str:
        """A short phrase for the LLM: which backend would run, or why none can."""
        try:
            b = self.select(task)
        except ModelNotInstalled as exc:
            return f"[Unavailable here: {exc}]"
        return f"[Available: {b.kind} backend {b.name}.]"
