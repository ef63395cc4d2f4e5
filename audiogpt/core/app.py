"""Wiring: one :class:`App` owns the database, stores, runner, engine and dialogue.

Every entry point (console, ``audiogpt ask``, Discord, Slack, eval) opens an
App the same way, so they differ only in their adapter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from audiogpt.config import Settings
from audiogpt.core.artifacts import ArtifactService
from audiogpt.core.dialogue import Dialogue
from audiogpt.core.engine.llm import make_chat_model
from audiogpt.core.execute import DryRunExecutor, ToolExecutor
from audiogpt.core.jobs import LocalRunner
from audiogpt.models.registry import Registry
from audiogpt.models.runtime import ModelCache, pick_device
from audiogpt.storage.blobs import LocalBlobStore
from audiogpt.storage.db import Database
from audiogpt.storage.repos import Repository

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    db: Database
    repo: Repository
    artifacts: ArtifactService
    registry: Registry
    cache: ModelCache
    executor: ToolExecutor
    runner: LocalRunner
    dialogue: Dialogue

    @classmethod
    async def open(cls, settings: Settings, *, dry_run: bool = False, model: BaseChatModel | None = None,
                   registry: Registry | None = None, migrate: bool = True) -> App:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        if migrate:
            await db.connect(retries=settings.db_connect_retries, backoff=settings.db_connect_backoff)
        repo = Repository(db)
        store = LocalBlobStore(settings.artifacts_dir)
        artifacts = ArtifactService(repo, store, max_bytes=settings.max_upload_bytes,
                                    max_seconds=settings.max_audio_seconds)
        registry = registry or Registry(settings.backends, device=pick_device("auto") if not dry_run else "cpu")
        cache = ModelCache(settings.model_memory_mb)
        exec_cls: type[ToolExecutor] = DryRunExecutor if dry_run else ToolExecutor
        executor = exec_cls(artifacts, registry, cache, max_seconds=settings.max_audio_seconds,
                            disabled=set(settings.disabled_tools))
        runner = LocalRunner(repo, executor, concurrency=settings.job_concurrency, timeout=settings.job_timeout,
                             lease_seconds=settings.job_lease_seconds, max_attempts=settings.job_max_attempts)
        runner.start()
        chat = model or make_chat_model(settings)
        dialogue = Dialogue(repo, artifacts, runner, chat, registry, max_steps=settings.max_steps,
                            llm_timeout=settings.llm_timeout, history_turns=settings.history_turns,
                            disabled_tools=settings.disabled_tools, voice_replies=settings.voice_replies)
        return cls(settings, db, repo, artifacts, registry, cache, executor, runner, dialogue)

    async def recover(self, send: Any = None) -> list[Any]:
        """Re-run jobs and turns a dead process left behind; deliver pending replies."""
        orphans = await self.runner.recover_orphans()
        if orphans:
            log.warning("recovering %d job(s) left by a previous process", len(orphans))
        return await self.dialogue.recover(send)

    async def close(self) -> None:
        await self.runner.stop()
        await self.db.close()
