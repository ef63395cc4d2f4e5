"""The tool catalogue as shown to people: backends, licences, availability."""

from __future__ import annotations

from typing import Any

from audiogpt.config import Settings
from audiogpt.core.backends import build_registry
from audiogpt.core.tools import TOOLS
from audiogpt.models.base import ModelNotInstalled
from audiogpt.models.registry import Registry


def describe_tools(settings: Settings, registry: Registry | None = None) -> list[dict[str, Any]]:
    """Every tool with its backends and the one that would run, as the process's registry sees them.

    The registry is the one the bot builds (settings' device, model ids, cache folders), so on a
    GPU host this lists the full backends that would actually run, not the CPU choice.
    """
    reg = registry or build_registry(settings)
    rows: list[dict[str, Any]] = []
    for t in TOOLS:
        backends = [
            {"name": i.name, "kind": i.kind, "model": i.model, "licence": i.licence, "installed": i.installed,
             "reason": "" if i.installed else i.unavailable_message()}
            for i in reg.infos(t.name)
        ]
        disabled = t.name in settings.disabled_tools
        try:
            chosen = reg.select(t.name).name
            reason = ""
        except ModelNotInstalled as exc:
            chosen, reason = None, str(exc)
        if disabled:
            chosen, reason = None, f"The {t.name} tool is disabled in this deployment."
        rows.append({"name": t.name, "description": t.description, "arguments": t.json_schema(),
                     "available": chosen is not None, "backend": chosen, "reason": reason, "backends": backends})
    return rows
