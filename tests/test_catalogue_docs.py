"""The catalogue is the one source: the README's tool table and the tool count follow it."""

from __future__ import annotations

from pathlib import Path

from audiogpt.core.catalogue.docs import BEGIN, END, readme_block
from audiogpt.core.tools import TOOLS

ROOT = Path(__file__).resolve().parent.parent


def test_readme_tool_table_is_the_generated_one() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == readme_block(), "README tool table is stale: paste `audiogpt tools --markdown`"


def test_every_tool_has_the_facts_its_consumers_read() -> None:
    for spec in TOOLS:
        assert spec.family and spec.label and spec.phrase and spec.progress, spec.name
        assert spec.roles, f"{spec.name} plays no role in a chain"
        assert len(spec.exemplars) >= 20, f"{spec.name} has only {len(spec.exemplars)} routing exemplars"


def test_no_tool_name_in_the_engine_code() -> None:
    """The engine knows roles and catalogue fields, never a tool by name (grep-level check)."""
    import re

    names = set(TOOLS.names())
    pattern = re.compile(r"\b(" + "|".join(sorted(names)) + r")\b")
    hits = []
    for path in sorted((ROOT / "audiogpt" / "core" / "engine").glob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                hits.append(f"{path.name}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_opt_in_tools_join_only_when_named(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The public contract is 17 tools; speaker_diarization joins when a deployment names it."""
    from audiogpt.config import get_settings
    from audiogpt.core.catalogue import Catalogue

    monkeypatch.delenv("AUDIOGPT_EXTRA_TOOLS", raising=False)
    get_settings.cache_clear()  # settings, like the catalogue, are read once per process
    assert "speaker_diarization" not in Catalogue() and len(Catalogue()) == 17
    monkeypatch.setenv("AUDIOGPT_EXTRA_TOOLS", "speaker_diarization")
    get_settings.cache_clear()
    try:
        assert "speaker_diarization" in Catalogue() and len(Catalogue()) == 18
    finally:
        monkeypatch.delenv("AUDIOGPT_EXTRA_TOOLS")
        get_settings.cache_clear()
