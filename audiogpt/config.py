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

    # --- abuse limits shared by the platforms (per-workspace settings may tighten them) ---
    rate_user_per_minute: int = Field(10, description="Messages one user may send the bot per minute (0 = no limit).")
    rate_workspace_per_minute: int = Field(60, description="Messages one guild/workspace may send per minute (0 = no limit).")

    # --- Discord ---
    discord_token: str | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "AUDIOGPT_DISCORD_TOKEN"))
    # (discord settings: begin)
    discord_api_base_url: str = Field(
        "https://discord.com/api/v10",
        validation_alias=AliasChoices("DISCORD_API_BASE_URL", "AUDIOGPT_DISCORD_API_BASE_URL"),
        description="Discord REST base URL; when changed, the gateway URL is asked from its GET /gateway/bot.",
    )
    discord_gateway_url: str | None = Field(
        None, validation_alias=AliasChoices("DISCORD_GATEWAY_URL", "AUDIOGPT_DISCORD_GATEWAY_URL"),
        description="Gateway websocket URL; overrides the one /gateway/bot gives.",
    )
    discord_application_id: str | None = Field(
        None, validation_alias=AliasChoices("DISCORD_APPLICATION_ID", "AUDIOGPT_DISCORD_APPLICATION_ID"),
        description="Application (client) id for the invite URL; read from the token when unset.",
    )
    discord_answer_in_threads: bool = Field(
        True, description="Answer a channel mention in a thread started on it (false: reply inline); per guild via /settings.")
    discord_allowed_guilds: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Guild ids the bot answers in (empty = every guild it is in); DMs always.")
    discord_blocked_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="User ids the bot ignores.")
    discord_command_guild: str | None = Field(
        None, description="Guild id to register slash commands in (instant); unset = global registration.")
    discord_status_after: float = Field(2.0, description="Seconds a turn runs before a status message is shown.")
    discord_fetch_timeout: float = Field(30.0, description="Seconds an attachment download may take.")
    discord_upload_limit_mb: float = Field(
        0.0, description="Cap on uploads below the guild's limit, in MB (e.g. behind a proxy); 0 = the guild's limit.")

    @field_validator("discord_allowed_guilds", "discord_blocked_users", mode="before")
    @classmethod
    def _split_ids(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return [str(x) for x in json.loads(v)]
            return [p.strip() for p in v.split(",") if p.strip()]
        if isinstance(v, (list, tuple)):
            return [str(x) for x in v]
        return v
    discord_shard_count: int | None = Field(
        None, description="Total gateway shards when several bot processes share the load; unset = one connection.")
    discord_shard_id: int | None = Field(None, description="This process's shard (0 .. shard_count-1); DMs arrive on shard 0.")
    # (discord settings: end)

    # --- Slack ---
    slack_bot_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "AUDIOGPT_SLACK_BOT_TOKEN"))
    slack_app_token: str | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "AUDIOGPT_SLACK_APP_TOKEN"))
    # (slack settings: begin)
    slack_signing_secret: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "AUDIOGPT_SLACK_SIGNING_SECRET"),
        description="Verifies every HTTP request from Slack (Basic Information > Signing Secret).",
    )
    slack_api_url: str = Field(
        "https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL", "AUDIOGPT_SLACK_API_URL"),
        description="Slack Web API base URL (a fake Slack for tests).",
    )
    slack_mode: str = Field(
        "", validation_alias=AliasChoices("SLACK_MODE", "AUDIOGPT_SLACK_MODE"),
        description="'socket' or 'http'; empty = socket when SLACK_APP_TOKEN is set, else http.",
    )
    slack_port: int = Field(3000, validation_alias=AliasChoices("SLACK_PORT", "AUDIOGPT_SLACK_PORT"),
                            description="HTTP mode: port to listen on.")
    slack_host: str = Field("0.0.0.0", validation_alias=AliasChoices("SLACK_HOST", "AUDIOGPT_SLACK_HOST"),
                            description="HTTP mode: address to listen on.")
    slack_path: str = Field("/slack/events", validation_alias=AliasChoices("SLACK_PATH", "AUDIOGPT_SLACK_PATH"),
                            description="HTTP mode: path for events, slash commands and interactivity.")
    slack_public_url: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_PUBLIC_URL", "AUDIOGPT_SLACK_PUBLIC_URL"),
        description="HTTP mode: public https base URL of this bot, for the manifest and the OAuth redirect.",
    )
    slack_client_id: str | None = Field(None, validation_alias=AliasChoices("SLACK_CLIENT_ID", "AUDIOGPT_SLACK_CLIENT_ID"),
                                        description="OAuth (many workspaces): the app's client id.")
    slack_client_secret: str | None = Field(
        None, validation_alias=AliasChoices("SLACK_CLIENT_SECRET", "AUDIOGPT_SLACK_CLIENT_SECRET"),
        description="OAuth: the app's client secret.",
    )
    slack_scopes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["app_mentions:read", "chat:write", "commands", "files:read", "files:write",
                                 "im:history", "im:read", "im:write", "assistant:write"],
        validation_alias=AliasChoices("SLACK_SCOPES", "AUDIOGPT_SLACK_SCOPES"),
        description="Bot scopes requested at install (comma separated).",
    )
    slack_command: str = Field("/audiogpt", validation_alias=AliasChoices("SLACK_COMMAND", "AUDIOGPT_SLACK_COMMAND"),
                               description="The slash command's name.")
    slack_command_ephemeral: bool = Field(
        False, validation_alias=AliasChoices("SLACK_COMMAND_EPHEMERAL", "AUDIOGPT_SLACK_COMMAND_EPHEMERAL"),
        description="Answer the slash command only to the user who ran it (else in the channel).",
    )
    slack_assistant_status: bool = Field(
        True, validation_alias=AliasChoices("SLACK_ASSISTANT_STATUS", "AUDIOGPT_SLACK_ASSISTANT_STATUS"),
        description="Show progress with assistant.threads.setStatus where Slack allows it (else a 'working' message).",
    )
    # (slack settings: end)

    # --- scale-out ---
    # (scale settings: begin)
    runner: str = Field("local", description="Where model jobs run: 'local' (in this process) or 'ray' (Ray Serve deployments).")
    ray_address: str | None = Field(
        None, validation_alias=AliasChoices("RAY_ADDRESS", "AUDIOGPT_RAY_ADDRESS"),
        description="Ray cluster to join (ray://host:10001 or auto); unset = a local Ray started by this process.",
    )
    ray_namespace: str = Field("audiogpt", description="Ray namespace of the Serve applications.")
    ray_app_name: str = Field("audiogpt", description="Serve application name (one per deployment of the bot).")
    ray_num_cpus: float = Field(1.0, description="CPUs each model replica reserves.")
    ray_num_gpus: float = Field(0.0, description="GPUs each model replica reserves (0.5 = two replicas share one GPU).")
    ray_min_replicas: int = Field(1, description="Fewest replicas of each model deployment (autoscaling lower bound).")
    ray_max_replicas: int = Field(2, description="Most replicas of each model deployment (autoscaling upper bound).")
    ray_max_ongoing_requests: int = Field(8, description="Requests one replica accepts at once (what batching can gather).")
    ray_batch_size: int = Field(8, description="Largest batch @serve.batch gathers for models that batch (0 = no batching).")
    ray_batch_wait_s: float = Field(0.02, description="Seconds a batch waits to fill up before it runs.")
    ray_deployments: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Task -> deployment name as JSON, to split or merge task families: {"speech_recognition": "asr"}; unset = one per family.',
    )
    artifact_store_url: str | None = Field(
        None, validation_alias=AliasChoices("ARTIFACT_STORE_URL", "AUDIOGPT_ARTIFACT_STORE_URL"),
        description="s3://bucket/prefix for S3-compatible artifact storage (credentials from the standard AWS_* variables); unset = data_dir/artifacts.",
    )
    s3_endpoint_url: str | None = Field(
        None, validation_alias=AliasChoices("S3_ENDPOINT_URL", "AUDIOGPT_S3_ENDPOINT_URL"),
        description="Endpoint of an S3-compatible store such as MinIO (http://minio:9000); unset = AWS.",
    )
    s3_create_bucket: bool = Field(False, description="Create the artifact bucket at start when it is missing (MinIO in compose).")
    recovery_interval: float = Field(
        15.0, description="Seconds between sweeps that take over turns and replies of bot processes that died (0 = only at start)."
    )
    metrics_port: int = Field(0, description="Port of a standalone /healthz, /readyz and /metrics server (0 = off; the Slack HTTP server mounts them anyway).")
    metrics_host: str = Field("0.0.0.0", description="Address of the standalone /healthz, /readyz and /metrics server.")
    log_json: bool = Field(False, description="Write logs as one JSON object a line (job and conversation ids, no secrets).")
    # (scale settings: end)

    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("disabled_tools", "slack_scopes", mode="before")
    @classmethod
    def _split_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return json.loads(v)
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("backends", "ray_deployments", mode="before")
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
