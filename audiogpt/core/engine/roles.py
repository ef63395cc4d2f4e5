"""Tools by the role they play in a plan: how the offline engine names a tool without its name.

Why: the engine chains steps by what they are for ("then read it out" needs the tool that
speaks typed text; "what is she saying?" followed by "in English" needs the one that
translates speech). Which tool plays a role is a fact of the catalogue (``ToolSpec.roles``),
so the engine holds no tool names and a new tool can take a role over.
"""

from __future__ import annotations

from audiogpt.core.tools import TOOLS


def by_role(role: str) -> str:
    """Name of the first tool that plays ``role``; a name no tool has when none does."""
    spec = TOOLS.with_role(role)
    return spec.name if spec else f"<no tool for {role}>"


def roles_of(name: str) -> frozenset[str]:
    return TOOLS.role_of(name)
