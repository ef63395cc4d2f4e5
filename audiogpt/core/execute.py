"""Running one tool call: validate arguments, open artifacts, run the backend, store outputs.

This is where artifact ids become decoded inputs and backend outputs become
new artifacts. Every failure becomes one sentence in :class:`ToolOutcome`
(the log keeps the traceback); nothing here raises into the dialogue.

Model work (loading and running a backend) runs on a :class:`ModelPool`: a bounded set
of threads of its own, never the event loop's default executor, so a model that hangs
can only take model threads, never the threads storage, media decoding and DNS lookups
use. A thread cannot be killed; the job that started it (:data:`JOB_CONTROL`) can ask it
to stop: its ``cancel`` event is passed to a backend whose ``run`` takes a ``cancel``
keyword, and its progress callback raises :class:`JobCancelled` once the event is set,
which stops every backend that reports progress between chunks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import ValidationError

from audiogpt.core.artifacts import ArtifactError, ArtifactService
from audiogpt.core.media import MediaError, decode_audio, encode_audio
from audiogpt.core.tools import TOOLS, ToolArgs, ToolSpec
from audiogpt.models.base import (
    Audio,
    BackendResult,
    BadInput,
    Image,
    ModelNotInstalled,
    ProgressReport,
    accepts_progress,
)
from audiogpt.models.registry import Registry
from audiogpt.models.runtime import ModelCache
from audiogpt.storage.schema import Artifact

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobCancelled(Exception):
    """Raised in a model thread (by its progress callback) once its job gave up on it."""


@dataclass
class JobControl:
    """What a job knows of the model threads it started: a stop request, and whether they ended.

    The :class:`~audiogpt.core.jobs.LocalRunner` sets one for each job it runs (in
    :data:`JOB_CONTROL`); every :meth:`ModelPool.run` under it is registered here, so a job
    that timed out can ask its threads to stop and keep its slot until they really did.
    """

    cancel: threading.Event = field(default_factory=threading.Event)
    futures: list[concurrent.futures.Future[Any]] = field(default_factory=list)

    def alive(self) -> list[concurrent.futures.Future[Any]]:
        """The work this job started that is still queued or running on a model thread."""
        return [f for f in self.futures if not f.done()]


JOB_CONTROL: contextvars.ContextVar[JobControl | None] = contextvars.ContextVar("audiogpt_job_control", default=None)


class ModelPool:
    """A bounded pool of daemon threads for model work, apart from the loop's default executor.

    ``concurrent.futures.ThreadPoolExecutor`` joins its (non-daemon) threads at interpreter
    exit, so one hung model would keep a stopping bot alive for ever; these threads are
    daemons. Work is queued when every thread is busy; a queued item whose caller gave up
    (cancelled, timed out) is dropped without running.
    """

    def __init__(self, threads: int, *, name: str = "audiogpt-model") -> None:
        self.size = max(1, int(threads))
        self.name = name
        self._queue: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._busy = 0
        self._closed = False

    @property
    def busy(self) -> int:
        """Threads running model work now (a timed-out job's thread counts until it ends)."""
        return self._busy

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the model pool is closed")
            self._queue.put((fut, lambda: fn(*args, **kwargs)))
            if len(self._threads) < self.size:
                t = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads) + 1}", daemon=True)
                self._threads.append(t)
                t.start()
        return fut

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, call = item
            if not fut.set_running_or_notify_cancel():  # its caller gave up while it waited
                continue
            with self._lock:
                self._busy += 1
            try:
                result = call()
            except BaseException as exc:  # handed to the awaiting job, never lost in the thread
                fut.set_exception(exc)
            else:
                fut.set_result(result)
            finally:
                with self._lock:
                    self._busy -= 1
            del item, fut, call

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on a model thread; registered with the current job's :class:`JobControl`.

        Cancelling the awaiting task drops the work if it has not started, and sets the
        job's cancel event if it has (the thread itself runs on until the backend stops).
        """
        ctl = JOB_CONTROL.get()
        if ctl is not None and ctl.cancel.is_set():
            raise JobCancelled("the job was stopped")
        fut = self.submit(fn, *args, **kwargs)
        if ctl is not None:
            ctl.futures.append(fut)
        try:
            return await asyncio.wrap_future(fut)
        except asyncio.CancelledError:
            fut.cancel()
            if ctl is not None:
                ctl.cancel.set()
            raise

    def close(self) -> None:
        """Stop the idle threads; a thread still running a model ends when its work ends."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for _ in self._threads:
                self._queue.put(None)


