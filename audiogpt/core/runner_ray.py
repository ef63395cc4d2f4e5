"""Model jobs on Ray Serve: ``AUDIOGPT_RUNNER=ray``.

The bot keeps everything that makes a job a job (the SQL row with its claim,
lease, attempts and fencing, progress to the platform, artifacts rows) and only
sends the model run to a Serve deployment, one per task family (the catalogue's
``ToolSpec.family``: ``asr``, ``tts``, ``sound``...; ``AUDIOGPT_RAY_DEPLOYMENTS``
regroups them). Replicas keep their models warm, reserve ``num_cpus``/``num_gpus``
and scale between the replica bounds; requests for a backend that batches (one that
defines ``run_batch``, whatever its name) are gathered by ``@serve.batch``.

A request carries artifact *keys* of the blob store, never local paths: the
replica reads inputs and writes outputs through the same store (S3 when the
workers are other machines), and returns keys the bot registers as artifacts.
The reply streams: first which replica took it (recorded on the job row), then
the backend's progress events, then the result. A replica that dies mid-job
(OOM, kill -9, a lost node) surfaces as an actor error; the job is retried on
another or a restarted replica, counted as a new attempt, up to the job's
attempt limit, and the turn still answers once.

``RAY_ADDRESS`` joins an existing cluster (KubeRay, ``ray start --head``) whose
Serve applications may already run (deploy/kuberay/rayservice.yaml); otherwise
the bot starts a local Ray and deploys the applications it needs on first use.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from typing import Any

from pydantic import ValidationError

from audiogpt.config import Settings
from audiogpt.core import metrics
from audiogpt.core.artifacts import ArtifactError, ext_for, safe_name
from audiogpt.core.execute import ToolExecutor, ToolOutcome, validation_sentence
from audiogpt.core.jobs import LocalRunner, ProgressFn
from audiogpt.core.tools import TOOLS
from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import ProgressReport
from audiogpt.storage.schema import Job

log = logging.getLogger(__name__)

_ARTIFACT = "__artifact__"


@dataclass
class ReplicaConfig:
    """What a replica needs to run backends and reach the artifact store (picklable)."""

    backends: dict[str, str] = field(default_factory=dict)
    data_dir: str = "data"
    artifact_store_url: str | None = None
    s3_endpoint_url: str | None = None
    max_audio_seconds: float = 600.0
    model_memory_mb: int = 4096
    batch_size: int = 8
    batch_wait_s: float = 0.02
    registry: Any = None  # a Registry object shipped to replicas (tests, custom builds); None = from backends
    # device "auto" travels unresolved: each replica resolves it on its own node (GPU workers, CPU bot)
    backend_config: BackendConfig = field(default_factory=BackendConfig)

    @classmethod
    def from_settings(cls, s: Settings, registry: Any = None) -> ReplicaConfig:
        from audiogpt.core.backends import backend_config

        return cls(backends=dict(s.backends), data_dir=str(s.data_dir.resolve()), artifact_store_url=s.artifact_store_url,
                   s3_endpoint_url=s.s3_endpoint_url, max_audio_seconds=s.max_audio_seconds,
                   model_memory_mb=s.model_memory_mb, batch_size=s.ray_batch_size, batch_wait_s=s.ray_batch_wait_s,
                   registry=registry, backend_config=backend_config(s, resolve=False))

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- the replica side ---------------------------------------------------------------------


class ModelReplica:
    """One Serve replica: a registry, a warm model cache and the artifact store.

    Wrapped with ``serve.deployment`` by :func:`build_app`; plain Python so its logic is
    testable without Ray.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        from pathlib import Path

        from audiogpt.core.backends import registry_for, resolved
        from audiogpt.models.runtime import ModelCache
        from audiogpt.storage.blobstore import open_blob_store

        self.cfg = ReplicaConfig(**config)
        data = Path(self.cfg.data_dir)
        self.store = open_blob_store(self.cfg.artifact_store_url, local_root=data / "artifacts",
                                     cache_dir=data / "blob-cache" / f"replica-{os.getpid()}",
                                     endpoint_url=self.cfg.s3_endpoint_url)
        if self.cfg.registry is not None:
            self.registry = self.cfg.registry
        else:
            # the same one-per-process registry the bot builds, on this node's device
            self.registry = registry_for(self.cfg.backends, resolved(self.cfg.backend_config))
        self.cache = ModelCache(self.cfg.model_memory_mb)
        self.replica = f"{_replica_tag()}@{socket.gethostname()}:{os.getpid()}"
        self._batching = self.cfg.batch_size > 1

    def whoami(self) -> dict[str, Any]:
        return {"replica": self.replica, "pid": os.getpid(), "host": socket.gethostname()}

    # inputs and outputs through the store

    def _inputs(self, raw: dict[str, Any]) -> dict[str, Any]:
        from audiogpt.core.media import decode_audio
        from audiogpt.models.base import Image

        inputs = dict(raw)
        for name, value in raw.items():
            if isinstance(value, dict) and _ARTIFACT in value:
                ref = value[_ARTIFACT]
                path = self.store.path(ref["blob"])
                if not path.exists():
                    raise ArtifactError(f"The file behind {ref['id']} is missing from storage.")
                if ref["want"] == "audio":
                    inputs[name] = decode_audio(path, max_seconds=self.cfg.max_audio_seconds)
                elif ref["want"] == "image":
                    inputs[name] = Image(path.read_bytes(), ref["mime"])
                else:
                    inputs[name] = path
        return inputs

    def _outputs(self, result: Any) -> list[dict[str, Any]]:
        from audiogpt.core.media import encode_audio, sniff

        outs = []
        for out in result.outputs:
            if out.audio is not None:
                data = encode_audio(out.audio, "wav")
                mime, name, duration = "audio/wav", f"{out.name}.wav", out.audio.duration
            elif out.data is not None:
                data, mime, duration = out.data, out.mime or "application/octet-stream", None
                name = out.name if "." in out.name else f"{out.name}.{ext_for(mime)}"
            else:
                continue
            kind, sniffed = sniff(data, name, mime)
            mime = sniffed or mime
            digest, key = self.store.put(data, ext_for(mime, name))
            outs.append({"sha256": digest, "blob": key, "name": name, "mime": mime, "kind": kind, "size": len(data),
                         "duration": duration})
        return outs

    def _model(self, backend: Any) -> tuple[Any, float]:
        key = self.cache.key(backend)
        fresh = key not in self.cache.loaded()
        t0 = time.perf_counter()
        model = self.cache.get(backend)
        return model, (time.perf_counter() - t0) if fresh else 0.0

    def _failure(self, tool: str, backend: str | None, exc: BaseException) -> dict[str, Any]:
        from audiogpt.core.media import MediaError
        from audiogpt.models.base import BadInput, ModelNotInstalled

        if isinstance(exc, ArtifactError | MediaError | BadInput | ModelNotInstalled):
            msg = str(exc)
        else:
            log.error("tool %s failed on %s", tool, self.replica, exc_info=exc)
            msg = f"The {tool} model failed while running ({type(exc).__name__}); the error is in the log."
        return {"ok": False, "error": msg, "backend": backend, "replica": self.replica}

    def select(self, tool: str) -> Any:
        return self.registry.select(tool)

    def run_one(self, req: dict[str, Any], progress: ProgressReport | None = None) -> dict[str, Any]:
        """Run one request to the end (in a worker thread)."""
        from audiogpt.models.base import accepts_progress

        tool, name = req["tool"], None
        queued = max(0.0, time.time() - req.get("sent_at", time.time()))
        try:
            backend = self.select(tool)
            name = backend.name
            inputs = self._inputs(req["inputs"])
            model, load_s = self._model(backend)
            if progress is not None and accepts_progress(backend):
                inputs["progress"] = progress
            result = backend.run(model, **inputs)
            return {"ok": True, "text": result.text, "data": result.data, "backend": name, "replica": self.replica,
                    "outputs": self._outputs(result), "load_seconds": load_s, "batch_size": 1, "queue_s": queued}
        except Exception as exc:
            return self._failure(tool, name, exc)

    def run_many(self, reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run a batch gathered by ``@serve.batch`` (in a worker thread); grouped by backend."""
        from audiogpt.models import serving

        results: list[dict[str, Any] | None] = [None] * len(reqs)
        now = time.time()
        groups: dict[str, list[int]] = {}
        for i, req in enumerate(reqs):
            groups.setdefault(req["tool"], []).append(i)
        for tool, idx in groups.items():
            try:
                backend = self.select(tool)
                model, load_s = self._model(backend)
            except Exception as exc:
                for i in idx:
                    results[i] = self._failure(tool, None, exc)
                continue
            ready: list[int] = []
            inputs: list[dict[str, Any]] = []
            for i in idx:
                try:
                    inputs.append(self._inputs(reqs[i]["inputs"]))
                    ready.append(i)
                except Exception as exc:
                    results[i] = self._failure(tool, backend.name, exc)
            outs = serving.run_batch(backend, model, inputs) if inputs else []
            for i, res in zip(ready, outs, strict=True):
                if isinstance(res, Exception):
                    results[i] = self._failure(tool, backend.name, res)
                    continue
                try:
                    results[i] = {"ok": True, "text": res.text, "data": res.data, "backend": backend.name,
                                  "replica": self.replica, "outputs": self._outputs(res), "load_seconds": load_s,
                                  "batch_size": len(ready),
                                  "queue_s": max(0.0, now - reqs[i].get("sent_at", now))}
                except Exception as exc:
                    results[i] = self._failure(tool, backend.name, exc)
                load_s = 0.0
        return [r or {"ok": False, "error": "The request was not run.", "replica": self.replica} for r in results]

    def batches(self, tool: str) -> bool:
        """Whether ``tool``'s backend is gathered by ``@serve.batch``: it has ``run_batch``, whatever its name."""
        if not self._batching:
            return False
        from audiogpt.models.base import supports_batch

        try:
            return supports_batch(self.select(tool))
        except Exception:
            return False


def _replica_tag() -> str:
    try:
        from ray import serve

        ctx = serve.get_replica_context()
        return f"{ctx.deployment}#{ctx.replica_tag}"
    except Exception:
        return "replica"


def build_app(family: str, config: ReplicaConfig, settings: Settings) -> Any:
    """The Serve application of one task family (a deployment with the settings' resources)."""
    opts: dict[str, Any] = {
        "name": family,
        "ray_actor_options": {"num_cpus": settings.ray_num_cpus, "num_gpus": settings.ray_num_gpus},
        "max_ongoing_requests": max(1, settings.ray_max_ongoing_requests),
        "health_check_period_s": 2.0,
        "graceful_shutdown_timeout_s": 5.0,
    }
    lo, hi = max(0, settings.ray_min_replicas), max(1, settings.ray_max_replicas)
    if hi > max(lo, 1):
        opts["autoscaling_config"] = {"min_replicas": lo, "max_replicas": hi, "initial_replicas": max(lo, 1),
                                      "target_ongoing_requests": max(1, settings.ray_max_ongoing_requests // 2)}
    else:
        opts["num_replicas"] = max(lo, 1)
    return ModelDeployment.options(**opts).bind(config.as_dict())


try:  # the local runner never needs Ray; this module is imported only with AUDIOGPT_RUNNER=ray
    from ray import serve as _serve
except ImportError:  # pragma: no cover - Ray is in the scale extra
    _serve = None

if _serve is not None:

    @_serve.deployment
    class ModelDeployment(ModelReplica):
        """The Serve face of :class:`ModelReplica`: a streaming ``run`` and a ``@serve.batch`` path."""

        def __init__(self, config: dict[str, Any]) -> None:
            super().__init__(config)
            self._batched.set_max_batch_size(max(1, self.cfg.batch_size))
            self._batched.set_batch_wait_timeout_s(self.cfg.batch_wait_s)

        async def info(self) -> dict[str, Any]:
            return self.whoami()

        async def run(self, req: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
            yield {"event": "replica", **self.whoami()}
            if self.batches(req["tool"]):
                yield {"event": "result", **(await self._batched(req))}
                return
            loop = asyncio.get_running_loop()
            queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

            def report(fraction: float | None, message: str) -> None:
                loop.call_soon_threadsafe(queue.put_nowait,
                                          {"event": "progress", "fraction": fraction, "message": message})

            task = asyncio.ensure_future(asyncio.to_thread(self.run_one, req, report))
            while not task.done():
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({task, getter}, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
            while not queue.empty():
                yield queue.get_nowait()
            yield {"event": "result", **task.result()}

        @_serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
        async def _batched(self, reqs: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return await asyncio.to_thread(self.run_many, reqs)


def app_builder(args: dict[str, str]) -> Any:
    """Serve application builder: ``serve run audiogpt.core.runner_ray:app_builder family=asr``,
    and the ``import_path`` of the KubeRay RayService (deploy/kubernetes/rayservice.yaml).
    Settings come from the environment of the Ray nodes, as for the bot."""
    family = args.get("family", "asr")
    settings = Settings()
    return build_app(family, ReplicaConfig.from_settings(settings), settings)


# --- the bot side ---------------------------------------------------------------------------


class RayUnavailable(RuntimeError):
    """Ray could not be started or joined; ``str()`` is one sentence for the operator."""


def _infra_errors() -> tuple[type[BaseException], ...]:
    import ray.exceptions as rex

    errs: list[type[BaseException]] = [rex.RayActorError, rex.WorkerCrashedError]
    for name in ("ActorUnavailableError", "ActorDiedError", "NodeDiedError", "ObjectLostError"):
        if hasattr(rex, name):
            errs.append(getattr(rex, name))
    try:
        from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

        errs += [BackPressureError, DeploymentUnavailableError]
    except ImportError:
        pass
    return tuple(errs)


def family_of(tool: str, overrides: dict[str, str] | None = None) -> str:
    """Which Serve app runs ``tool``: an override from settings, else its catalogue family.

    A tool the catalogue does not know gets an app of its own name, never a silent default.
    """
    if overrides and tool in overrides:
        return overrides[tool]
    return TOOLS.get(tool).family if tool in TOOLS else tool


class RayRunner(LocalRunner):
    """Jobs as SQL rows (as :class:`LocalRunner`), model runs on Ray Serve deployments."""

    name = "ray"

    def __init__(self, repo: Any, executor: ToolExecutor, settings: Settings, *, registry: Any = None) -> None:
        per_family = max(1, settings.ray_max_replicas) * max(1, settings.ray_max_ongoing_requests)
        super().__init__(repo, executor, concurrency=max(settings.job_concurrency, per_family),
                         timeout=settings.job_timeout, lease_seconds=settings.job_lease_seconds,
                         max_attempts=settings.job_max_attempts)
        self.settings = settings
        self.config = ReplicaConfig.from_settings(settings, registry)
        self.families = dict(settings.ray_deployments)  # overrides; everything else from the catalogue
        self._handles: dict[str, Any] = {}
        self._deploy_lock = asyncio.Lock()
        self._started_ray = False
        self.retry_backoff = 1.0

    # --- cluster -----------------------------------------------------------------------

    async def connect(self) -> None:
        """Join ``RAY_ADDRESS`` or start a local Ray (blocking work off the loop)."""
        await asyncio.to_thread(self._connect_sync)

    def _connect_sync(self) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RayUnavailable("AUDIOGPT_RUNNER=ray needs Ray Serve; install it with: pip install -e '.[scale]'.") from exc
        if ray.is_initialized():
            return
        address = self.settings.ray_address
        try:
            ray.init(address=address or None, namespace=self.settings.ray_namespace, include_dashboard=False,
                     log_to_driver=False, ignore_reinit_error=True,
                     **({} if address else {"num_cpus": max(2, os.cpu_count() or 2)}))
        except Exception as exc:
            where = address or "a local Ray"
            raise RayUnavailable(f"Ray at {where} could not be started or joined ({type(exc).__name__}).") from exc
        self._started_ray = not address

    async def ready(self) -> bool:
        try:
            import ray

            return bool(ray.is_initialized())
        except ImportError:
            return False

    def family_of(self, tool: str) -> str:
        """The Serve app of ``tool``: the settings' override, else the catalogue's family (a plug-in's too)."""
        return family_of(tool, self.families)

    def app_name(self, family: str) -> str:
        return f"{self.settings.ray_app_name}-{family}"

    async def handle(self, family: str) -> Any:
        """The deployment handle of a family: an application already running, else deployed now."""
        h = self._handles.get(family)
        if h is not None:
            return h
        async with self._deploy_lock:
            if family not in self._handles:
                self._handles[family] = await asyncio.to_thread(self._get_or_deploy, family)
        return self._handles[family]

    def _get_or_deploy(self, family: str) -> Any:
        from ray import serve

        app = self.app_name(family)
        try:
            status = serve.status().applications.get(app)
            # an application someone else deployed (a RayService, another bot) is used as it is,
            # even while it is still deploying: the handle waits for its replicas
            if status is not None and not str(status.status).endswith(("DEPLOY_FAILED", "DELETING")):
                return serve.get_app_handle(app)
        except Exception:
            log.debug("no Serve status yet", exc_info=True)
        log.info("deploying Serve application %s", app)
        return serve.run(build_app(family, self.config, self.settings), name=app, route_prefix=None, blocking=False)

    async def stop(self) -> None:
        await super().stop()

    async def shutdown_cluster(self) -> None:
        """Tear down what this process started (tests, benchmarks); a joined cluster is left alone."""
        import ray
        from ray import serve

        if self._started_ray and ray.is_initialized():
            await asyncio.to_thread(serve.shutdown)
            await asyncio.to_thread(ray.shutdown)

    # --- running a job -----------------------------------------------------------------

    async def _run(self, job: Job, reporter: ProgressReport | None, progress: ProgressFn | None,
                   conversation_key: str, reply_to: str | None) -> ToolOutcome:
        t0 = time.perf_counter()
        tool = job.tool
        spec = TOOLS.get(tool) if tool in TOOLS else None
        if spec is None:
            return ToolOutcome(tool, False, error=f"There is no tool called '{tool}'.")
        if tool in self.executor.disabled:
            return ToolOutcome(tool, False, error=f"The {tool} tool is disabled in this deployment.")
        try:
            parsed = spec.args.model_validate(dict(job.args or {}))
            inputs: dict[str, Any] = parsed.model_dump()
            parent = None
            for name, kind, _req in spec.args.artifact_fields():
                ref = getattr(parsed, name)
                if ref is None:
                    continue
                res = await self.executor.artifacts.resolve(job.conversation_id, ref, kind=kind)
                inputs[name] = {_ARTIFACT: {"id": res.row.short_id, "blob": res.row.blob, "mime": res.row.mime,
                                            "want": kind}}
                parent = parent or res.row.short_id
        except ValidationError as exc:
            return ToolOutcome(tool, False, error=validation_sentence(tool, exc))
        except ArtifactError as exc:
            return ToolOutcome(tool, False, error=str(exc))

        req = {"job": job.id, "tool": tool, "inputs": inputs, "sent_at": time.time()}
        result = await self._call(job, req, reporter)
        replica = result.get("replica")
        if result.get("load_seconds"):
            metrics.MODEL_LOAD.labels(backend=result.get("backend") or "none", where="ray").observe(result["load_seconds"])
        if result.get("batch_size"):
            metrics.BATCH_SIZE.labels(deployment=self.family_of(tool)).observe(result["batch_size"])
        if not result.get("ok"):
            outcome = ToolOutcome(tool, False, backend=result.get("backend"), error=result.get("error"),
                                  seconds=time.perf_counter() - t0)
        else:
            stored = []
            for o in result.get("outputs", []):
                row, _ = await self.repo.add_artifact(
                    job.conversation_id, sha256=o["sha256"], blob=o["blob"], kind=o["kind"], mime=o["mime"],
                    name=safe_name(o["name"]), size=o["size"], duration=o["duration"], source=tool, parent=parent,
                    turn_id=job.turn_id, reuse=True)
                stored.append(row)
            outcome = ToolOutcome(tool, True, text=result.get("text", ""), artifacts=stored,
                                  data=result.get("data") or {}, backend=result.get("backend"),
                                  seconds=time.perf_counter() - t0)
        outcome.replica = replica  # type: ignore[attr-defined]
        outcome.batch_size = result.get("batch_size")  # type: ignore[attr-defined]
        outcome.queue_seconds = result.get("queue_s")  # type: ignore[attr-defined]
        return outcome

    async def _call(self, job: Job, req: dict[str, Any], reporter: ProgressReport | None) -> dict[str, Any]:
        """Stream one request through the family's deployment; retry when the replica dies."""
        infra = _infra_errors()
        attempts = job.attempts or 1
        family = self.family_of(job.tool)
        while True:
            try:
                h = await self.handle(family)
                req["sent_at"] = time.time()
                gen = h.options(stream=True, method_name="run").remote(req)
                async for ev in gen:
                    kind = ev.get("event")
                    if kind == "replica":
                        await self.repo.set_job_replica(job.id, self.worker, ev["replica"])
                    elif kind == "progress" and reporter is not None:
                        reporter(ev.get("fraction"), str(ev.get("message", "")))
                    elif kind == "result":
                        return ev
                raise RuntimeError("the replica closed the stream without a result")
            except infra as exc:
                if attempts >= self.max_attempts:
                    msg = f"The {job.tool} model worker stopped {attempts} times while running this job; giving up."
                    log.error("job %d: %s (%r)", job.id, msg, exc)
                    return {"ok": False, "error": msg}
                attempts += 1
                metrics.JOB_RETRIES.labels(runner=self.name).inc()
                log.warning("job %d: the replica running it died (%s); retrying, attempt %d", job.id,
                            type(exc).__name__, attempts)
                await self.repo.retry_job(job.id, self.worker)
                await asyncio.sleep(self.retry_backoff)

