"""Starting the configured chat platforms in one process around one :class:`App`.

Each platform package (``audiogpt.bots.discord``, ``audiogpt.bots.slack``)
exposes ``make_adapter(app) -> PlatformAdapter``. The launcher opens the App
once, starts every configured adapter, and once they are connected delivers the
replies a previous process left undelivered, each through the adapter of its
conversation's platform (conversation keys start with the platform name).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import sys
from typing import Protocol

from audiogpt.config import Settings
from audiogpt.core.events import Outgoing

log = logging.getLogger(__name__)


class PlatformAdapter(Protocol):
    """What the launcher needs from a platform adapter."""

    name: str  # "discord" | "slack": the prefix of its conversation keys
    ready: asyncio.Event  # set once connected and able to post

    async def start(self) -> None:
        """Connect and serve until :meth:`stop` (or a fatal error, which it raises)."""
        ...

    async def send(self, out: Outgoing) -> str | None:
        """Post a reply a previous process produced but did not deliver; the platform's message id."""
        ...

    async def stop(self) -> None: ...


def configured_platforms(settings: Settings) -> list[str]:
    """Platforms whose credentials are set; empty means the console."""
    platforms = []
    if settings.discord_token:
        platforms.append("discord")
    if settings.slack_bot_token or getattr(settings, "slack_client_id", None):
        platforms.append("slack")
    return platforms


def _load(platform: str):  # type: ignore[no-untyped-def]
    try:
        module = importlib.import_module(f"audiogpt.bots.{platform}")
    except ImportError as exc:
        extra = platform
        print(f"{platform.title()} is configured but its package is not installed ({exc.name}); "
              f"install it with: pip install -e '.[{extra}]' (make run does).", file=sys.stderr)
        raise SystemExit(2) from None
    return module.make_adapter


async def run_platforms(settings: Settings, platforms: list[str]) -> None:
    from audiogpt.core.app import App
    from audiogpt.storage.db import DatabaseUnavailable

    makers = {p: _load(p) for p in platforms}
    try:
        app = await App.open(settings)
    except DatabaseUnavailable as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(1) from None
    from audiogpt.bots.ops import start_ops_server_if_configured

    ops = await start_ops_server_if_configured(app)  # /healthz /readyz /metrics on AUDIOGPT_METRICS_PORT
    adapters: dict[str, PlatformAdapter] = {p: make(app) for p, make in makers.items()}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async def dispatch(out: Outgoing) -> str | None:
        adapter = adapters.get(out.conversation.split(":", 1)[0])
        if adapter is None:
            raise RuntimeError(f"no adapter for conversation {out.conversation}")
        return await adapter.send(out)

    tasks = {asyncio.create_task(a.start(), name=f"platform-{p}"): p for p, a in adapters.items()}
    try:
        ready_all = asyncio.ensure_future(asyncio.gather(*(a.ready.wait() for a in adapters.values())))
        await asyncio.wait([ready_all, *tasks], return_when=asyncio.FIRST_COMPLETED, timeout=120)
        if ready_all.done():
            recovered = await app.recover(dispatch)
            if recovered:
                log.info("delivered %d reply(ies) left by a previous process", len(recovered))
        else:
            ready_all.cancel()
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t in tasks and t.exception() is not None:
                log.error("%s adapter stopped: %s", tasks[t], t.exception())
    finally:
        for a in adapters.values():
            with contextlib.suppress(Exception):
                await a.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if ops is not None:
            await ops.cleanup()
        await app.close()
