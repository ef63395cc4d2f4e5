"""A turn's progress in its Slack thread.

Where Slack allows it (assistant threads, scope ``assistant:write``) the thread status
shows it (``assistant.threads.setStatus``); elsewhere one "Working…" message is posted and
edited with ``chat.update`` at most once a second, and the answer later replaces it. Nothing
shows for a turn that answers within ``delay`` seconds, so quick answers (and redelivered
duplicates, which answer at once) do not flicker a placeholder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from audiogpt.core.events import Progress
from audiogpt.core.gate import progress_label
from audiogpt.logsafe import safe_error

log = logging.getLogger(__name__)

WORKING = "Working…"


def label_of(ev: Progress) -> str:
    """One short line for a job event: the line every platform shows, under Slack's "Working…"."""
    return f"{WORKING} {progress_label(ev)}"[:150]


class ProgressView:
    """Call it with :class:`Progress` events; :meth:`finish` returns the placeholder's ts to replace."""

    def __init__(self, client: AsyncWebClient, channel: str, thread_ts: str | None, *, use_status: bool,
                 delay: float = 0.8, interval: float = 1.0,
                 on_status_unavailable: Callable[[], None] | None = None,
                 placeholder_ts: str | None = None, prefix: str = "") -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.use_status = use_status and thread_ts is not None
        self.delay = delay
        self.interval = interval
        self.on_status_unavailable = on_status_unavailable
        self.label = WORKING
        self.working_ts: str | None = placeholder_ts  # the placeholder message, when one was posted
        self.prefix = prefix  # kept above the label when editing a placeholder the caller posted
        self.status_set = False
        self.edits = 0
        self._shown = False
        self._closed = False
        self._last = 0.0
        self._dirty = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self.working_ts is not None:  # already showing: only edits from here on
            self.use_status = False
            self._shown = True
            self._tasks.append(asyncio.create_task(self._pump(), name="slack-progress-pump"))
            return
        self._tasks.append(asyncio.create_task(self._show_later(), name="slack-progress-show"))

    async def __call__(self, ev: Progress) -> None:
        self.label = label_of(ev)
        self._dirty.set()

    async def _show_later(self) -> None:
        await asyncio.sleep(self.delay)
        async with self._lock:
            if self._closed:
                return
            await self._render()
            self._shown = True
        self._tasks.append(asyncio.create_task(self._pump(), name="slack-progress-pump"))

    async def _pump(self) -> None:
        """Apply the latest label, at most once per ``interval``."""
        while not self._closed:
            await self._dirty.wait()
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self._lock:
                if self._closed:
                    return
                self._dirty.clear()
                await self._render()

    async def _render(self) -> None:
        self._last = time.monotonic()
        try:
            if self.use_status:
                try:
                    await self.client.assistant_threads_setStatus(channel_id=self.channel, thread_ts=self.thread_ts,
                                                                  status=self.label)
                    self.status_set = True
                    return
                except SlackApiError as exc:
                    log.info("assistant status unavailable here (%s); using a message", exc.response.get("error"))
                    self.use_status = False
                    if self.on_status_unavailable:
                        self.on_status_unavailable()
            text = f"{self.prefix}\n{self.label}" if self.prefix else self.label
            if self.working_ts is None:
                resp = await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text)
                self.working_ts = str(resp["ts"])
            else:
                await self.client.chat_update(channel=self.channel, ts=self.working_ts, text=text)
                self.edits += 1
        except Exception as exc:  # progress is cosmetic: never fail the turn over it
            log.warning("could not show progress in %s: %s", self.channel, safe_error(exc))

    async def finish(self) -> str | None:
        """Stop updating; clear the status. Returns the placeholder's ts (the answer replaces it)."""
        self._closed = True
        async with self._lock:
            for t in self._tasks:
                t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self.status_set:
            self.status_set = False  # cleared once, however often finish is called
            with contextlib.suppress(Exception):
                await self.client.assistant_threads_setStatus(channel_id=self.channel, thread_ts=self.thread_ts,
                                                              status="")
        return self.working_ts
