"""Settings, read from the environment and an optional ``.env`` file.

Every setting is documented in ``.env.example``. Defaults give a working
single-machine bot: SQLite and artifacts under ``./data``, the offline engine
when no LLM key is configured, lite backends where no GPU model is installed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AUDIOGPT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- secrets (every credential is a SecretStr: repr, str and model_dump never show it) ---
    secret_key: SecretStr | None = Field(
        None, description="Fernet key that encrypts Slack tokens stored in the database "
                          "(make one: audiogpt slack secret-key); needed once OAuth installations exist.")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Like pydantic's, but a plain string given for a secret field becomes a ``SecretStr``
        (``model_copy`` skips validation, and every use site calls ``get_secret_value()``)."""
        if update:
            secret = {n for n, f in type(self).model_fields.items() if f.annotation == SecretStr | None}
            update = {k: SecretStr(v) if k in secret and isinstance(v, str) else v for k, v in update.items()}
        return super().model_copy(update=update, deep=deep)

    # --- storage ---
    data_dir: Path = Field(Path("data"), description="Folder for the SQLite file, artifacts and caches.")
    database_url: SecretStr | None = Field(  # secret: a DSN may carry the password
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
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "AUDIOGPT_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "AUDIOGPT_OPENAI_BASE_URL")
    )
    llm_timeout: float = Field(60.0, description="Seconds one LLM call may take.")
    llm_max_retries: int = Field(1, description="Retries of a failed LLM HTTP call.")
    max_steps: int = Field(6, description="Most LLM steps (tool rounds) in one turn.")
    max_calls_per_step: int = Field(4, description="Most tool calls one LLM step may run; further calls are refused (0 = no limit).")
    max_calls_per_turn: int = Field(12, description="Most tool calls one turn may run over all its steps (0 = no limit).")
    history_turns: int = Field(8, description="Earlier turns of the conversation shown to the LLM.")

    # --- jobs and models ---
    job_concurrency: int = Field(2, description="Model jobs running at once in this process.")
    job_timeout: float = Field(900.0, description="Seconds one model job may run.")
    job_lease_seconds: float = Field(60.0, description="A running job whose heartbeat is older is taken over.")
    job_max_attempts: int = Field(3, description="Attempts before a job is failed for good.")
    model_memory_mb: int = Field(4096, description="Memory budget of the model cache (LRU eviction).")
    # (backend settings: begin) what every backend is built from, in this process and on each Ray replica
    device: str = Field("auto", description="Where full models run: auto (a GPU when torch sees one), cpu, cuda, cuda:N, mps.")
    dtype: str = Field("auto", description="Full models' precision: auto (float16 on a GPU, float32 on a CPU), float16 or float32.")
    cache_dir: Path | None = Field(None, description="Writable cache for joined weights and label embeddings; unset = ~/.cache/audiogpt.")
    hf_cache_dir: str | None = Field(None, description="Hugging Face hub cache the full models are read from; unset = HF's default (HF_HOME).")
    models_dir: Path | None = Field(
        None, description="Local folder of full-model weights: <dir>/<org>/<name> is read in place of hub id <org>/<name>, "
                          "and `audiogpt models pull` downloads there; unset = the Hugging Face cache only.")
    model_ids: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Backend name -> hub id or local folder, JSON or name=id pairs: {"whisper-transformers": "openai/whisper-large-v3"}.',
    )
    model_revisions: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description="Backend name -> hub revision (commit or tag) of its model, as model_ids.")
    sound_ast_model: str | None = Field(None, description="AST tagger for full sound detection (hub id or folder).")
    sound_clap_model: str | None = Field(None, description="CLAP model for full target detection and extraction.")
    sound_caption_model: str | None = Field(None, description="Audio-language model for full captioning.")
    inpaint_model: str | None = Field(None, description="AudioLDM model for full inpainting (hub id or folder).")
    hrtf_sofa: str | None = Field(None, description="Measured HRTF set (.sofa or .npz) for full binaural rendering.")
    wav2lip_checkpoint: str | None = Field(None, description="wav2lip.pth / wav2lip_gan.pth for the full talking head.")
    # (backend settings: end)
    backends: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Per-task backend choice as JSON: {"speech_recognition": "lite"}; "auto" (default), "full", "lite" or a backend name.',
    )
    disabled_tools: Annotated[list[str], NoDecode] = Field(default_factory=list, description="Tools this deployment hides.")
    extra_tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Opt-in tools to add beyond the 17 of the public contract (e.g. speaker_diarization).")

    voice_replies: bool = Field(True, description="Answer a voice message with speech as well as text.")

    # --- media limits ---
    max_upload_mb: float = Field(50.0, description="Largest attachment accepted, in MB.")
    max_audio_seconds: float = Field(600.0, description="Longest audio accepted, in seconds.")

    # --- abuse limits shared by the platforms (per-workspace settings may tighten them) ---
    rate_user_per_minute: int = Field(10, description="Messages one user may send the bot per minute (0 = no limit).")
    rate_workspace_per_minute: int = Field(60, description="Messages one guild/workspace may send per minute (0 = no limit).")
    # --- the turn gate (core/gate.py), the same for every platform ---
    settings_cache_seconds: float = Field(
        5.0, description="How long a process keeps a guild's/workspace's settings before re-reading them from SQL "
                         "(a change made through another process shows within this).")
    shutdown_grace_seconds: float = Field(
        10.0, description="On stop, how long turns in flight may take to post their answers before they are "
                          "cancelled (the next start resumes them).")
    delivery_max_attempts: int = Field(
        5, ge=1, description="Attempts to post one reply (the first, then each recovery sweep); the last one that "
                             "fails posts one sentence saying the rest could not be posted, and stops.")

    # --- Discord ---
    discord_token: SecretStr | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN", "AUDIOGPT_DISCORD_TOKEN"))
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
    slack_bot_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "AUDIOGPT_SLACK_BOT_TOKEN"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "AUDIOGPT_SLACK_APP_TOKEN"))
    # (slack settings: begin)
    slack_signing_secret: SecretStr | None = Field(
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
    slack_client_secret: SecretStr | None = Field(
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
    slack_oauth_max_states: int = Field(
        1000, validation_alias=AliasChoices("SLACK_OAUTH_MAX_STATES", "AUDIOGPT_SLACK_OAUTH_MAX_STATES"),
        description="OAuth: most install links (one-time states) kept at once; each GET /slack/install issues one, "
                    "so beyond this the oldest are dropped (the table cannot grow without bound).",
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
    ops_token: SecretStr | None = Field(
        None, description="Bearer token /readyz and /metrics then require on every listener; unset = they are served "
                          "only on the metrics port, never on the Slack HTTP listener (which keeps /healthz).")
    log_json: bool = Field(False, description="Write logs as one JSON object a line (job and conversation ids, no secrets).")
    # (scale settings: end)

    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("disabled_tools", "extra_tools", "slack_scopes", mode="before")
    @classmethod
    def _split_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                return json.loads(v)
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("backends", "ray_deployments", "model_ids", "model_revisions", mode="before")
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
        if self.database_url and self.database_url.get_secret_value():
            url = self.database_url.get_secret_value()
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
