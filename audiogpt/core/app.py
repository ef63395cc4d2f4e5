"""Wiring: one :class:`App` owns the database, stores, runner, engine and dialogue.

Every entry point (console, ``audiogpt ask``, Discord, Slack, eval) opens an
App the same way, so they differ only in their adapter. Settings choose the
scale-out parts: the job runner (``local`` or ``ray``), the artifact store (disk
or S3 by URL) and the database (SQLite or PostgreSQL shared by several bot
processes, which then sweep up each other's orphaned turns and replies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from audiogpt.config import Settings
from audiogpt.core.artifacts import ArtifactService
from audiogpt.core.backends import build_registry
from audiogpt.core.dialogue import Dialogue
from audiogpt.core.engine.llm import make_chat_model
from audiogpt.core.execute import DryRunExecutor, ModelPool, ToolExecutor
from audiogpt.core.gate import TurnGate
from audiogpt.core.jobs import LocalRunner
from audiogpt.models.registry import Registry
from audiogpt.models.runtime import ModelCache
from audiogpt.storage.blobstore import BlobSweeper, open_blob_store
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
    _sweeper: asyncio.Task[None] | None = field(default=None, repr=False)
    gate: TurnGate = field(init=False, repr=False)  # dedup, limits, settings cache, deliver-once: every adapter's
    blob_sweeper: BlobSweeper = field(init=False, repr=False)  # blobs no artifact row holds, swept hourly
    _blob_task: asyncio.Task[Any] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.gate = TurnGate.from_settings(self.dialogue, self.repo, self.settings)
        self.dialogue.limiter = self.gate.limiter  # a turn's tool calls count against the same windows
        self.blob_sweeper = BlobSweeper(self.artifacts.store, self.db)

    @classmethod
    async def open(cls, settings: Settings, *, dry_run: bool = False, model: BaseChatModel | None = None,
                   registry: Registry | None = None, migrate: bool = True) -> App:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.resolved_database_url)
        if migrate:
            await db.connect(retries=settings.db_connect_retries, backoff=settings.db_connect_backoff)
        repo = Repository(db)
        store = open_blob_store(settings.artifact_store_url, local_root=settings.artifacts_dir,
                                cache_dir=settings.data_dir / "blob-cache", endpoint_url=settings.s3_endpoint_url,
                                create_bucket=settings.s3_create_bucket)
        artifacts = ArtifactService(repo, store, max_bytes=settings.max_upload_bytes,  # type: ignore[arg-type]
                                    max_seconds=settings.max_audio_seconds)
        custom_registry = registry
        # the process's one registry for these settings (shared with `audiogpt tools`); a dry run lists lite
        registry = registry or build_registry(settings, device="cpu" if dry_run else None)
        cache = ModelCache(settings.model_memory_mb)
        exec_cls: type[ToolExecutor] = DryRunExecutor if dry_run else ToolExecutor
        # model work gets threads of its own, as many as jobs may run at once: a hung model can
        # never take the default executor's threads (storage, media decoding, DNS) with it
        executor = exec_cls(artifacts, registry, cache, max_seconds=settings.max_audio_seconds,
                            disabled=set(settings.disabled_tools),
                            pool=ModelPool(max(1, settings.job_concurrency)))
        runner: LocalRunner
        if settings.runner == "ray" and not dry_run:
            from audiogpt.core.runner_ray import RayRunner

            # a registry handed in (tests, custom builds) is shipped to the replicas as well
            runner = RayRunner(repo, executor, settings, registry=custom_registry)
            try:
                await runner.connect()
            except BaseException:
                executor.close()
                await db.close()
                raise
        elif settings.runner in ("local", "ray"):
            runner = LocalRunner(repo, executor, concurrency=settings.job_concurrency, timeout=settings.job_timeout,
                                 lease_seconds=settings.job_lease_seconds, max_attempts=settings.job_max_attempts)
        else:
            executor.close()
            await db.close()
            raise ValueError(f"AUDIOGPT_RUNNER must be 'local' or 'ray', not '{settings.runner}'.")
        runner.start()
        chat = model or make_chat_model(settings)
        router = getattr(chat, "router", None)
        if router is not None and callable(getattr(router, "warm", None)):
            # The offline engine fits (or loads) its router once; do it now, not inside the first
            # turn's LLM timeout (a new catalogue entry means a refit on the first start).
            await asyncio.to_thread(router.warm)
        dialogue = Dialogue(repo, artifacts, runner, chat, registry, max_steps=settings.max_steps,
                            llm_timeout=settings.llm_timeout, history_turns=settings.history_turns,
                            disabled_tools=settings.disabled_tools, voice_replies=settings.voice_replies,
                            max_calls_per_step=settings.max_calls_per_step,
                            max_calls_per_turn=settings.max_calls_per_turn)
        return cls(settings, db, repo, artifacts, registry, cache, executor, runner, dialogue)

    async def recover(self, send: Any = None) -> list[Any]:
        """Re-run jobs and turns a dead process left behind; deliver pending replies.

        With a ``send`` (a platform process), keep sweeping every ``recovery_interval`` seconds
        while the App is open: another bot process on the same database may die at any time.
        """
        delivered = await self._sweep(send)
        if send is not None and self.settings.recovery_interval > 0 and self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_loop(send), name="recovery-sweeper")
        return delivered

    async def _sweep(self, send: Any) -> list[Any]:
        orphans = await self.runner.recover_orphans()
        if orphans:
            log.warning("recovering %d job(s) left by a process that stopped", len(orphans))
        delivered = await self.dialogue.recover(send, lease_seconds=self.settings.job_lease_seconds)
        if self._blob_task is None or self._blob_task.done():
            # Listing a large bucket must not hold up start-up or recovery: in the background, at most hourly.
            self._blob_task = asyncio.create_task(self.blob_sweeper.maybe_run(), name="blob-sweep")
        return delivered

    async def _sweep_loop(self, send: Any) -> None:
        while True:
            await asyncio.sleep(self.settings.recovery_interval)
            try:
                await self._sweep(send)
            except Exception:  # a database blip must not end the sweeping
                log.warning("recovery sweep failed", exc_info=True)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._blob_task is not None and not self._blob_task.done():
            self._blob_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._blob_task
        await self.gate.stop()  # turns still in flight (an adapter that did not stop them) get their grace
        await self.runner.stop()
        self.executor.close()
        await self.db.close()
