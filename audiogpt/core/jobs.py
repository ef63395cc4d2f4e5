"""Jobs: every tool call is a row in SQL, run by a :class:`JobRunner`.

A job goes queued -> running -> done | failed, with attempts, timings and the
backend, runner and replica that ran it. The :class:`LocalRunner` runs jobs in
this process with bounded concurrency and a heartbeat (which also renews the
lease of the turns this process is running); a job left ``running`` by a process
that died (its heartbeat went stale, or its pid on this host is gone) is claimed
again by :meth:`LocalRunner.recover_orphans`, at start and by the periodic sweep
of every live process. Claiming is one atomic ``UPDATE ... SKIP LOCKED``, so two
processes never run the same attempt, and a worker whose lease was taken over
cannot overwrite the new holder's result. ``RayRunner`` (``core/runner_ray.py``)
keeps all of this and only changes where the model runs.

A job that runs past its timeout is failed at once (the turn goes on with its one
sentence), but the model thread it started cannot be killed: the job asks it to stop
(:class:`~audiogpt.core.execute.JobControl`) and its slot stays taken until the thread
really ends, so hung models can never add up to more threads than ``concurrency``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from audiogpt.core import metrics
from audiogpt.core.events import Progress
from audiogpt.core.execute import JOB_CONTROL, Executor, JobControl, ToolOutcome
from audiogpt.models.base import ProgressReport
from audiogpt.storage.repos import Repository, new_worker_id, stale_cutoff
from audiogpt.storage.schema import Job, utcnow

log = logging.getLogger(__name__)

ProgressFn = Callable[[Progress], Awaitable[None]]
HOST = socket.gethostname()
# the jobs run under the slot the current task holds (see LocalRunner._slot)
_SLOT_JOBS: contextvars.ContextVar[list[JobControl] | None] = contextvars.ContextVar("audiogpt_slot_jobs", default=None)


def worker_id() -> str:
    return new_worker_id()


def worker_is_dead(worker: str) -> bool:
    """True when ``worker`` ran on this host and its process no longer exists."""
    try:
        host, pid_s, _nonce = worker.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != HOST:
        return False
    if pid == os.getpid():
        return False  # this process: its own running jobs are live (or recovered by it)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class JobRunner(Protocol):
    turns_in_flight: set[int]  # the turns this process is running now: the only ones its heartbeat renews

    async def submit(self, conversation_id: int, turn_id: int | None, tool_call_id: str, tool: str,
                     args: dict[str, Any], *, conversation_key: str = "", progress: ProgressFn | None = None,
                     reply_to: str | None = None, job: Job | None = None) -> ToolOutcome: ...

    def job_row(self, conversation_id: int, turn_id: int | None, tool_call_id: str, tool: str,
                args: dict[str, Any]) -> dict[str, Any]: ...


class LocalRunner:
    """Runs jobs in-process, at most ``concurrency`` at once."""

    name = "local"

    def __init__(self, repo: Repository, executor: Executor, *, concurrency: int = 2, timeout: float = 900.0,
                 lease_seconds: float = 60.0, max_attempts: int = 3) -> None:
        self.repo = repo
        self.executor = executor
        self.sem = asyncio.Semaphore(max(1, concurrency))
        self.timeout = timeout
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.worker = repo.worker  # one identity per process for job and turn leases
        self.concurrency = max(1, concurrency)
        self._running: set[int] = set()
        self.turns_in_flight: set[int] = set()  # filled by the dialogue while it runs each turn
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._slots_used = 0
        self.lingering = 0  # slots held by the threads of jobs that timed out and have not ended yet

    async def ready(self) -> bool:
        """Whether jobs can run now (``/readyz``)."""
        return True

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(self._heartbeat_loop(), name="job-heartbeat")

    async def stop(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None

    async def _heartbeat_loop(self) -> None:
        interval = max(0.2, self.lease_seconds / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.repo.heartbeat(list(self._running), self.worker)
                # only turns really in flight: a turn whose task ended without finishing its row
                # must go stale, so that a sweep (this process's too) takes it over
                await self.repo.heartbeat_turns(list(self.turns_in_flight))
            except Exception:
                log.warning("job heartbeat failed", exc_info=True)

    # --- slots -----------------------------------------------------------------------

    @property
    def slots_in_use(self) -> int:
        """Slots taken now: jobs running, and threads of timed-out jobs that still run."""
        return self._slots_used

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        """Hold one of ``concurrency`` slots; a job run under it that left a model thread running
        (it timed out, or was cancelled) passes the slot on to that thread, which gives it back
        when it ends, not before."""
        await self.sem.acquire()
        self._slots_used += 1
        jobs: list[JobControl] = []
        token = _SLOT_JOBS.set(jobs)
        try:
            yield
        finally:
            _SLOT_JOBS.reset(token)
            alive = [f for ctl in jobs for f in ctl.alive()]
            if alive:
                self._release_when_done(alive)
            else:
                self._release()

    def _release(self) -> None:
        self._slots_used -= 1
        self.sem.release()

    def _release_when_done(self, alive: list[concurrent.futures.Future[Any]]) -> None:
        loop = asyncio.get_running_loop()
        left = set(alive)
        self.lingering += 1
        log.warning("a model thread of a stopped job is still running; its slot stays taken until it ends")

        def one_done(fut: concurrent.futures.Future[Any]) -> None:  # on the loop
            left.discard(fut)
            if not left:
                self.lingering -= 1
                self._release()
                log.info("the model thread of a stopped job ended; its slot is free again")

        def from_thread(fut: concurrent.futures.Future[Any]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone: the process is stopping
                loop.call_soon_threadsafe(one_done, fut)

        for fut in alive:
            fut.add_done_callback(from_thread)

    # --- running ---------------------------------------------------------------------

    def job_row(self, conversation_id: int, turn_id: int | None, tool_call_id: str, tool: str,
                args: dict[str, Any]) -> dict[str, Any]:
        """The column values of a new job already claimed by this worker (``running``, attempt 1).

        The dialogue writes these rows in the same transaction as the engine step that made
        the calls (:meth:`Repository.record_step`) and hands each row to :meth:`submit` as
        ``job``: one commit per step instead of one per job.
        """
        now = utcnow()
        return dict(conversation_id=conversation_id, turn_id=turn_id, tool_call_id=tool_call_id, tool=tool,
                    args=args, status="running", attempts=1, worker=self.worker, runner=self.name,
                    created_at=now, started_at=now, heartbeat_at=now)

    async def submit(self, conversation_id: int, turn_id: int | None, tool_call_id: str, tool: str,
                     args: dict[str, Any], *, conversation_key: str = "", progress: ProgressFn | None = None,
                     reply_to: str | None = None, job: Job | None = None) -> ToolOutcome:
        """Create (or find) the job of this tool call and run it; a finished job returns its stored result.

        ``job`` is a row the caller created from :meth:`job_row` (claimed by this worker):
        it runs as it is, without another round trip to create or claim it.
        """
        if job is not None:
            # its lease is this worker's from the moment it was written: keep it renewed while
            # the job waits for a slot, or a sweeper would take it for an orphan
            self._running.add(job.id)
            try:
                async with self._slot():
                    return await self._execute(job, conversation_key, progress, reply_to)
            except asyncio.CancelledError:
                if job.id in self._running:  # cancelled while waiting for a slot: give the job back
                    self._running.discard(job.id)
                    await self.repo.requeue_job(job.id, worker=self.worker)
                raise
        async with self._slot():
            job, created = await self.repo.create_job(conversation_id, turn_id, tool_call_id, tool, args,
                                                      claim_as=self.worker, runner=self.name)
            if not created and not same_call(job, tool, args):
                # the id was used before in this turn for another call (a server that repeats or omits
                # ids, rows from before ids were made unique): that job's result is not this call's
                log.warning("job %d of call %s ran %s with other arguments than this %s call; running it as a new job",
                            job.id, tool_call_id, job.tool, tool)
                job, created = await self.repo.create_job(conversation_id, turn_id,
                                                          f"{tool_call_id[:100]}~{uuid.uuid4().hex[:8]}", tool, args,
                                                          claim_as=self.worker, runner=self.name)
            if created:
                return await self._execute(job, conversation_key, progress, reply_to)
        return await self.run_job(job, conversation_key=conversation_key, progress=progress, reply_to=reply_to)

    async def run_job(self, job: Job, *, conversation_key: str = "", progress: ProgressFn | None = None,
                      reply_to: str | None = None) -> ToolOutcome:
        if job.status in ("done", "failed"):
            return await self.outcome_from_row(job)
        async with self._slot():
            if not await self.repo.claim_job(job.id, self.worker, stale_before=stale_cutoff(self.lease_seconds),
                                             runner=self.name):
                # someone else holds a live lease: wait for their result
                return await self._await_other(job.id)
            job = await self.repo.get_job(job.id)
            return await self._execute(job, conversation_key, progress, reply_to)

    async def _execute(self, job: Job, conversation_key: str, progress: ProgressFn | None,
                       reply_to: str | None) -> ToolOutcome:
        """Run a job this worker has claimed (the caller holds a slot, :meth:`_slot`)."""
        if job.attempts > self.max_attempts:
            msg = f"The {job.tool} job was abandoned after {job.attempts - 1} attempts that did not finish."
            await self.repo.finish_job(job.id, status="failed", backend=None, result=None, error=msg, seconds=0.0)
            return ToolOutcome(job.tool, False, error=msg)
        self._running.add(job.id)
        if job.created_at is not None and job.started_at is not None:
            metrics.QUEUE_WAIT.labels(runner=self.name).observe(
                max(0.0, (_aware(job.started_at) - _aware(job.created_at)).total_seconds()))
        await _emit(progress, Progress(conversation_key, job.id, job.tool, "started",
                                       f"running {job.tool}", reply_to=reply_to))
        t0 = time.perf_counter()
        running = metrics.JOBS_RUNNING_HERE.labels(runner=self.name)
        running.inc()
        ctl = JobControl()
        slot_jobs = _SLOT_JOBS.get()
        if slot_jobs is not None:
            slot_jobs.append(ctl)
        token = JOB_CONTROL.set(ctl)  # copied into the task wait_for runs _run in
        try:
            with metrics.logging_context(job=job.id, conversation=conversation_key or job.conversation_id,
                                         turn=job.turn_id, tool=job.tool):
                outcome = await asyncio.wait_for(
                    self._run(job, _thread_reporter(progress, conversation_key, job, reply_to), progress,
                              conversation_key, reply_to),
                    timeout=self.timeout,
                )
        except TimeoutError:
            ctl.cancel.set()  # a backend that checks it (or reports progress) stops at its next chunk
            outcome = ToolOutcome(job.tool, False, error=f"The {job.tool} job took longer than {self.timeout:g} s and was stopped.")
        except asyncio.CancelledError:
            ctl.cancel.set()
            self._running.discard(job.id)
            await self.repo.requeue_job(job.id, worker=self.worker)
            raise
        finally:
            JOB_CONTROL.reset(token)
            running.dec()
            self._running.discard(job.id)
        outcome.seconds = time.perf_counter() - t0
        replica = getattr(outcome, "replica", None)
        outcome.runner = self.name  # type: ignore[attr-defined]
        if not await self.repo.finish_job(job.id, status="done" if outcome.ok else "failed", backend=outcome.backend,
                                          result=outcome.to_json(), error=outcome.error, seconds=outcome.seconds,
                                          worker=self.worker, replica=replica):
            # our lease expired and another worker took the job over: its run is the one that counts
            log.warning("job %d was taken over by another worker while it ran here; using its result", job.id)
            return await self._await_other(job.id)
        metrics.RUN_TIME.labels(tool=job.tool, backend=outcome.backend or "none", runner=self.name).observe(outcome.seconds)
        metrics.JOBS_FINISHED.labels(tool=job.tool, backend=outcome.backend or "none", runner=self.name,
                                     status="done" if outcome.ok else "failed").inc()
        await _emit(progress, Progress(conversation_key, job.id, job.tool, "done" if outcome.ok else "failed",
                                       outcome.error or f"{job.tool} finished in {outcome.seconds:.1f} s",
                                       fraction=1.0, reply_to=reply_to))
        return outcome

    async def _run(self, job: Job, reporter: ProgressReport | None, progress: ProgressFn | None,
                   conversation_key: str, reply_to: str | None) -> ToolOutcome:
        """Run the tool of a claimed job; the one step a distributed runner replaces."""
        outcome = await self.executor.execute(job.conversation_id, job.turn_id, job.tool, dict(job.args or {}),
                                              progress=reporter)
        outcome.replica = self.worker  # type: ignore[attr-defined]
        return outcome

    async def _await_other(self, job_id: int) -> ToolOutcome:
        while True:
            job = await self.repo.get_job(job_id)
            if job.status in ("done", "failed"):
                return await self.outcome_from_row(job)
            # the other worker's lease expired while we waited: take the job over
            if job.status == "running" and await self.repo.claim_job(
                    job_id, self.worker, stale_before=stale_cutoff(self.lease_seconds)):
                async with self._slot():
                    return await self._execute(await self.repo.get_job(job_id), "", None, None)
            await asyncio.sleep(0.2)

    async def outcome_from_row(self, job: Job) -> ToolOutcome:
        res = dict(job.result or {})
        arts = []
        for a in res.get("artifacts", []) or []:
            row = await self.repo.find_artifact(job.conversation_id, a["id"])
            if row is not None:
                arts.append(row)
        outcome = ToolOutcome(job.tool, job.status == "done", text=res.get("text", ""), artifacts=arts,
                              data=res.get("data", {}) or {}, backend=job.backend, seconds=job.seconds or 0.0,
                              error=job.error)
        outcome.runner, outcome.replica = job.runner, job.replica  # type: ignore[attr-defined]
        return outcome

    # --- recovery --------------------------------------------------------------------

    async def recover_orphans(self) -> list[Job]:
        """Jobs left queued/running by a dead process; they are re-run by their turn's resumption."""
        dead = [w for w in await self.repo.running_workers() if worker_is_dead(w)]
        stale = stale_cutoff(self.lease_seconds)
        jobs = await self.repo.orphaned_jobs(stale_before=stale, dead_workers=dead)
        out = []
        for job in jobs:
            if job.status == "running" and job.worker != self.worker:
                # re-checked in the UPDATE: a job another process just took over stays with it
                if await self.repo.requeue_job(job.id, stale_before=stale, dead_workers=dead):
                    log.warning("job %d (%s) was left running by %s; it will run again", job.id, job.tool, job.worker)
                    metrics.JOB_RETRIES.labels(runner=self.name).inc()
                    out.append(job)
            elif job.status == "queued":
                out.append(job)
        return out


def same_call(job: Job, tool: str, args: dict[str, Any]) -> bool:
    """Whether an existing job row is the job of this call (same tool, same arguments as JSON)."""
    def canon(value: Any) -> str:
        return json.dumps(value or {}, sort_keys=True, default=str)

    return job.tool == tool and canon(job.args) == canon(args)


def _aware(t: Any) -> Any:
    """SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones."""
    from datetime import UTC

    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


async def _emit(progress: ProgressFn | None, event: Progress) -> None:
    if progress is None:
        return
    try:
        await progress(event)
    except Exception:  # a failing spinner must not fail the job
        log.warning("progress callback failed", exc_info=True)


def _thread_reporter(progress: ProgressFn | None, conversation_key: str, job: Job,
                     reply_to: str | None) -> ProgressReport | None:
    """A callback a backend may call from its worker thread; it posts ``step`` events on the loop."""
    if progress is None:
        return None
    loop = asyncio.get_running_loop()

    def report(fraction: float | None, message: str) -> None:
        event = Progress(conversation_key, job.id, job.tool, "step", message, fraction=fraction, reply_to=reply_to)
        loop.call_soon_threadsafe(lambda: loop.create_task(_emit(progress, event)))

    return report
