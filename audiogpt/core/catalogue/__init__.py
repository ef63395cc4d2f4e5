"""The tool catalogue: every tool the LLM can call, discovered once per process.

Tools come from the modules of :mod:`audiogpt.core.catalogue.tools` (each defines
``SPEC``) and from the ``audiogpt.tools`` entry-point group, so another package can
add a tool without editing this one. Tool names and argument names are a public
contract (the CLI, eval suites and other deployments depend on them).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import pkgutil
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points

from audiogpt.core.catalogue.spec import (
    ARTIFACT_ID_PATTERN,
    ArtifactKind,
    Role,
    ToolArgs,
    ToolSpec,
    artifact_field,
)

__all__ = ["ARTIFACT_ID_PATTERN", "CATALOGUE", "ArtifactKind", "Catalogue", "Role", "ToolArgs", "ToolSpec",
           "artifact_field", "get_tool", "register_tool"]

ENTRY_POINT_GROUP = "audiogpt.tools"
log = logging.getLogger(__name__)


def _as_specs(obj: object) -> list[ToolSpec]:
    if callable(obj) and not isinstance(obj, ToolSpec):
        obj = obj()
    if isinstance(obj, ToolSpec):
        return [obj]
    if isinstance(obj, list | tuple) and all(isinstance(o, ToolSpec) for o in obj):
        return list(obj)
    raise TypeError(f"expected a ToolSpec or a list of them, got {type(obj).__name__}")


def _extra_tools() -> set[str]:
    """Opt-in built-ins this deployment enables (``AUDIOGPT_EXTRA_TOOLS``)."""
    from audiogpt.config import get_settings

    return set(get_settings().extra_tools)


class Catalogue:
    """All tools by name, in listing order. Loaded lazily; ``register`` adds one at run time."""

    def __init__(self, package: str = "audiogpt.core.catalogue.tools", group: str = ENTRY_POINT_GROUP) -> None:
        self._package = package
        self._group = group
        self._specs: dict[str, ToolSpec] | None = None
        self._lock = threading.RLock()
        self.version = 0  # bumped on every change, so caches keyed by it rebuild

    def _load(self) -> dict[str, ToolSpec]:
        if self._specs is not None:
            return self._specs
        with self._lock:
            if self._specs is not None:
                return self._specs
            found: list[ToolSpec] = []
            extra = _extra_tools()
            pkg = importlib.import_module(self._package)
            for info in pkgutil.iter_modules(pkg.__path__):
                mod = importlib.import_module(f"{self._package}.{info.name}")
                spec = getattr(mod, "SPEC", None)
                if isinstance(spec, ToolSpec) and (not spec.opt_in or spec.name in extra):
                    found.append(spec)
            for ep in entry_points(group=self._group):
                try:
                    found += _as_specs(ep.load())
                except Exception as exc:  # a broken plug-in must not take the bot down
                    log.warning("tool entry point %s could not be loaded: %s", ep.name, type(exc).__name__)
            specs: dict[str, ToolSpec] = {}
            for s in sorted(found, key=lambda s: (s.order, s.name)):
                if s.name in specs:
                    log.warning("tool %s is defined twice; the first definition is kept", s.name)
                    continue
                specs[s.name] = s
            self._specs = specs
            return specs

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(list(self._load().values()))

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._load()

    def names(self) -> tuple[str, ...]:
        return tuple(self._load())

    def get(self, name: str) -> ToolSpec:
        try:
            return self._load()[name]
        except KeyError:
            raise KeyError(f"There is no tool called '{name}'.") from None

    def with_role(self, role: str) -> ToolSpec | None:
        """The first tool (in listing order) that plays ``role``, or None when none does."""
        return next((s for s in self if role in s.roles), None)

    def role_of(self, name: str) -> frozenset[str]:
        spec = self._load().get(name)
        return spec.roles if spec else frozenset()

    def register(self, spec: ToolSpec, *, replace: bool = False) -> None:
        with self._lock:
            specs = dict(self._load())
            if spec.name in specs and not replace:
                raise ValueError(f"A tool called '{spec.name}' already exists.")
            specs[spec.name] = spec
            self._specs = dict(sorted(specs.items(), key=lambda kv: (kv[1].order, kv[0])))
            self.version += 1

    def unregister(self, name: str) -> None:
        with self._lock:
            specs = dict(self._load())
            specs.pop(name, None)
            self._specs = specs
            self.version += 1

    def fingerprint(self) -> str:
        """A short hash of everything routing learns from (names, descriptions, exemplars)."""
        h = hashlib.sha256()
        for s in self:
            h.update(repr((s.name, s.description, s.exemplars, s.contrasts, s.templates)).encode())
        return h.hexdigest()[:16]


CATALOGUE = Catalogue()


def get_tool(name: str) -> ToolSpec:
    return CATALOGUE.get(name)


def register_tool(spec: ToolSpec, *, replace: bool = False) -> None:
    CATALOGUE.register(spec, replace=replace)
