"""Operational metrics (Prometheus) and the log context of the job or turn being worked on.

Metrics live in one process-wide registry, as Prometheus expects; ``/metrics``
(``audiogpt/bots/ops.py``) renders it. Counts that span every bot process (jobs by
state) are read from SQL at scrape time, since the job rows are the truth; the
rest is observed where it happens: queue wait and run time by the runners, batch
sizes and model load times as replicas report them, platform latency by delivery.

``log_context`` holds the ids a log line should carry (job, conversation, turn);
the JSON log formatter reads it, so no call site has to repeat them.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_WAIT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900)

JOBS_BY_STATE = Gauge("audiogpt_jobs", "Jobs in the database by state (all processes).", ["state"], registry=REGISTRY)
JOBS_RUNNING_HERE = Gauge("audiogpt_jobs_running_here", "Jobs this process is running now.", ["runner"], registry=REGISTRY)
JOBS_FINISHED = Counter("audiogpt_jobs_finished", "Jobs finished by this process.",
                        ["tool", "backend", "runner", "status"], registry=REGISTRY)
JOB_RETRIES = Counter("audiogpt_job_retries", "Job attempts retried after a worker or replica died.",
                      ["runner"], registry=REGISTRY)
QUEUE_WAIT = Histogram("audiogpt_job_queue_wait_seconds", "From job creation to the start of its run.",
                       ["runner"], buckets=_WAIT_BUCKETS, registry=REGISTRY)
RUN_TIME = Histogram("audiogpt_job_run_seconds", "Run time of a job by backend.", ["tool", "backend", "runner"],
                     buckets=_RUN_BUCKETS, registry=REGISTRY)
MODEL_LOAD = Histogram("audiogpt_model_load_seconds", "Time to load a model into a process or replica.",
                       ["backend", "where"], buckets=_RUN_BUCKETS, registry=REGISTRY)
BATCH_SIZE = Histogram("audiogpt_batch_size", "Requests a replica ran together in one batch.", ["deployment"],
                       buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64), registry=REGISTRY)
PLATFORM_LATENCY = Histogram("audiogpt_platform_latency_seconds", "Time a platform took to accept a reply.",
                             ["platform"], buckets=_WAIT_BUCKETS, registry=REGISTRY)
REPLIES = Counter("audiogpt_replies", "Replies by outcome: sent, skipped (already sent or held elsewhere), failed.",
                  ["platform", "outcome"], registry=REGISTRY)
TURNS_TAKEN_OVER = Counter("audiogpt_turns_taken_over", "Turns this process resumed after their process died.",
                           registry=REGISTRY)

log_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("audiogpt_log_context",
                                                                                     default=None)


@contextlib.contextmanager
def logging_context(**ids: Any) -> Iterator[None]:
    """Add ids (``job``, ``conversation``, ``turn``...) to every log line in this block."""
    current = dict(log_context.get() or {})
    current.update({k: v for k, v in ids.items() if v is not None})
    token = log_context.set(current)
    try:
        yield
    finally:
        log_context.reset(token)


def platform_of(conversation_key: str) -> str:
    """Conversation keys start with their platform (``discord:…``, ``slack:…``)."""
    return conversation_key.split(":", 1)[0] if ":" in conversation_key else "unknown"


_seen_loads: set[tuple[str, float]] = set()


def observe_cache_loads(cache: Any, where: str = "local") -> None:
    """Report model loads of an in-process :class:`ModelCache` not reported yet (read at scrape time)."""
    entries = getattr(cache, "_entries", None)
    if not entries:
        return
    for key, entry in list(entries.items()):
        loaded_in = float(getattr(entry, "loaded_in", 0.0) or 0.0)
        mark = (key, loaded_in)
        if mark in _seen_loads:
            continue
        _seen_loads.add(mark)
        MODEL_LOAD.labels(backend=str(key).split(":", 1)[-1], where=where).observe(loaded_in)
