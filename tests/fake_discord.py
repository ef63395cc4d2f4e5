"""A fake Discord on loopback: the REST routes the bot uses and a gateway websocket.

The real ``discord.py`` client talks to it exactly as it talks to Discord:
``GET /users/@me`` and ``GET /gateway/bot`` over REST, then the gateway
(HELLO -> IDENTIFY -> READY -> GUILD_CREATE, heartbeats, RESUME), with the
transport compression the client asks for in its query string (``zlib-stream``,
``zstd-stream`` or none) and JSON encoding. Payloads follow Discord's
documented shapes (API v10). Every REST request is recorded so tests assert on
what the bot sent; :meth:`FakeDiscord.message_create` and
:meth:`FakeDiscord.interaction_create` push events to the connected bot.

It is the network edge in tests and benchmarks; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

API = "/api/v10"
BOT_ID = "900000000000000001"
GUILD_ID = "910000000000000001"
CHANNEL_ID = "920000000000000001"  # a text channel where the bot may talk
MUTED_CHANNEL_ID = "920000000000000002"  # a text channel where the bot may not send messages
USER_ID = "930000000000000001"
OWNER_ID = "930000000000000099"
NONCE_WINDOW_S = 300.0  # Discord checks an enforced nonce "in the past few minutes"

# View Channel, Send Messages, Send Messages in Threads, Create Public Threads, Attach Files,
# Read Message History, Send Voice Messages, Use Application Commands.
EVERYONE_PERMISSIONS = str((1 << 10) | (1 << 11) | (1 << 38) | (1 << 35) | (1 << 15) | (1 << 16) | (1 << 46) | (1 << 31))
SEND_MESSAGES = 1 << 11
MANAGE_GUILD = 1 << 5

_snowflakes = itertools.count(int(time.time() * 1000 - 1420070400000) << 22)


def snowflake() -> str:
    """A fresh id, increasing like Discord's (timestamp in the high bits)."""
    return str(next(_snowflakes) + (1 << 10))


def user(uid: str = USER_ID, name: str = "alice", *, bot: bool = False) -> dict[str, Any]:
    return {"id": uid, "username": name, "discriminator": "0", "global_name": name.title(), "avatar": None,
            "bot": bot, "public_flags": 0}


def member(u: dict[str, Any], *, roles: list[str] | None = None, permissions: str | None = None) -> dict[str, Any]:
    m: dict[str, Any] = {"user": u, "roles": roles or [], "joined_at": "2024-01-01T00:00:00+00:00", "deaf": False,
                         "mute": False, "flags": 0, "nick": None, "avatar": None, "pending": False}
    if permissions is not None:
        m["permissions"] = permissions
    return m


def text_channel(cid: str, name: str, *, overwrites: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": cid, "type": 0, "guild_id": GUILD_ID, "name": name, "position": 0,
            "permission_overwrites": overwrites or [], "parent_id": None, "nsfw": False, "topic": None,
            "last_message_id": None, "rate_limit_per_user": 0}


@dataclass
class Recorded:
    """One REST request the bot made."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any = None  # the JSON body, or payload_json of a multipart body
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field name, filename, bytes)
    at: float = 0.0  # time.monotonic() when it arrived
    status: int = 200  # what the fake answered

    @property
    def content(self) -> str | None:
        return (self.json or {}).get("content") if isinstance(self.json, dict) else None


REC: Any = web.RequestKey("rec", Recorded) if hasattr(web, "RequestKey") else "rec"  # type: ignore[var-annotated]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with Discord's exact content type (discord.py compares it verbatim)."""
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


