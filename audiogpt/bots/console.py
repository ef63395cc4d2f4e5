"""The console adapter: chat with the bot in a terminal, no token needed.

Lines are user messages; ``/attach PATH`` queues a file for the next message
(or sends it at once when followed by text on the same line), ``/new`` starts a
new conversation, ``/quit`` leaves. Generated files are stored under the data
folder and their paths printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shlex
import sys
import uuid
from pathlib import Path
from typing import Any

from audiogpt.config import Settings

HELP = """Commands:
  /attach PATH [message]  attach a file (audio, image); with a message, send at once
  /files                  list files in this conversation
  /new                    start a new conversation
  /help                   this help
  /quit                   leave
Anything else is a message to the bot."""


class Spinner:
    """A one-line progress indicator on stderr while jobs run."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self) -> None:
        self.label = "thinking"
        self._task: asyncio.Task[None] | None = None
        self.tty = sys.stderr.isatty()

    async def _spin(self) -> None:
        for frame in itertools.cycle(self.FRAMES):
            sys.stderr.write(f"\r{frame} {self.label}   ")
            sys.stderr.flush()
            await asyncio.sleep(0.1)

    def start(self) -> None:
        if self.tty and self._task is None:
            self._task = asyncio.create_task(self._spin())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()

    async def progress(self, ev: Any) -> None:
        from audiogpt.core.gate import progress_label

        self.label = progress_label(ev)  # the catalogue's wording, as on every platform
        if ev.kind == "started" and not self.tty:
            print(f"… {self.label}", file=sys.stderr)


async def run_console(settings: Settings, conversation: str | None = None) -> None:
    from audiogpt.bots.cli import file_attachment, print_outgoing
    from audiogpt.core.app import App
    from audiogpt.core.engine.llm import engine_name
    from audiogpt.core.events import Incoming
    from audiogpt.storage.db import DatabaseUnavailable

    try:
        app = await App.open(settings)
    except DatabaseUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return
    key = conversation or f"console:{uuid.uuid4().hex[:8]}"
    print(f"AudioGPT console ({engine_name(settings)} engine). Conversation {key}. Type /help for commands.")
    for out in await app.recover():
        print(f"(a reply from before the restart, for {out.conversation})")
        print_outgoing(out, False)
    pending: list[Any] = []
    spinner = Spinner()
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except (EOFError, KeyboardInterrupt):
                print()
                break
            line = line.strip()
            if not line:
                continue
            text = line
            if line.startswith("/"):
                cmd, _, rest = line.partition(" ")
                if cmd in ("/quit", "/exit"):
                    break
                if cmd == "/help":
                    print(HELP)
                    continue
                if cmd == "/new":
                    key = f"console:{uuid.uuid4().hex[:8]}"
                    pending.clear()
                    print(f"New conversation {key}.")
                    continue
                if cmd == "/files":
                    conv = await app.repo.find_conversation(key)
                    rows = await app.repo.list_artifacts(conv.id) if conv else []
                    for r in rows:
                        print(f"  {r.short_id}: {r.kind} {r.name} ({r.source}) {app.artifacts.store.path(r.blob)}")
                    if not rows:
                        print("  no files yet")
                    continue
                if cmd == "/attach":
                    try:
                        parts = shlex.split(rest)
                    except ValueError:
                        parts = rest.split()
                    if not parts:
                        print("Usage: /attach PATH [message]")
                        continue
                    path = Path(parts[0]).expanduser()
                    if not path.is_file():
                        print(f"There is no file at {path}.")
                        continue
                    pending.append(file_attachment(path))
                    text = " ".join(parts[1:])
                    if not text:
                        print(f"Attached {path.name}; it goes with your next message.")
                        continue
                else:
                    print(f"Unknown command {cmd}; type /help.")
                    continue
            incoming = Incoming(platform="console", conversation=key, author="console", text=text,
                                attachments=tuple(pending))
            pending = []
            spinner.start()

            async def show(out: Any) -> None:
                await spinner.stop()
                print("bot> ", end="")
                print_outgoing(out, False)

            try:  # the same gate as Discord and Slack: the reply is marked delivered once shown
                result = await app.gate.run(incoming, show, progress=spinner.progress)
            finally:
                await spinner.stop()
            if result.status == "failed":  # e.g. the database went away mid-turn (logged): say so, keep going
                print("bot> Something went wrong on my side (see data/audiogpt.log); your message is kept, please try again.")
    finally:
        await app.close()