def accepts_keyword(fn: Any, name: str) -> bool:
    """True when ``fn`` declares a keyword ``name`` (how a backend opts in to ``progress`` or ``cancel``)."""
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def cancellable(progress: ProgressReport | None, cancel: threading.Event) -> ProgressReport:
    """A progress callback that raises :class:`JobCancelled` once ``cancel`` is set.

    Backends report progress between chunks, so this is where a backend that knows
    nothing of cancelling is stopped: at its next chunk after its job gave up.
    """

    def report(fraction: float | None, message: str) -> None:
        if cancel.is_set():
            raise JobCancelled("the job was stopped")
        if progress is not None:
            progress(fraction, message)

    return report


def check_cancel(cancel: threading.Event | None) -> None:
    """For a loop over chunks (core-side helpers, test backends): stop when the job gave up."""
    if cancel is not None and cancel.is_set():
        raise JobCancelled("the job was stopped")


@dataclass
class ToolOutcome:
    tool: str
    ok: bool
    text: str = ""
    artifacts: list[Artifact] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    backend: str | None = None
    seconds: float = 0.0
    error: str | None = None
    runner: str | None = None  # set by the JobRunner: "local" | "ray"
    replica: str | None = None  # where the model ran

    def to_json(self) -> dict[str, Any]:
        """What the job row keeps and the LLM sees (ids, never paths)."""
        if not self.ok:
            return {"ok": False, "tool": self.tool, "error": self.error, "backend": self.backend}
        return {
            "ok": True,
            "tool": self.tool,
            "text": self.text,
            "artifacts": [{"id": a.short_id, "kind": a.kind, "name": a.name,
                           "duration": round(a.duration, 2) if a.duration else None} for a in self.artifacts],
            "backend": self.backend,
            "data": self.data,
        }


