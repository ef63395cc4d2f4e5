"""The Slack adapter: bolt's AsyncApp in Socket Mode or on aiohttp (HTTP mode, optional OAuth).

Every listener acks at once and hands the turn to a tracked task (ack-then-work), so Slack's
3-second limit never waits for a model. A turn goes ``payloads`` -> ``Dialogue.handle`` ->
``Dialogue.deliver`` -> ``posting``: the delivery claim in SQL plus the message ts as the
turn's platform id make retries (``X-Slack-Retry-Num``), duplicate events and a restart
give one answer. Web API calls retry on 429 after ``Retry-After`` (slack-sdk's handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from audiogpt.bots.ops import ops_routes
from audiogpt.bots.slack import commands as cmd
from audiogpt.bots.slack.logs import redacting_logger
from audiogpt.bots.slack.oauth import INSTALL_PATH, REDIRECT_PATH, build_oauth, oauth_enabled
from audiogpt.bots.slack.payloads import (
    DownloadError,
    SlackMessage,
    conversation_key,
    parse_key,
    parse_message,
    to_incoming,
    workspace_scope,
)
from audiogpt.bots.slack.posting import Poster, escape
from audiogpt.bots.slack.progress import WORKING, ProgressView
from audiogpt.config import Settings
from audiogpt.core.events import Incoming, Outgoing
from audiogpt.core.ratelimit import RateLimiter
from audiogpt.storage.slack_store import SQLInstallationStore, SQLThreadLinks

log = logging.getLogger(__name__)

FAILURE = "Sorry, something went wrong on my side while answering; please try again."
LIMITS_TTL = 30.0  # seconds a workspace's rate-limit override is cached


class SlackConfigError(RuntimeError):
    """Slack settings that cannot work; ``str()`` is one sentence for the operator."""


def resolve_mode(settings: Settings) -> str:
    mode = (settings.slack_mode or "").strip().lower()
    if not mode:
        mode = "socket" if settings.slack_app_token and not oauth_enabled(settings) else "http"
    if mode not in ("socket", "http"):
        raise SlackConfigError(f"SLACK_MODE must be 'socket' or 'http', not {settings.slack_mode!r}.")
    if mode == "socket" and not settings.slack_app_token:
        raise SlackConfigError("Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write).")
    if mode == "socket" and not settings.slack_bot_token:
        raise SlackConfigError("Socket Mode serves one workspace and needs SLACK_BOT_TOKEN (xoxb-).")
    if mode == "http" and not settings.slack_signing_secret:
        raise SlackConfigError("HTTP mode needs SLACK_SIGNING_SECRET to verify requests from Slack.")
    if mode == "http" and not (settings.slack_bot_token or oauth_enabled(settings)):
        raise SlackConfigError("HTTP mode needs SLACK_BOT_TOKEN, or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for OAuth.")
    return mode


def retry_handlers() -> list[Any]:
    return [AsyncConnectionErrorRetryHandler(max_retry_count=2), AsyncRateLimitErrorRetryHandler(max_retry_count=3)]


class SlackAdapter:
    """``make_adapter(app)`` of the launcher's ``PlatformAdapter`` protocol."""

    name = "slack"
    progress_delay = 0.8  # seconds before a turn shows progress (quick answers show none)

    def __init__(self, app: Any, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings or app.settings
        self.mode = resolve_mode(self.settings)
        self.ready = asyncio.Event()
        self.limiter = RateLimiter(user_per_minute=self.settings.rate_user_per_minute,
                                   workspace_per_minute=self.settings.rate_workspace_per_minute)
        self.threads = SQLThreadLinks(app.db)
        self.installations: SQLInstallationStore | None = None
        self.port: int | None = None  # HTTP mode: the bound port (useful when SLACK_PORT=0)
        self._session: aiohttp.ClientSession | None = None
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: set[str] = set()
        self._status_off: set[str] = set()  # teams where assistant.threads.setStatus is refused
        self._limits: dict[str, tuple[float, int | None, int | None]] = {}
        self._runner: web.AppRunner | None = None
        self._socket: Any = None
        secrets = (self.settings.slack_bot_token, self.settings.slack_app_token, self.settings.slack_signing_secret,
                   self.settings.slack_client_secret)
        self.api_log = redacting_logger("audiogpt.slack.api", secrets)  # slack-sdk logs response bodies
        self.bolt_log = redacting_logger("audiogpt.slack.bolt", secrets)
        # our stores write tokens to SQL; database drivers log statement parameters at DEBUG
        for name in ("audiogpt.bots.slack.oauth", "aiosqlite", "sqlalchemy.engine.Engine"):
            redacting_logger(name, secrets)
        self.client = AsyncWebClient(token=None if oauth_enabled(self.settings) else self.settings.slack_bot_token,
                                     base_url=self.settings.slack_api_url, retry_handlers=retry_handlers(),
                                     logger=self.api_log)
        self.bolt = self._build_bolt()

    # --- bolt -----------------------------------------------------------------------

    def _build_bolt(self) -> AsyncApp:
        s = self.settings
        kw: dict[str, Any] = {}
        if oauth_enabled(s):
            oauth, authorize, store = build_oauth(s, self.app.db, self.client)
            self.installations = store
            kw.update(oauth_settings=oauth, authorize=authorize, installation_store_bot_only=True)
        bolt = AsyncApp(
            client=self.client,
            signing_secret=s.slack_signing_secret or "",
            request_verification_enabled=self.mode == "http",
            logger=self.bolt_log,
            **kw,
        )
        if oauth_enabled(s):
            bolt.enable_token_revocation_listeners()
        bolt.event("app_mention")(self._on_event)
        bolt.event("message")(self._on_event)
        for name in ("assistant_thread_started", "assistant_thread_context_changed"):
            bolt.event(name)(self._on_assistant_thread)  # acked; the user's first message starts the turn
        bolt.command(s.slack_command)(self._on_command)
        bolt.action(cmd.CONTINUE_ACTION)(self._on_continue)
        bolt.error(self._on_error)
        return bolt

    async def _on_assistant_thread(self, event: dict[str, Any]) -> None:
        return None

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack listener failed on a %s request: %r", body.get("type") or "command", error)

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self.client.session = self._session
        try:
            if self.mode == "socket":
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                self._socket = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token, logger=self.bolt_log)
                await self._socket.connect_async()
                log.info("Slack: connected in Socket Mode")
            else:
                self._runner = web.AppRunner(self.web_app(), access_log=None)
                await self._runner.setup()
                site = web.TCPSite(self._runner, self.settings.slack_host, self.settings.slack_port)
                await site.start()
                self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
                log.info("Slack: HTTP mode on %s:%d%s%s", self.settings.slack_host, self.port, self.settings.slack_path,
                         " with OAuth at " + INSTALL_PATH if self.installations else "")
            self.ready.set()
            await self._stop.wait()
        finally:
            await self._shutdown()

    async def stop(self) -> None:
        self._stop.set()

    async def _shutdown(self, grace: float = 10.0) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:  # let turns in flight post their answers; the rest is resumed at next start
            _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def web_app(self) -> web.Application:
        """HTTP mode: one path for events, commands and buttons; OAuth pages when configured."""
        app = web.Application(client_max_size=1024 * 1024)
        path = self.settings.slack_path
        app.router.add_post(path, self._http)
        for alias in ("/slack/events", "/slack/commands", "/slack/actions"):
            if alias != path:
                app.router.add_post(alias, self._http)
        if self.bolt.oauth_flow is not None:
            app.router.add_get(INSTALL_PATH, self._http_install)
            app.router.add_get(REDIRECT_PATH, self._http_redirect)
        # /healthz, /readyz and /metrics for the load balancer and Prometheus (any process may get any event)
        app.add_routes(ops_routes(self.app))
        return app

    async def _http(self, request: web.Request) -> web.Response:
        bolt_resp = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_resp)

    async def _http_install(self, request: web.Request) -> web.Response:
        assert self.bolt.oauth_flow is not None
        return await to_aiohttp_response(await self.bolt.oauth_flow.handle_installation(await to_bolt_request(request)))

    async def _http_redirect(self, request: web.Request) -> web.Response:
        assert self.bolt.oauth_flow is not None
        return await to_aiohttp_response(await self.bolt.oauth_flow.handle_callback(await to_bolt_request(request)))

    # --- clients and downloads -------------------------------------------------------

    def _client(self, token: str) -> AsyncWebClient:
        return AsyncWebClient(token=token, base_url=self.settings.slack_api_url, session=self._session,
                              retry_handlers=retry_handlers(), logger=self.api_log)

    async def client_for(self, team: str) -> AsyncWebClient:
        """A Web API client with ``team``'s bot token (recovered replies have no request to borrow one from)."""
        if self.installations is None:
            return self._client(self.settings.slack_bot_token or "")
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None:
            raise RuntimeError(f"the app is not installed in Slack workspace {team}")
        return self._client(bot.bot_token)

    async def download(self, url: str, token: str) -> bytes:
        """A private Slack file, with the bot token; the sign-in page Slack sends for a bad token is an error."""
        session = self._session or aiohttp.ClientSession()
        limit = self.settings.max_upload_bytes
        try:
            async with session.get(url, headers={"Authorization": f"Bearer {token}"},
                                   timeout=aiohttp.ClientTimeout(total=120)) as resp:
                if resp.status != 200:
                    raise DownloadError(f"Slack answered HTTP {resp.status} for the file")
                if resp.content_type == "text/html":
                    raise DownloadError("Slack sent its sign-in page instead of the file (is files:read granted?)")
                data = bytearray()
                async for chunk in resp.content.iter_chunked(1 << 16):
                    data += chunk
                    if len(data) > limit:
                        raise DownloadError("the file is larger than the upload limit")
                return bytes(data)
        finally:
            if session is not self._session:
                await session.close()

    # --- events ---------------------------------------------------------------------

    async def _on_event(self, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext,
                        client: AsyncWebClient, request: AsyncBoltRequest) -> None:
        msg = parse_message(event, context.team_id or body.get("team_id"), context.bot_user_id)  # type: ignore[arg-type]
        if msg is None:
            return
        if event.get("type") == "message" and not msg.is_dm:
            return  # in channels the bot answers mentions only
        retry = (request.headers.get("x-slack-retry-num") or [None])[0]
        if retry:
            log.info("Slack redelivered event %s (retry %s, %s)", body.get("event_id"), retry,
                     (request.headers.get("x-slack-retry-reason") or ["?"])[0])
        self._spawn(self.run_turn(msg, client), name=f"slack-turn-{msg.ts}")

    async def _rate_refusal(self, user: str, team: str) -> str | None:
        now = time.monotonic()
        cached = self._limits.get(team)
        if cached is None or now - cached[0] > LIMITS_TTL:
            scope = workspace_scope(team)
            u = await self.app.repo.get_setting(scope, "rate_user_per_minute")
            w = await self.app.repo.get_setting(scope, "rate_workspace_per_minute")
            cached = (now, None if u is None else int(u), None if w is None else int(w))
            self._limits[team] = cached
        return self.limiter.check(f"{team}:{user}", workspace_scope(team), user_limit=cached[1],
                                  workspace_limit=cached[2])

    async def run_turn(self, msg: SlackMessage, client: AsyncWebClient) -> str | None:
        """One message -> one answer in its thread. Returns the answer's ts (None when not posted here)."""
        key = conversation_key(msg.team, msg.channel, msg.thread_ts)
        if msg.thread_ts != msg.ts:
            key = await self.threads.find(msg.team, msg.channel, msg.thread_ts) or key
        flight = f"{key}|{msg.ts}"
        if flight in self._inflight:  # the same message through app_mention and message.im, or a fast retry
            return None
        self._inflight.add(flight)
        try:
            refusal = await self._rate_refusal(msg.user, msg.team)
            if refusal:
                await client.chat_postEphemeral(channel=msg.channel, user=msg.user, text=refusal,
                                                thread_ts=msg.thread_ts)
                return None
            incoming = to_incoming(msg, conversation=key, token=client.token, get=self.download)
            return await self._answer(incoming, client, channel=msg.channel, thread_ts=msg.thread_ts,
                                      use_status=msg.is_dm)
        finally:
            self._inflight.discard(flight)

    async def _answer(self, incoming: Incoming, client: AsyncWebClient, *, channel: str, thread_ts: str | None,
                      use_status: bool = False, placeholder_ts: str | None = None, head: str = "",
                      extra_blocks: list[dict[str, Any]] | None = None, ephemeral_to: str | None = None,
                      respond: Any = None) -> str | None:
        """Run the turn with progress shown, then deliver its answer exactly once."""
        team = parse_key(incoming.conversation)[0]
        view = ProgressView(client, channel, thread_ts,
                            use_status=use_status and self.settings.slack_assistant_status and team not in self._status_off,
                            on_status_unavailable=lambda: self._status_off.add(team),
                            placeholder_ts=placeholder_ts, prefix=head, delay=self.progress_delay)
        if ephemeral_to is None:
            view.start()
        try:
            out = await self.app.dialogue.handle(incoming, progress=view)
        except Exception:
            log.exception("turn failed in %s", incoming.conversation)
            out = Outgoing(conversation=incoming.conversation, text=FAILURE, reply_to=thread_ts)
        working_ts = await view.finish()
        posted: dict[str, str] = {}
        poster = Poster(client)

        async def send(o: Outgoing) -> str:
            if respond is not None:
                await poster.respond(o, respond, extra_blocks=extra_blocks, head=head)
                posted["ts"] = ""
                return ""
            posted["ts"] = await poster.post(o, channel=channel, thread_ts=thread_ts, replace_ts=working_ts,
                                             extra_blocks=extra_blocks, ephemeral_user=ephemeral_to, head=head)
            return posted["ts"]  # recorded with the turn as its reply's message id

        delivered = await self.app.dialogue.deliver(out, send)
        if not delivered and working_ts and "ts" not in posted and out.turn_id is not None:
            # a duplicate whose answer another delivery owns, or a failed post: do not leave "Working…" behind
            turn = await self.app.repo.get_turn(out.turn_id)
            if turn.delivery == "delivered":
                with contextlib.suppress(SlackApiError):
                    await client.chat_delete(channel=channel, ts=working_ts)
            else:
                with contextlib.suppress(Exception):
                    await client.chat_update(channel=channel, ts=working_ts,
                                             text="Sorry, I could not post my answer; I will try again shortly.")
        return posted.get("ts")

    # --- slash command --------------------------------------------------------------

    async def _on_command(self, ack: Any, body: dict[str, Any], client: AsyncWebClient, respond: Any) -> None:
        command = cmd.SlashCommand.from_payload(body)
        if not command.text:
            await ack(text=cmd.HELP, response_type="ephemeral")
            return
        if self.settings.slack_command_ephemeral:
            await ack(text=f"{WORKING} (_{escape(command.text[:200])}_)", response_type="ephemeral")
        else:
            await ack()
        self._spawn(self.run_command(command, client, respond), name=f"slack-command-{command.trigger_id}")

    async def run_command(self, command: cmd.SlashCommand, client: AsyncWebClient, respond: Any) -> str | None:
        refusal = await self._rate_refusal(command.user, command.team)
        if refusal:
            await respond(text=refusal, response_type="ephemeral")
            return None
        head = f"<@{command.user}> asked: {escape(command.text[:500])}"
        root: str | None = None
        if not self.settings.slack_command_ephemeral:
            try:
                resp = await client.chat_postMessage(channel=command.channel, text=f"{head}\n{WORKING}")
                root = str(resp["ts"])
            except SlackApiError as exc:  # e.g. not_in_channel: answer through the command's response_url
                log.info("cannot post in %s (%s); answering through response_url", command.channel,
                         exc.response.get("error"))
        thread = root or f"cmd-{command.trigger_id}"
        key = conversation_key(command.team, command.channel, thread)
        incoming = Incoming(platform="slack", conversation=key, author=command.user, text=command.text,
                            reply_to=root, workspace=workspace_scope(command.team), message_id=command.message_id)
        button = [cmd.continue_button(key)]
        if root:
            return await self._answer(incoming, client, channel=command.channel, thread_ts=None,
                                      placeholder_ts=root, head=head, extra_blocks=button)
        return await self._answer(incoming, client, channel=command.channel, thread_ts=None, head=head,
                                  extra_blocks=button, ephemeral_to=command.user, respond=respond)

    async def _on_continue(self, ack: Any, body: dict[str, Any], action: dict[str, Any],
                           client: AsyncWebClient, respond: Any) -> None:
        await ack()
        key = str(action.get("value") or "")
        user = (body.get("user") or {}).get("id", "")
        try:
            team, channel, thread = parse_key(key)
        except ValueError:
            return
        self._spawn(self.continue_in_thread(team, channel, thread, user, client, respond), name="slack-continue")

    async def continue_in_thread(self, team: str, channel: str, thread: str, user: str, client: AsyncWebClient,
                                 respond: Any) -> str | None:
        """Open the conversation's thread for more messages; returns the thread's ts."""
        invite = f"<@{user}> let's continue here: mention me in this thread with your next request."
        try:
            if not thread.startswith("cmd-"):  # the answer in the channel is the thread's root
                await client.chat_postMessage(channel=channel, thread_ts=thread, text=invite)
                return thread
            root = await client.chat_postMessage(channel=channel, text=f"<@{user}>'s conversation with AudioGPT")
            ts = str(root["ts"])
            await self.threads.link(team, channel, ts, conversation_key(team, channel, thread))
            await client.chat_postMessage(channel=channel, thread_ts=ts, text=invite)
            return ts
        except SlackApiError as exc:
            log.info("could not open a thread in %s: %s", channel, exc.response.get("error"))
            await respond(text="I can't post in this channel; invite me to it (/invite @AudioGPT) first.",
                          response_type="ephemeral", replace_original=False)
            return None

    # --- recovered replies ----------------------------------------------------------

    async def send(self, out: Outgoing) -> str:
        """Post a reply a previous process produced; returns the answer's ts."""
        team, channel, thread = parse_key(out.conversation)
        client = await self.client_for(team)
        if thread.startswith("cmd-"):  # an ephemeral command's answer stays visible to its author only
            author = (await self.app.repo.get_turn(out.turn_id)).author if out.turn_id is not None else None
            if author:
                return await Poster(client).post(out, channel=channel, thread_ts=None, ephemeral_user=author)
            return ""
        return await Poster(client).post(out, channel=channel, thread_ts=thread)
