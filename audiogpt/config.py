"""Settings, read from the environment and an optional ``.env`` file.

Every setting is documented in ``.env.example``. Defaults give a working
single-machine bot: SQLite and artifacts under ``./data``, the offline engine
when no LLM key is configured, lite backends where no GPU model is installed.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUDIOGPT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- storage ---
    data_dir: Path = Field(Path("data"), description="Folder for the SQLite file, artifacts and caches.")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "AUDIOGPT_DATABASE_URL"),
        description="SQLAlchemy async URL; unset = SQLite file in data_dir.",
    )
    db_connect_retries: int = Field(5, description="Attempts to reach the database at start.")
    db_connect_backoff: float = Field(0.5, description="Seconds before the first retry; doubles each time.")

    # --- LLM engine ---
    llm: str = Field(
        "auto",
        description="'offline', 'auto' (OpenAI when a key or base URL is set, else offline) or provider:model, e.g. openai:gpt-4o-mini.",
    )
    llm_model: str = Field("gpt-4o-mini", description="Model name used by 'auto'.")
    openai_api_key: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "AUDIOGPT_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "AUDIOGPT_OPENAI_BASE_URL")
    )
    llm_timeout: float = Field(60.0, description="Seconds one LLM call may take.")
    llm_max_retries: int = Field(1, description="Retries of a failed LLM HTTP call.")
    max_steps: int = Field(6, description="Most LLM steps (tool rounds) in one turn.")
    history_turns: int = Field(8, description="Earlier turns of the conversation shown to the LLM.")

    # --- jobs and models ---
    job_concurrency: int = Field(2, description="Model jobs running at once in this process.")
    job_timeout: float = Field(900.0, description="Seconds one model job may run.")
    job_lease_seconds: float = Field(60.0, description="A running job whose heartbeat is older is taken over.")
    job_max_attempts: int = Field(3, description="Attempts before a job is failed for good.")
    model_memory_mb: int = Field(4096, description="Memory budget of the model cache (LRU eviction).")
    backends: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Per-task backend choice as JSON: {"speech_recognition": "lite"}; "auto" (default), "full", "lite" or a backend name.',
    )
    disabled_tools: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Tools this deployment hides.")

    voice_replies: bool = Field(True, description="Answer a voice message with speech as well as text.")

    # --- media limits ---
    max_upload_mb: float = Field(50.0, description="Largest attachment accepted, in MB.")
    max_audio_seconds: float = Field(600.0, description="Longest audio accepted, in seconds.")

    # --- platforms (each issue adds its own) ---
    discord_token: str | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "AUDIOGPT_DISCORD_TOKEN"))
    slack_bot_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "AUDIOGPT_SLACK_BOT_TOKEN"))
    slack_app_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "AUDIOGPT_SLACK_APP_TOKEN"))

    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("disabled_tools", mode="before")
    @classmethod
    def _split_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return json.loads(v)
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("backends", mode="before")
    @classmethod
    def _parse_backends(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if not v:
                return {}
            if v.startswith("{"):
                return json.loads(v)
            return dict(p.split("=", 1) for p in v.split(",") if "=" in p)
        return v

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            elif url.startswith("sqlite:///"):
                url = "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'audiogpt.db').resolve()}"

    @property
    def artifacts_dir(self) -> Path:
        return (self.data_dir / "artifacts").resolve()

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