def validation_sentence(tool: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return f"The arguments for {tool} were not valid ({'; '.join(parts)})."


class Executor(Protocol):
    async def execute(self, conversation_id: int, turn_id: int | None, tool: str, args: dict[str, Any],
                      progress: ProgressReport | None = None) -> ToolOutcome: ...

    def backend_name(self, tool: str) -> str | None: ...


class ToolExecutor:
    """Runs tools in-process on the registry's backends."""

    def __init__(self, artifacts: ArtifactService, registry: Registry, cache: ModelCache, *,
                 max_seconds: float, disabled: set[str] | None = None, pool: ModelPool | None = None) -> None:
        self.artifacts = artifacts
        self.registry = registry
        self.cache = cache
        self.max_seconds = max_seconds
        self.disabled = disabled or set()
        self.pool = pool or ModelPool(2)

    def close(self) -> None:
        self.pool.close()

    def backend_name(self, tool: str) -> str | None:
        try:
            return self.registry.select(tool).name
        except ModelNotInstalled:
            return None

    async def validate(self, conversation_id: int, spec: ToolSpec, args: dict[str, Any]) -> tuple[ToolArgs, dict[str, Any]]:
        """Validated args and the decoded inputs a backend receives."""
        parsed = spec.args.model_validate(args)
        inputs: dict[str, Any] = parsed.model_dump()
        for name, kind, _required in spec.args.artifact_fields():
            ref = getattr(parsed, name)
            if ref is None:
                continue
            res = await self.artifacts.resolve(conversation_id, ref, kind=kind)
            if kind == "audio":
                inputs[name] = await asyncio.to_thread(decode_audio, res.path, max_seconds=self.max_seconds)
            elif kind == "image":
                inputs[name] = Image(await asyncio.to_thread(res.path.read_bytes), res.row.mime)
            else:
                inputs[name] = res.path
        return parsed, inputs

    async def execute(self, conversation_id: int, turn_id: int | None, tool: str, args: dict[str, Any],
                      progress: ProgressReport | None = None) -> ToolOutcome:
        t0 = time.perf_counter()
        spec = TOOLS.get(tool) if tool in TOOLS else None
        if spec is None:
            return ToolOutcome(tool, False, error=f"There is no tool called '{tool}'.")
        if tool in self.disabled:
            return ToolOutcome(tool, False, error=f"The {tool} tool is disabled in this deployment.")
        backend_name: str | None = None
        try:
            parsed, inputs = await self.validate(conversation_id, spec, args)
            backend = self.registry.select(tool)
            backend_name = backend.name
            model = await self.pool.run(self.cache.get, backend)
            ctl = JOB_CONTROL.get()
            if ctl is not None:
                if accepts_keyword(backend.run, "cancel"):
                    inputs["cancel"] = ctl.cancel
                if accepts_progress(backend):  # checked between chunks, even when no one listens
                    inputs["progress"] = cancellable(progress, ctl.cancel)
            elif progress is not None and accepts_progress(backend):
                inputs["progress"] = progress
            result: BackendResult = await self.pool.run(backend.run, model, **inputs)
            parent = next((getattr(parsed, n) for n, _k, _r in spec.args.artifact_fields() if getattr(parsed, n)), None)
            stored = await self.store_outputs(conversation_id, turn_id, tool, result, parent)
            return ToolOutcome(tool, True, text=result.text, artifacts=stored, data=result.data,
                               backend=backend_name, seconds=time.perf_counter() - t0)
        except ValidationError as exc:
            msg = validation_sentence(tool, exc)
        except JobCancelled:
            msg = f"The {tool} job was stopped before it finished."
        except (ArtifactError, MediaError, BadInput, ModelNotInstalled) as exc:
            msg = str(exc)
        except Exception as exc:  # a backend bug must not take the bot down
            log.exception("tool %s failed", tool)
            msg = f"The {tool} model failed while running ({type(exc).__name__}); the error is in the log."
        log.info("tool %s refused/failed: %s", tool, msg)
        return ToolOutcome(tool, False, backend=backend_name, seconds=time.perf_counter() - t0, error=msg)

    async def store_outputs(self, conversation_id: int, turn_id: int | None, tool: str, result: BackendResult,
                            parent: str | None) -> list[Artifact]:
        stored: list[Artifact] = []
        for out in result.outputs:
            if out.audio is not None:
                data = await asyncio.to_thread(encode_audio, out.audio, "wav")
                mime, name, duration = "audio/wav", f"{out.name}.wav", out.audio.duration
            elif out.data is not None:
                data, mime, duration = out.data, out.mime or "application/octet-stream", None
                name = out.name if "." in out.name else f"{out.name}.{_ext(mime)}"
            else:
                continue
            row = await self.artifacts.ingest(conversation_id, data, name=name, mime=mime, source=tool,
                                              turn_id=turn_id, parent=parent, check=False, duration=duration)
            stored.append(row)
        return stored


def _ext(mime: str) -> str:
    from audiogpt.core.artifacts import ext_for

    return ext_for(mime)


class DryRunExecutor(ToolExecutor):
    """Validates arguments and artifact ids for real, then answers with placeholders of the right kind.

    Used by ``audiogpt eval --dry-run`` to score routing without running models.
    """

    def backend_name(self, tool: str) -> str | None:
        return "dry-run"

    async def execute(self, conversation_id: int, turn_id: int | None, tool: str, args: dict[str, Any],
                      progress: ProgressReport | None = None) -> ToolOutcome:
        t0 = time.perf_counter()
        spec = TOOLS.get(tool) if tool in TOOLS else None
        if spec is None:
            return ToolOutcome(tool, False, error=f"There is no tool called '{tool}'.")
        try:
            parsed = spec.args.model_validate(args)
            for name, kind, _r in spec.args.artifact_fields():
                ref = getattr(parsed, name)
                if ref is not None:
                    await self.artifacts.resolve(conversation_id, ref, kind=kind)
        except ValidationError as exc:
            return ToolOutcome(tool, False, error=validation_sentence(tool, exc), backend="dry-run")
        except ArtifactError as exc:
            return ToolOutcome(tool, False, error=str(exc), backend="dry-run")
        outputs = []
        for i, kind in enumerate(spec.produces):
            outputs.append(_placeholder(kind, f"{tool}_{i + 1}" if i else tool))
        result = BackendResult(text=f"(dry run of {tool}: placeholder result)", outputs=outputs, data={"dry_run": True})
        parent = next((getattr(parsed, n) for n, _k, _r in spec.args.artifact_fields() if getattr(parsed, n)), None)
        stored = await self.store_outputs(conversation_id, turn_id, tool, result, parent)
        return ToolOutcome(tool, True, text=result.text, artifacts=stored, data=result.data, backend="dry-run",
                           seconds=time.perf_counter() - t0)


_PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _placeholder(kind: str, name: str):  # type: ignore[no-untyped-def]
    import numpy as np

    from audiogpt.models.base import OutputFile

    if kind == "audio":
        return OutputFile(name=name, audio=Audio(np.zeros(16000, dtype=np.float32), 16000))
    if kind == "image":
        return OutputFile(name=name, data=_PNG_1x1, mime="image/png")
    if kind == "video":
        return OutputFile(name=f"{name}.mp4", data=b"\x00\x00\x00\x18ftypmp42placeholder", mime="video/mp4")
    return OutputFile(name=f"{name}.txt", data=b"placeholder", mime="text/plain")
