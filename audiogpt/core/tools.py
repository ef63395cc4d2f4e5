"""Where the rest of the code imports the catalogue from (kept so imports read ``core.tools``).

The tools themselves live one module each in :mod:`audiogpt.core.catalogue.tools`.
``TOOLS`` is the live catalogue: iterate it, ``len`` it, test ``name in TOOLS``.
"""

from __future__ import annotations

from audiogpt.core.catalogue import (
    ARTIFACT_ID_PATTERN,
    CATALOGUE,
    ArtifactKind,
    ToolArgs,
    ToolSpec,
    artifact_field,
    get_tool,
    register_tool,
)

TOOLS = CATALOGUE


def tool_names() -> tuple[str, ...]:
    return CATALOGUE.names()


__all__ = ["ARTIFACT_ID_PATTERN", "CATALOGUE", "TOOLS", "ArtifactKind", "ToolArgs", "ToolSpec", "artifact_field",
           "get_tool", "register_tool", "tool_names"]
