"""Imports flow bots -> core -> (models, storage), never back."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "audiogpt"
FORBIDDEN = {
    "models": ("audiogpt.core", "audiogpt.bots", "audiogpt.storage"),
    "storage": ("audiogpt.core", "audiogpt.bots", "audiogpt.models"),
    "core": ("audiogpt.bots",),
}


def imports_of(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_import_direction() -> None:
    bad = []
    for layer, forbidden in FORBIDDEN.items():
        for f in (PKG / layer).rglob("*.py"):
            for mod in imports_of(f):
                if mod.startswith(forbidden):
                    bad.append(f"{f.relative_to(PKG)} imports {mod}")
    assert not bad, "\n".join(bad)


def test_tool_catalogue_contract() -> None:
    from audiogpt.core.tools import TOOLS

    expected = {
        "speech_recognition": {"audio", "language"}, "speech_translation": {"audio", "target_language", "speak"},
        "text_to_speech": {"text", "voice", "language"}, "style_transfer": {"text", "reference"},
        "speech_enhancement": {"audio"}, "speech_separation": {"audio", "speakers"},
        "mono_to_binaural": {"audio", "azimuth", "elevation", "motion"}, "audio_inpainting": {"audio", "start", "end"},
        "sound_extraction": {"audio", "query"}, "target_sound_detection": {"audio", "query"},
        "sound_detection": {"audio"}, "talking_head": {"audio", "image"}, "text_to_audio": {"text", "seconds"},
        "image_to_audio": {"image", "seconds"}, "audio_to_text": {"audio"},
        "singing_synthesis": {"lyrics", "notes", "tempo"}, "text_to_music": {"text", "seconds"},
    }
    got = {t.name: set(t.args.model_fields) for t in TOOLS}
    assert {k: v for k, v in got.items() if k in expected} == expected
    assert len(TOOLS) == 17
    for t in TOOLS:
        schema = t.openai_schema()["function"]
        assert len(schema["description"]) > 40
        for name, kind, _req in t.args.artifact_fields():
            assert schema["parameters"]["properties"][name]["artifact"] == kind
