"""The discord.py client: intents, where REST and the gateway are, and event routing.

A plain ``discord.Client`` always dials Discord's hard-coded gateway; only the
auto-sharded client asks ``GET /gateway/bot``. So when ``DISCORD_API_BASE_URL``
points somewhere else (a proxy, a fake Discord), :meth:`AudioGPTClient.setup_hook`
asks that base's ``/gateway/bot`` for the gateway, and ``DISCORD_GATEWAY_URL``
overrides both. discord.py keeps these as class attributes (``Route.BASE``,
``DiscordWebSocket.DEFAULT_GATEWAY``), so they are process-wide: one Discord
identity per process, which is also how the launcher runs it.
"""

from __future__ import annotations

import logging
import zlib
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord import utils as discord_utils
from discord.gateway import DiscordWebSocket
from discord.http import Route

from audiogpt.config import Settings

if TYPE_CHECKING:
    from audiogpt.bots.discord.adapter import DiscordAdapter

log = logging.getLogger(__name__)

DISCORD_API = "https://discord.com/api/v10"
DISCORD_GATEWAY = yarl.URL("wss://gateway.discord.gg/")


class ZlibStream:
    """Discord's ``zlib-stream`` transport compression (one inflater for the whole connection).

    discord.py asks for ``zstd-stream`` whenever the ``zstandard`` module is
    importable (langsmith installs it here); every Discord-compatible gateway
    speaks zlib-stream, the documented default, so the bot asks for that.
    """

    COMPRESSION_TYPE = "zlib-stream"

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.context = zlib.decompressobj()

    def decompress(self, data: bytes, /) -> str | None:
        self.buffer.extend(data)
        if len(data) < 4 or data[-4:] != b"\x00\x00\xff\xff":
            return None  # a partial message: wait for the Z_SYNC_FLUSH suffix
        msg = self.context.decompress(self.buffer)
        self.buffer = bytearray()
        return msg.decode("utf-8")


def configure_endpoints(settings: Settings) -> None:
    """Point discord.py's REST routes at the configured base (before any request)."""
    Route.BASE = settings.discord_api_base_url.rstrip("/")
    DiscordWebSocket.DEFAULT_GATEWAY = DISCORD_GATEWAY
    discord_utils._ActiveDecompressionContext = ZlibStream  # type: ignore[assignment,misc]


async def resolve_gateway(http: discord.http.HTTPClient, settings: Settings) -> yarl.URL:
    """The gateway to dial: the override, the REST base's ``/gateway/bot``, or Discord's own."""
    if settings.discord_gateway_url:
        return yarl.URL(settings.discord_gateway_url)
    if settings.discord_api_base_url.rstrip("/") != DISCORD_API:
        try:
            _shards, url, _limits = await http.get_bot_gateway()
        except discord.GatewayNotFound:
            raise RuntimeError(f"{Route.BASE}/gateway/bot did not give a gateway URL; "
                               "set DISCORD_GATEWAY_URL to the gateway's ws:// or wss:// address.") from None
        return yarl.URL(url)
    return DISCORD_GATEWAY


def intents() -> discord.Intents:
    """Guild and DM messages with their content (a privileged intent: enable it in the portal)."""
    i = discord.Intents.none()
    i.guilds = True
    i.guild_messages = True
    i.dm_messages = True
    i.message_content = True
    return i


class AudioGPTClient(discord.Client):
    def __init__(self, adapter: DiscordAdapter, **kw: Any) -> None:
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none(), **kw)
        self.adapter = adapter
        from audiogpt.bots.discord.commands import build_tree

        self.tree = build_tree(self, adapter)

    async def setup_hook(self) -> None:
        gateway = await resolve_gateway(self.http, self.adapter.settings)
        DiscordWebSocket.DEFAULT_GATEWAY = gateway
        log.info("Discord REST at %s, gateway at %s", Route.BASE, gateway)

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%s) in %d guild(s)", self.user, getattr(self.user, "id", "?"),
                 len(self.guilds))
        self.adapter.ready.set()

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("error in Discord event %s", event_method)
