"""Progress in Discord: typing while a turn runs, one status message for long ones.

A quick answer shows only the typing indicator. When a turn is still running
after ``status_after`` seconds (2 s by default) one status message appears
("transcribing… 40%", in the words of the tool's catalogue entry), edited at most
once a second as jobs report progress; the answer replaces it (it is deleted once the answer is posted), and a turn
that fails outright turns it into one sentence saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import discord

from audiogpt.core.events import Progress
from audiogpt.core.gate import progress_label

log = logging.getLogger(__name__)

TYPING_EVERY_S = 8.0  # Discord shows typing for ~10 s per trigger
EDIT_EVERY_S = 1.0


class StatusReporter:
    """Typing + a throttled status message for one turn in one channel."""

    def __init__(self, channel: Any, *, status_after: float = 2.0, min_interval: float = EDIT_EVERY_S,
                 typing: bool = True) -> None:
        self.channel = channel
        self.status_after = status_after
        self.min_interval = min_interval
        self.typing = typing
        self.label = "thinking…"
        self.message: discord.Message | None = None
        self.edits = 0
        self._shown = ""
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._posting: asyncio.Future[Any] | None = None

    async def __aenter__(self) -> StatusReporter:
        if self.typing:
            self._tasks.append(asyncio.create_task(self._type(), name="discord-typing"))
        self._tasks.append(asyncio.create_task(self._status(), name="discord-status"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop_tasks()

    async def progress(self, ev: Progress) -> None:
        """The dialogue's progress callback."""
        self.label = progress_label(ev)
        self._changed.set()

    async def _type(self) -> None:
        while True:
            try:
                await self.channel.typing()
            except discord.HTTPException as exc:
                log.debug("typing failed: %s", exc)
                return
            await asyncio.sleep(TYPING_EVERY_S)

    async def _status(self) -> None:
        await asyncio.sleep(self.status_after)
        try:
            # shielded: a turn that ends while this post is in flight still learns its id, to delete it
            self._posting = asyncio.ensure_future(
                self.channel.send(self.label, allowed_mentions=discord.AllowedMentions.none()))
            self.message = await asyncio.shield(self._posting)
            self._shown = self.label
            last = time.monotonic()
            while True:
                await self._changed.wait()
                self._changed.clear()
                wait = self.min_interval - (time.monotonic() - last)
                if wait > 0:
                    await asyncio.sleep(wait)
                if self.label != self._shown:
                    self._shown = self.label
                    await self.message.edit(content=self.label)
                    self.edits += 1
                    last = time.monotonic()
        except discord.HTTPException as exc:
            log.info("status message failed: %s", exc)

    async def _stop_tasks(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self._posting is not None and self.message is None:
            with contextlib.suppress(Exception):
                self.message = await self._posting

    async def answered(self) -> None:
        """The answer is posted: the status message goes."""
        await self._stop_tasks()
        if self.message is not None:
            with contextlib.suppress(discord.HTTPException):
                await self.message.delete()
            self.message = None

    async def failed(self, sentence: str) -> None:
        """The turn failed outright: the status message (or a new one) says why, in one sentence."""
        await self._stop_tasks()
        with contextlib.suppress(discord.HTTPException):
            if self.message is not None:
                await self.message.edit(content=sentence)
            else:
                await self.channel.send(sentence, allowed_mentions=discord.AllowedMentions.none())
