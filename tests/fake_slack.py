"""A fake Slack Web API on loopback (aiohttp), for the real slack-sdk ``AsyncWebClient``.

It speaks the subset of the Web API the adapter uses, checks bearer tokens like Slack does,
and records every call so tests assert on what the bot did (``calls_to("chat.postMessage")``).
Private file downloads answer a bad token with Slack's HTML sign-in page and status 200,
as the real service does, so the adapter has to notice.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.perf_counter)  # when the fake received it
    ok: bool = True  # False: the fake refused it (fail_if)


@dataclass
class FakeFile:
    id: str
    name: str
    data: bytes
    mimetype: str = "application/octet-stream"
    subtype: str | None = None
    team: str = "T1"
    title: str = ""


@dataclass
class Team:
    id: str
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    name: str = "Team"


@dataclass
class FakeSlack:
    """``tokens`` maps a valid bot token to its team; ``oauth_codes`` maps an OAuth code to a team."""

    tokens: dict[str, Team] = field(default_factory=dict)
    oauth_codes: dict[str, Team] = field(default_factory=dict)
    client_id: str = "cid"
    client_secret: str = "csecret"
    rotate_tokens: bool = False  # oauth.v2.access hands out refresh tokens that expire in 12 h
    assistant_status: bool = True  # assistant.threads.setStatus works (else "not_allowed")
    calls: list[Call] = field(default_factory=list)
    files: dict[str, FakeFile] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _rate_limited: dict[str, int] = field(default_factory=dict)
    # [method, check(args), error, times left (None = always)]: calls refused with {"ok": false} (fail_if)
    refusals: list[list[Any]] = field(default_factory=list)
    app_tokens: set[str] = field(default_factory=set)  # valid xapp- tokens for Socket Mode
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> FakeSlack:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{file_id}/{name}", self._download)
        app.router.add_post("/respond/{id}", self._respond)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def close(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.root}/api/"

    # --- test helpers ------------------------------------------------------------------

    def add_team(self, token: str, team_id: str = "T1", bot_user_id: str = "UBOT") -> Team:
        team = Team(team_id, bot_user_id=bot_user_id, bot_id="B" + team_id)
        self.tokens[token] = team
        return team

    def add_file(self, name: str, data: bytes, mimetype: str, *, subtype: str | None = None,
                 team: str = "T1") -> dict[str, Any]:
        """A file as it appears in a message event's ``files`` list."""
        fid = "F" + secrets.token_hex(4).upper()
        self.files[fid] = FakeFile(fid, name, data, mimetype, subtype, team)
        url = f"{self.root}/files-pri/{fid}/{name}"
        d: dict[str, Any] = {"id": fid, "name": name, "title": name, "mimetype": mimetype,
                             "filetype": name.rsplit(".", 1)[-1], "size": len(data),
                             "url_private": url, "url_private_download": url + "?download=1"}
        if subtype:
            d["subtype"] = subtype
        return d

    def rate_limit_once(self, method: str, retry_after: int = 1) -> None:
        """The next call of ``method`` gets HTTP 429 with ``Retry-After``."""
        self._rate_limited[method] = retry_after

    def fail_if(self, method: str, check: Callable[[dict[str, Any]], bool] = lambda args: True, *,
                error: str = "internal_error", times: int | None = 1) -> None:
        """Refuse calls of ``method`` whose args ``check`` picks, ``times`` times (None = always)."""
        self.refusals.append([method, check, error, times])

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def answers(self) -> list[Call]:
        """Messages the bot posted or edited (excluding the transient 'working' text)."""
        return [c for c in self.calls if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral")
                and "working" not in str(c.args.get("text", "")).lower()]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 20.0, **match: Any) -> list[Call]:
        """Wait until ``count`` calls of ``method`` (whose args contain ``match``) were recorded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [c for c in self.calls_to(method) if all(c.args.get(k) == v for k, v in match.items())]
            if len(found) >= count:
                return found
            if loop.time() > deadline:
                raise AssertionError(f"{count} x {method} {match} not seen; calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)

    # --- handlers ----------------------------------------------------------------------

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            raw = await request.read()
            ctype = request.content_type
            if ctype == "application/json":
                args.update(json.loads(raw or b"{}"))
            elif ctype == "multipart/form-data":
                pass
            else:
                args.update(dict(parse_qsl(raw.decode())))
        return args

    def _token(self, request: web.Request, args: dict[str, Any]) -> str | None:
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer "):]
        return args.get("token")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        token = self._token(request, args)
        call = Call(method, args, token)
        self.calls.append(call)
        for refusal in list(self.refusals):
            if refusal[0] == method and refusal[1](args):
                if refusal[3] is not None:
                    refusal[3] -= 1
                    if refusal[3] <= 0:
                        self.refusals.remove(refusal)
                call.ok = False
                return web.json_response({"ok": False, "error": refusal[2]})
        if method in self._rate_limited:
            retry = self._rate_limited.pop(method)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(retry)})
        if method == "oauth.v2.access":
            return web.json_response(self._oauth(request, args))
        if method == "apps.connections.open":
            if token not in self.app_tokens:
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"})
        team = self.tokens.get(token or "")
        if team is None:
            return web.json_response({"ok": False, "error": "invalid_auth" if token else "not_authed"})
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(team, args))

    def _next_ts(self) -> str:
        return f"1800000000.{next(self._ts):06d}"

    def _m_auth_test(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"https://{team.id.lower()}.slack.test/", "team": team.name, "user": "audiogpt",
                "team_id": team.id, "user_id": team.bot_user_id, "bot_id": team.bot_id, "is_enterprise_install": False}

    def _m_chat_postMessage(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        return {"ok": True, "channel": args.get("channel"), "ts": ts,
                "message": {"text": args.get("text"), "ts": ts, "thread_ts": args.get("thread_ts")}}

    def _m_chat_update(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts"), "text": args.get("text")}

    def _m_chat_delete(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}

    def _m_chat_postEphemeral(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_assistant_threads_setStatus(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True} if self.assistant_status else {"ok": False, "error": "not_allowed"}

    def _m_files_getUploadURLExternal(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        fid = "F" + secrets.token_hex(4).upper()
        self.files[fid] = FakeFile(fid, str(args.get("filename")), b"", team=team.id)
        return {"ok": True, "upload_url": f"{self.root}/upload/{fid}", "file_id": fid}

    def _m_files_completeUploadExternal(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        items = json.loads(items) if isinstance(items, str) else items
        out = []
        for item in items or []:
            f = self.files.get(item["id"])
            if f is None or item["id"] not in self.uploads:
                return {"ok": False, "error": "file_not_found"}
            f.title = item.get("title") or f.name
            out.append({"id": f.id, "name": f.name, "title": f.title})
        return {"ok": True, "files": out}

    def _m_files_info(self, team: Team, args: dict[str, Any]) -> dict[str, Any]:
        f = self.files.get(str(args.get("file")))
        if f is None:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": {"id": f.id, "name": f.name, "title": f.title, "mimetype": f.mimetype,
                                     "size": len(f.data or self.uploads.get(f.id, b""))}}

    def _oauth(self, request: web.Request, args: dict[str, Any]) -> dict[str, Any]:
        import base64

        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        else:
            cid, secret = args.get("client_id", ""), args.get("client_secret", "")
        if (cid, secret) != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        if args.get("grant_type") == "refresh_token":
            old = next((t for t, tm in self.tokens.items() if f"xoxe-{t}" == args.get("refresh_token")), None)
            if old is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            team = self.tokens[old]
            new = f"xoxb-{team.id}-{secrets.token_hex(4)}"
            self.tokens[new] = team
            return {"ok": True, "access_token": new, "token_type": "bot", "refresh_token": f"xoxe-{new}",
                    "expires_in": 43200, "team": {"id": team.id}, "bot_user_id": team.bot_user_id}
        team = self.oauth_codes.pop(str(args.get("code")), None)
        if team is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxb-{team.id}-{secrets.token_hex(6)}"
        self.tokens[token] = team
        body: dict[str, Any] = {
            "ok": True, "access_token": token, "token_type": "bot", "scope": "chat:write,app_mentions:read",
            "bot_user_id": team.bot_user_id, "app_id": "A1", "team": {"id": team.id, "name": team.name},
            "enterprise": None, "is_enterprise_install": False, "authed_user": {"id": "UINSTALLER"},
        }
        if self.rotate_tokens:
            body.update(refresh_token=f"xoxe-{token}", expires_in=43200)
        return body

    def response_url(self, name: str = "cmd") -> str:
        """A slash command's ``response_url``, answered by this fake."""
        return f"{self.root}/respond/{name}"

    async def _respond(self, request: web.Request) -> web.Response:
        args = await self._args(request)
        self.calls.append(Call("respond", args, None))
        return web.Response(text="ok")

    async def send_envelope(self, kind: str, payload: dict[str, Any], envelope_id: str) -> None:
        """Push a Socket Mode envelope (``events_api``, ``slash_commands``, ``interactive``) to the bot."""
        loop = asyncio.get_running_loop()
        end = loop.time() + 10
        while not self.sockets:
            assert loop.time() < end, "the bot never opened a Socket Mode connection"
            await asyncio.sleep(0.02)
        await self.sockets[-1].send_json({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                          "accepts_response_payload": kind != "events_api", "retry_attempt": 0,
                                          "retry_reason": ""})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}})
        async for msg in ws:
            if msg.type == web.WSMsgType.TEXT:
                self.socket_acks.append(json.loads(msg.data))
        self.sockets.remove(ws)
        return ws

    async def _upload(self, request: web.Request) -> web.Response:
        fid = request.match_info["file_id"]
        if fid not in self.files:
            return web.Response(status=404, text="unknown upload")
        data = await request.read()
        self.uploads[fid] = data
        self.files[fid].data = data
        self.calls.append(Call("upload", {"file_id": fid, "bytes": len(data)}, None))
        return web.Response(text=f"OK - {len(data)}")

    async def _download(self, request: web.Request) -> web.Response:
        f = self.files.get(request.match_info["file_id"])
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        team = self.tokens.get(token or "")
        self.calls.append(Call("download", {"file_id": request.match_info["file_id"]}, token))
        if f is None:
            return web.Response(status=404, text="not found")
        if team is None or team.id != f.team:
            # what Slack does: the sign-in page, with status 200
            return web.Response(text="<!DOCTYPE html><html><body>Sign in to Slack</body></html>",
                                content_type="text/html")
        return web.Response(body=f.data, content_type=f.mimetype)
