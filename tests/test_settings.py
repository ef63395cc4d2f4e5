"""Settings: defaults give a working local bot, and .env.example documents every setting."""

from __future__ import annotations

from pathlib import Path

from audiogpt.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def env_name(field: str, info) -> str:  # type: ignore[no-untyped-def]
    alias = info.validation_alias
    if alias is not None:
        return alias.choices[0]
    return f"AUDIOGPT_{field.upper()}"


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    names = {line.split("=", 1)[0].lstrip("# ").strip() for line in text.splitlines() if "=" in line}
    missing = [env_name(f, i) for f, i in Settings.model_fields.items() if env_name(f, i) not in names]
    assert not missing, f".env.example lacks {missing}"


def test_defaults_are_sqlite_and_offline(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for var in ("DATABASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL", "AUDIOGPT_LLM"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert s.resolved_database_url.startswith("sqlite+aiosqlite:///") and s.resolved_database_url.endswith("audiogpt.db")
    from audiogpt.core.engine.llm import engine_name

    assert engine_name(s) == "offline"


def test_env_parsing(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h:5432/db")
    monkeypatch.setenv("AUDIOGPT_BACKENDS", "speech_recognition=lite,text_to_speech=full")
    monkeypatch.setenv("AUDIOGPT_DISABLED_TOOLS", "talking_head, text_to_music")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.resolved_database_url == "postgresql+asyncpg://u@h:5432/db"
    assert s.backends == {"speech_recognition": "lite", "text_to_speech": "full"}
    assert s.disabled_tools == ["talking_head", "text_to_music"]