class FakeDiscord:
    """Start with ``await fake.start()``; ``fake.api_base`` is what ``DISCORD_API_BASE_URL`` takes."""

    def __init__(self, *, guild_premium_tier: int = 0) -> None:
        self.bot_user = user(BOT_ID, "audiogpt", bot=True)
        self.requests: list[Recorded] = []
        self.messages: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}  # attachment id -> bytes served under /attachments/
        self.slow_files: set[str] = set()  # attachment ids whose download never finishes
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope ("global" | guild id) -> commands
        self.identify: dict[str, Any] | None = None
        self.resumes = 0
        self.refuse_intents = False  # close with 4014 on IDENTIFY, as Discord does without the portal switch
        self.compressions: list[str | None] = []
        self.gateway_paths: list[str] = []
        self.rate_limits: list[tuple[str, str, float]] = []  # (method, path regex, retry_after) to answer once
        self.failures: list[tuple[str, str, int, int]] = []  # (method, path regex, status, code) to answer once
        # [check, status, code, times left (None = always)]: requests ``check`` picks are refused (fail_if)
        self.refusals: list[list[Any]] = []
        # [check, times left]: requests ``check`` picks are handled, then the connection drops (lose_response_if)
        self.lost: list[list[Any]] = []
        # (channel, nonce) -> (when, message id): a create with ``enforce_nonce`` and a nonce seen within
        # NONCE_WINDOW_S returns that message instead of creating another, as Discord does
        self.nonces: dict[tuple[str, str], tuple[float, str]] = {}
        self.premium_tier = guild_premium_tier
        self.channels = {
            CHANNEL_ID: text_channel(CHANNEL_ID, "general"),
            MUTED_CHANNEL_ID: text_channel(MUTED_CHANNEL_ID, "announcements", overwrites=[
                {"id": GUILD_ID, "type": 0, "allow": "0", "deny": str(SEND_MESSAGES)}]),
        }
        self.listeners: list[Callable[[Recorded], None]] = []  # called with every answered REST request
        self._sockets: list[_Session] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=200 * 1024 * 1024, middlewares=[self._record])
        r = app.router
        r.add_get(API + "/users/@me", self._me)
        r.add_get(API + "/gateway/bot", self._gateway_bot)
        r.add_get(API + "/gateway", self._gateway)
        r.add_get(API + "/oauth2/applications/@me", self._application)
        r.add_get(API + "/applications/@me", self._application)
        r.add_post(API + "/channels/{cid}/messages", self._post_message)
        r.add_get(API + "/channels/{cid}/messages/{mid}", self._get_message)
        r.add_patch(API + "/channels/{cid}/messages/{mid}", self._edit_message)
        r.add_delete(API + "/channels/{cid}/messages/{mid}", self._delete_message)
        r.add_post(API + "/channels/{cid}/typing", self._typing)
        r.add_post(API + "/channels/{cid}/messages/{mid}/threads", self._start_thread)
        r.add_get(API + "/channels/{cid}", self._get_channel)
        r.add_post(API + "/users/@me/channels", self._open_dm)
        r.add_post(API + "/interactions/{iid}/{token}/callback", self._interaction_callback)
        r.add_post(API + "/webhooks/{app}/{token}", self._followup)
        r.add_patch(API + "/webhooks/{app}/{token}/messages/{mid}", self._edit_followup)
        r.add_get(API + "/webhooks/{app}/{token}/messages/{mid}", self._get_followup)
        r.add_delete(API + "/webhooks/{app}/{token}/messages/{mid}", self._typing)  # 204, nothing to keep
        r.add_put(API + "/applications/{app}/commands", self._put_commands)
        r.add_put(API + "/applications/{app}/guilds/{gid}/commands", self._put_commands)
        r.add_get(API + "/applications/{app}/commands", self._get_commands)
        r.add_get(API + "/applications/{app}/guilds/{gid}/commands", self._get_commands)
        r.add_get("/attachments/{aid}/{name}", self._attachment)
        r.add_get("/gateway", self._gateway_ws)
        r.add_get("/other-gateway", self._gateway_ws)  # for DISCORD_GATEWAY_URL overrides
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        self._closing.set()
        for s in list(self._sockets):
            with contextlib.suppress(Exception):
                await s.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base + API

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # --- what tests call --------------------------------------------------------------

    def rate_limit_once(self, method: str, path_regex: str, retry_after: float) -> None:
        """Answer the next matching request with a 429 carrying ``retry_after`` (seconds)."""
        self.rate_limits.append((method, path_regex, retry_after))

    def fail_once(self, method: str, path_regex: str, status: int = 400, code: int = 50035) -> None:
        """Answer the next matching request with a Discord error (no retry is expected)."""
        self.failures.append((method, path_regex, status, code))

    def fail_if(self, check: Callable[[Recorded], bool], *, status: int = 400, code: int = 50035,
                times: int | None = 1) -> None:
        """Refuse the requests ``check`` picks (by body, not just path), ``times`` times (None = always)."""
        self.refusals.append([check, status, code, times])

    def lose_response_if(self, check: Callable[[Recorded], bool], *, times: int = 1) -> None:
        """Handle the requests ``check`` picks (the message is created), then drop the connection, so
        the client never learns it succeeded."""
        self.lost.append([check, times])

    def created(self, channel: str) -> list[dict[str, Any]]:
        """The messages the bot really created in ``channel`` (a create deduplicated by nonce is not one)."""
        return [m for m in self.messages.values() if m["channel_id"] == channel and m["author"]["id"] == BOT_ID]

    def add_file(self, data: bytes | None, name: str, content_type: str, *, size: int | None = None,
                 slow: bool = False, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """An attachment object; ``data=None`` makes its URL answer 404."""
        aid = snowflake()
        if data is not None:
            self.files[aid] = data
        if slow:
            self.slow_files.add(aid)
        url = f"{self.base}/attachments/{aid}/{name}"
        att = {"id": aid, "filename": name, "size": len(data) if size is None and data is not None else (size or 0),
               "url": url, "proxy_url": url, "content_type": content_type}
        att.update(extra or {})
        return att

    def message_payload(self, content: str, *, channel_id: str = CHANNEL_ID, guild: bool = True,
                        author: dict[str, Any] | None = None, mentions: list[dict[str, Any]] | None = None,
                        attachments: list[dict[str, Any]] | None = None, flags: int = 0,
                        reference: dict[str, Any] | None = None, message_id: str | None = None,
                        mention_everyone: bool = False) -> dict[str, Any]:
        a = author or user()
        msg: dict[str, Any] = {
            "id": message_id or snowflake(), "channel_id": channel_id, "author": a, "content": content,
            "timestamp": "2024-01-01T00:00:00.000000+00:00", "edited_timestamp": None, "tts": False,
            "mention_everyone": mention_everyone, "mentions": mentions or [], "mention_roles": [],
            "attachments": attachments or [], "embeds": [], "pinned": False, "type": 0, "flags": flags,
            "components": [],
        }
        if guild:
            msg["guild_id"] = GUILD_ID
            msg["member"] = {k: v for k, v in member(a).items() if k != "user"}
        if reference is not None:
            msg["type"] = 19
            msg["message_reference"] = {"message_id": reference["id"], "channel_id": reference["channel_id"],
                                        "guild_id": reference.get("guild_id"), "type": 0}
            msg["referenced_message"] = reference
        return msg

    async def message_create(self, content: str = "", **kw: Any) -> dict[str, Any]:
        """A user's message arrives over the gateway (MESSAGE_CREATE); returns its payload."""
        payload = kw.pop("payload", None) or self.message_payload(content, **kw)
        self.messages[payload["id"]] = payload
        await self.dispatch("MESSAGE_CREATE", payload)
        return payload

    def interaction_payload(self, name: str, options: list[dict[str, Any]] | None = None, *,
                            resolved: dict[str, Any] | None = None, channel_id: str = CHANNEL_ID,
                            permissions: int | None = None, author: dict[str, Any] | None = None,
                            subcommand: bool = False) -> dict[str, Any]:
        a = author or user()
        perms = str(permissions if permissions is not None else int(EVERYONE_PERMISSIONS))
        data: dict[str, Any] = {"id": snowflake(), "name": name, "type": 1, "options": options or [],
                                "guild_id": None}
        data.pop("guild_id")
        if resolved:
            data["resolved"] = resolved
        return {
            "id": snowflake(), "application_id": BOT_ID, "type": 2, "data": data, "guild_id": GUILD_ID,
            "channel_id": channel_id, "channel": {**self.channels.get(channel_id, text_channel(channel_id, "x")),
                                                  "permissions": EVERYONE_PERMISSIONS},
            "member": member(a, permissions=perms), "token": f"tok-{snowflake()}", "version": 1,
            "app_permissions": EVERYONE_PERMISSIONS, "locale": "en-US", "guild_locale": "en-US",
            "entitlements": [], "authorizing_integration_owners": {"0": GUILD_ID}, "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }

    async def interaction_create(self, name: str, options: list[dict[str, Any]] | None = None,
                                 **kw: Any) -> dict[str, Any]:
        payload = self.interaction_payload(name, options, **kw)
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send one DISPATCH (op 0) to every identified session."""
        for s in list(self._sockets):
            if s.ready:
                await s.send_dispatch(event, data)

    async def drop_connections(self) -> None:
        """Close every gateway socket with a resumable code (the client reconnects and RESUMEs)."""
        for s in list(self._sockets):
            await s.ws.close(code=4000, message=b"unknown error")

    def sent(self, method: str = "POST", pattern: str = r"/channels/\d+/messages$") -> list[Recorded]:
        rx = re.compile(pattern)
        return [r for r in self.requests if r.method == method and rx.search(r.path) and r.status < 300]

    async def wait_for(self, check: Callable[[], Any], timeout: float = 15.0) -> Any:
        """Wait until ``check()`` is truthy (re-checked after every request and event)."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                value = check()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting; requests so far: {[(r.method, r.path) for r in self.requests]}")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    async def wait_ready(self, timeout: float = 15.0) -> None:
        await self.wait_for(lambda: any(s.ready for s in self._sockets), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # --- REST -------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API):
            return await handler(request)
        path = request.path[len(API):]
        rec = Recorded(request.method, path, dict(request.query), at=time.monotonic())
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                body = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":  # type: ignore[union-attr]
                    rec.json = json.loads(body)
                else:
                    rec.files.append((part.name or "", part.filename or "", bytes(body)))  # type: ignore[union-attr]
        elif request.can_read_body:
            raw = await request.read()
            rec.json = json.loads(raw) if raw else None
        request[REC] = rec
        self.requests.append(rec)
        for i, (m, rx, retry) in enumerate(self.rate_limits):
            if m == request.method and re.search(rx, path):
                del self.rate_limits[i]
                rec.status = 429
                await self._notify()
                return _json(
                    {"message": "You are being rate limited.", "retry_after": retry, "global": False},
                    status=429,
                    headers={"Retry-After": str(retry), "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                             "X-RateLimit-Reset-After": str(retry), "X-RateLimit-Bucket": "fakebucket",
                             "X-RateLimit-Scope": "user", "Via": "1.1 google"})
        for i, (m, rx, status, code) in enumerate(self.failures):
            if m == request.method and re.search(rx, path):
                del self.failures[i]
                rec.status = status
                await self._notify()
                return self._error(status, code, "Invalid Form Body")
        for refusal in list(self.refusals):
            check, status, code, times = refusal
            if check(rec):
                if times is not None:
                    refusal[3] = times - 1
                    if refusal[3] <= 0:
                        self.refusals.remove(refusal)
                rec.status = status
                await self._notify()
                return self._error(status, code, "Invalid Form Body")
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            rec.status = exc.status
            await self._notify()
            raise
        for lost in list(self.lost):
            if lost[0](rec):
                lost[1] -= 1
                if lost[1] <= 0:
                    self.lost.remove(lost)
                rec.status = 599  # done here, never answered: not counted by sent()
                if request.transport is not None:
                    request.transport.close()
                await self._notify()
                return resp
        rec.status = resp.status
        for listener in self.listeners:
            listener(rec)
        await self._notify()
        return resp

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return _json({"code": code, "message": message}, status=status)

    async def _me(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bot ") or auth == "Bot bad-token":
            return self._error(401, 0, "401: Unauthorized")
        return _json(self.bot_user)

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": {
            "total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}})

    async def _gateway(self, request: web.Request) -> web.Response:
        return _json({"url": self.gateway_url})

    async def _application(self, request: web.Request) -> web.Response:
        return _json({"id": BOT_ID, "name": "AudioGPT", "icon": None, "description": "",
                                  "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64,
                                  "flags": 0, "owner": user(OWNER_ID, "owner"), "team": None,
                                  "summary": ""})

    def _channel_of(self, cid: str) -> dict[str, Any] | None:
        return self.channels.get(cid) or self.threads.get(cid) or (
            {"id": cid, "type": 1, "recipients": [user()], "last_message_id": None} if cid.startswith("94") else None)

    def _new_message(self, cid: str, body: dict[str, Any], files: list[tuple[str, str, bytes]],
                     author: dict[str, Any] | None = None) -> dict[str, Any]:
        ch = self._channel_of(cid) or {}
        atts = []
        described = {int(a.get("id", i)): a for i, a in enumerate(body.get("attachments") or [])}
        for i, (_field, filename, data) in enumerate(files):
            meta = described.get(i, {})
            aid = snowflake()
            self.files[aid] = data
            url = f"{self.base}/attachments/{aid}/{filename}"
            att = {"id": aid, "filename": filename, "size": len(data), "url": url, "proxy_url": url,
                   "content_type": "application/octet-stream"}
            for k in ("duration_secs", "waveform", "description"):
                if k in meta:
                    att[k] = meta[k]
            atts.append(att)
        msg = {"id": snowflake(), "channel_id": cid, "author": author or self.bot_user,
               "content": body.get("content") or "", "timestamp": "2024-01-01T00:00:00.000000+00:00",
               "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
               "mention_roles": [], "attachments": atts, "embeds": [], "pinned": False,
               "type": 19 if body.get("message_reference") else 0, "flags": int(body.get("flags") or 0),
               "components": []}
        if ch.get("guild_id"):
            msg["guild_id"] = ch["guild_id"]
        if body.get("message_reference"):
            ref = body["message_reference"]
            msg["message_reference"] = {**ref, "channel_id": ref.get("channel_id", cid)}
        self.messages[msg["id"]] = msg
        return msg

    async def _post_message(self, request: web.Request) -> web.Response:
        cid = request.match_info["cid"]
        if self._channel_of(cid) is None:
            return self._error(404, 10003, "Unknown Channel")
        if cid == MUTED_CHANNEL_ID:
            return self._error(403, 50013, "Missing Permissions")
        rec: Recorded = request[REC]
        body = rec.json or {}
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            seen = self.nonces.get((cid, str(nonce)))
            if seen is not None and time.monotonic() - seen[0] < NONCE_WINDOW_S and seen[1] in self.messages:
                return _json(self.messages[seen[1]])  # the same message again; nothing new is created
        msg = self._new_message(cid, body, rec.files)
        if nonce is not None:
            msg["nonce"] = nonce
            if body.get("enforce_nonce"):
                self.nonces[(cid, str(nonce))] = (time.monotonic(), msg["id"])
        await self.dispatch("MESSAGE_CREATE", msg)  # Discord echoes the bot's own messages
        return _json(msg)

    async def _get_message(self, request: web.Request) -> web.Response:
        msg = self.messages.get(request.match_info["mid"])
        return _json(msg) if msg else self._error(404, 10008, "Unknown Message")

    async def _edit_message(self, request: web.Request) -> web.Response:
        msg = self.messages.get(request.match_info["mid"])
        if msg is None:
            return self._error(404, 10008, "Unknown Message")
        body = request[REC].json or {}
        if "content" in body:
            msg["content"] = body["content"] or ""
        msg["edited_timestamp"] = "2024-01-01T00:00:01.000000+00:00"
        return _json(msg)

    async def _delete_message(self, request: web.Request) -> web.Response:
        if self.messages.pop(request.match_info["mid"], None) is None:
            return self._error(404, 10008, "Unknown Message")
        return web.Response(status=204)

    async def _typing(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def _start_thread(self, request: web.Request) -> web.Response:
        cid, mid = request.match_info["cid"], request.match_info["mid"]
        if cid not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        if mid in self.threads:
            return self._error(400, 160004, "A thread has already been created for this message")
        body = request[REC].json or {}
        thread = {"id": mid, "type": 11, "guild_id": GUILD_ID, "parent_id": cid, "owner_id": BOT_ID,
                  "name": body.get("name", "thread"), "last_message_id": None, "rate_limit_per_user": 0,
                  "message_count": 0, "member_count": 1, "flags": 0,
                  "thread_metadata": {"archived": False, "auto_archive_duration": body.get("auto_archive_duration", 1440),
                                      "archive_timestamp": "2024-01-01T00:00:00+00:00", "locked": False},
                  "member": {"id": mid, "user_id": BOT_ID, "join_timestamp": "2024-01-01T00:00:00+00:00", "flags": 0}}
        self.threads[mid] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, status=201)

    async def _get_channel(self, request: web.Request) -> web.Response:
        ch = self._channel_of(request.match_info["cid"])
        return _json(ch) if ch else self._error(404, 10003, "Unknown Channel")

    async def _open_dm(self, request: web.Request) -> web.Response:
        return _json({"id": "940000000000000001", "type": 1, "recipients": [user()],
                                  "last_message_id": None})

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        body = request[REC].json or {}
        iid = request.match_info["iid"]
        return _json({
            "interaction": {"id": iid, "type": 2, "response_message_id": None,
                            "response_message_loading": body.get("type") == 5,
                            "response_message_ephemeral": bool((body.get("data") or {}).get("flags", 0) & 64)},
            "resource": {"type": body.get("type", 4)},
        })

    async def _followup(self, request: web.Request) -> web.Response:
        rec: Recorded = request[REC]
        msg = self._new_message(CHANNEL_ID, rec.json or {}, rec.files)
        msg["webhook_id"] = request.match_info["app"]
        return _json(msg)

    async def _edit_followup(self, request: web.Request) -> web.Response:
        body = request[REC].json or {}
        msg = self._new_message(CHANNEL_ID, body, request[REC].files)
        return _json(msg)

    async def _get_followup(self, request: web.Request) -> web.Response:
        return _json(self._new_message(CHANNEL_ID, {"content": ""}, []))

    async def _put_commands(self, request: web.Request) -> web.Response:
        scope = request.match_info.get("gid", "global")
        cmds = []
        for c in request[REC].json or []:
            cmds.append({**c, "id": snowflake(), "application_id": request.match_info["app"], "version": snowflake(),
                         "type": c.get("type", 1), "default_member_permissions": c.get("default_member_permissions"),
                         "dm_permission": c.get("dm_permission", True), "nsfw": c.get("nsfw", False),
                         **({"guild_id": scope} if scope != "global" else {})})
        self.commands[scope] = cmds
        return _json(cmds)

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands.get(request.match_info.get("gid", "global"), []))

    async def _attachment(self, request: web.Request) -> web.Response:
        aid = request.match_info["aid"]
        self.requests.append(Recorded("GET", f"/attachments/{aid}", {}, at=time.monotonic()))
        await self._notify()
        if aid in self.slow_files:
            await self._closing.wait()  # never answers while the fake runs
        data = self.files.get(aid)
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data, content_type="application/octet-stream")

    # --- gateway ----------------------------------------------------------------------

    async def _gateway_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, timeout=0.5)  # close handshake: discord.py answers late
        await ws.prepare(request)
        compress = request.query.get("compress")
        self.compressions.append(compress)
        self.gateway_paths.append(request.path)
        session = _Session(self, ws, compress)
        self._sockets.append(session)
        try:
            await session.run()
        finally:
            self._sockets.remove(session)
        return ws

    def guild_payload(self) -> dict[str, Any]:
        return {
            "id": GUILD_ID, "name": "Test Server", "icon": None, "splash": None, "discovery_splash": None,
            "owner_id": OWNER_ID, "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0, "mfa_level": 0,
            "roles": [{"id": GUILD_ID, "name": "@everyone", "color": 0, "hoist": False, "position": 0,
                       "permissions": EVERYONE_PERMISSIONS, "managed": False, "mentionable": False, "flags": 0}],
            "emojis": [], "stickers": [], "features": [], "application_id": None, "system_channel_id": None,
            "system_channel_flags": 0, "rules_channel_id": None, "max_members": 500000, "vanity_url_code": None,
            "description": None, "banner": None, "premium_tier": self.premium_tier, "premium_subscription_count": 0,
            "preferred_locale": "en-US", "public_updates_channel_id": None, "nsfw_level": 0,
            "premium_progress_bar_enabled": False, "joined_at": "2024-01-01T00:00:00+00:00", "large": False,
            "unavailable": False, "member_count": 2, "voice_states": [], "presences": [],
            "members": [member(self.bot_user)], "channels": list(self.channels.values()),
            "threads": list(self.threads.values()), "stage_instances": [], "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }


class _Session:
    """One gateway connection: HELLO, IDENTIFY/RESUME, heartbeats, dispatches."""

    def __init__(self, fake: FakeDiscord, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.fake = fake
        self.ws = ws
        self.compress = compress
        self.seq = 0
        self.ready = False
        self.session_id = snowflake()
        self._lock = asyncio.Lock()
        if compress == "zlib-stream":
            self._z = zlib.compressobj()
        elif compress == "zstd-stream":
            import zstandard

            self._zs = zstandard.ZstdCompressor().compressobj()

    async def send(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload, separators=(",", ":")).encode()
        async with self._lock:
            if self.ws.closed:
                return
            if self.compress == "zlib-stream":
                await self.ws.send_bytes(self._z.compress(raw) + self._z.flush(zlib.Z_SYNC_FLUSH))
            elif self.compress == "zstd-stream":
                import zstandard

                await self.ws.send_bytes(self._zs.compress(raw) + self._zs.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK))
            else:
                await self.ws.send_str(raw.decode())

    async def send_dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        await self.send({"op": 0, "t": event, "s": self.seq, "d": data})

    async def run(self) -> None:
        await self.send({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in self.ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY:
                    continue
                break
            frame = json.loads(msg.data)
            op = frame.get("op")
            if op == 1:
                await self.send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                self.fake.identify = frame["d"]
                if self.fake.refuse_intents:
                    await self.ws.close(code=4014, message=b"Disallowed intent(s).")
                    return
                await self.send_dispatch("READY", {
                    "v": 10, "user": self.fake.bot_user, "guilds": [{"id": GUILD_ID, "unavailable": True}],
                    "session_id": self.session_id, "resume_gateway_url": self.fake.gateway_url,
                    "shard": [0, 1], "application": {"id": BOT_ID, "flags": 1 << 19},
                    "private_channels": [], "relationships": [], "presences": [], "user_settings": {},
                    "guild_join_requests": [], "geo_ordered_rtc_regions": []})
                await self.send_dispatch("GUILD_CREATE", self.fake.guild_payload())
                self.ready = True
                await self.fake._notify()
            elif op == 6:
                self.fake.resumes += 1
                self.session_id = frame["d"]["session_id"]
                self.seq = int(frame["d"].get("seq") or 0)
                await self.send_dispatch("RESUMED", {})
                self.ready = True
                await self.fake._notify()
