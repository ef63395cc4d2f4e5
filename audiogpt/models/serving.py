"""Running several requests of one backend together (the model side of dynamic batching).

A serving replica (``core/runner_ray.py``) gathers concurrent requests with
``@serve.batch`` and hands them here. Batching is a capability of the backend:
one that defines ``run_batch(model, inputs: list[dict]) -> list[BackendResult | Exception]``
is batched, whatever its name; everything else runs one by one, so batching never
changes which backends work, only how fast. A batch that fails as a whole falls back
to one request at a time, so one bad clip costs its own slot, never the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from audiogpt.models.base import Backend, BackendResult, supports_batch

log = logging.getLogger(__name__)


def can_batch(backend: Backend) -> bool:
    """True when ``backend`` has a ``run_batch`` (kept as the serving layer's name for the check)."""
    return supports_batch(backend)


def run_batch(backend: Backend, model: Any, inputs: Sequence[dict[str, Any]]) -> list[BackendResult | Exception]:
    """Run every request; a request's own failure is returned in its slot, never raised for the batch."""
    if not supports_batch(backend) or len(inputs) == 1:
        return [_one(backend, model, kw) for kw in inputs]
    try:
        out = list(backend.run_batch(model, list(inputs)))  # type: ignore[attr-defined]
        if len(out) != len(inputs):
            raise RuntimeError(f"run_batch returned {len(out)} results for {len(inputs)} requests")
        return out
    except Exception as exc:  # the batch path failed as a whole: fall back to one by one
        log.warning("batched %s failed (%s); running the %d requests one by one", backend.name,
                    type(exc).__name__, len(inputs))
        return [_one(backend, model, kw) for kw in inputs]


def _one(backend: Backend, model: Any, kw: dict[str, Any]) -> BackendResult | Exception:
    try:
        return backend.run(model, **kw)
    except Exception as exc:
        return exc
