"""Per-user and per-workspace message rate limits shared by the platform adapters.

A sliding one-minute window per key, in process memory: cheap enough to check on
every event before any database or model work. Each bot process keeps its own
windows, so N processes behind a load balancer allow up to N times the limit; a
deployment that needs one global count puts the limit at the load balancer.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW_SECONDS = 60.0


@dataclass
class RateLimiter:
    """``check(user, workspace)`` returns ``None`` (go ahead) or one polite sentence."""

    user_per_minute: int = 10
    workspace_per_minute: int = 60
    clock: Callable[[], float] = time.monotonic
    _hits: dict[str, deque[float]] = field(default_factory=dict, repr=False)

    def _allow(self, key: str, limit: int, now: float) -> float:
        """0 when allowed (and counted), else seconds until a slot frees up."""
        if limit <= 0:
            return 0.0
        q = self._hits.setdefault(key, deque())
        while q and now - q[0] >= WINDOW_SECONDS:
            q.popleft()
        if len(q) >= limit:
            return WINDOW_SECONDS - (now - q[0])
        q.append(now)
        return 0.0

    def check(self, user: str, workspace: str | None = None, *, user_limit: int | None = None,
              workspace_limit: int | None = None) -> str | None:
        """Count one message; a per-workspace setting may pass tighter limits than the defaults."""
        now = self.clock()
        if workspace:
            wait = self._peek(f"w:{workspace}", workspace_limit if workspace_limit is not None else self.workspace_per_minute, now)
            if wait:
                return (f"This server/workspace has sent me a lot of requests in the last minute; "
                        f"please try again in {max(1, round(wait))} s.")
        wait = self._allow(f"u:{user}", user_limit if user_limit is not None else self.user_per_minute, now)
        if wait:
            return f"You're sending me messages faster than I can answer; please wait {max(1, round(wait))} s and try again."
        if workspace:
            self._allow(f"w:{workspace}", workspace_limit if workspace_limit is not None else self.workspace_per_minute, now)
        if len(self._hits) > 50_000:  # forget idle keys so a long-running bot's memory stays flat
            self._hits = {k: q for k, q in self._hits.items() if q and now - q[-1] < WINDOW_SECONDS}
        return None

    def take(self, user: str, workspace: str | None, n: int, *, user_limit: int | None = None,
             workspace_limit: int | None = None) -> int:
        """Count up to ``n`` more requests of a message (its extra tool calls); how many fit the windows.

        A message that fans out into many model jobs costs more than one that is answered
        in text, so the dialogue charges tool calls here as well: the first ``k`` that fit
        in both the user's and the workspace's window are counted and may run, the rest not.
        """
        now = self.clock()
        ulimit = user_limit if user_limit is not None else self.user_per_minute
        wlimit = workspace_limit if workspace_limit is not None else self.workspace_per_minute
        allowed = 0
        for _ in range(max(0, n)):
            if workspace and self._peek(f"w:{workspace}", wlimit, now):
                break
            if self._allow(f"u:{user}", ulimit, now):
                break
            if workspace:
                self._allow(f"w:{workspace}", wlimit, now)
            allowed += 1
        return allowed

    def _peek(self, key: str, limit: int, now: float) -> float:
        if limit <= 0:
            return 0.0
        q = self._hits.get(key)
        if not q:
            return 0.0
        while q and now - q[0] >= WINDOW_SECONDS:
            q.popleft()
        return WINDOW_SECONDS - (now - q[0]) if len(q) >= limit else 0.0
