"""The Slack adapter: bolt's AsyncApp in Socket Mode or on aiohttp (HTTP mode, optional OAuth).

Every listener acks at once and hands the turn to a task the process's
:class:`~audiogpt.core.gate.TurnGate` tracks (ack-then-work), so Slack's 3-second limit never
waits for a model. A turn goes ``payloads`` -> the gate (dedup, rate limits, cached workspace
settings, ``Dialogue.handle``, the outbox's deliver-once) -> ``posting``: the delivery claim in
SQL plus the message ts as the turn's platform id make retries (``X-Slack-Retry-Num``),
duplicate events and a restart give one answer. Web API calls retry on 429 after
``Retry-After`` (slack-sdk's handler). What is left here is Slack: bolt, threads, progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
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

from audiogpt.bots.fetch_policy import slack_policy
from audiogpt.bots.ops import ops_routes, ops_token
from audiogpt.bots.slack import commands as cmd
from audiogpt.bots.slack.files import download as download_file
from audiogpt.bots.slack.logs import redacting_logger
from audiogpt.bots.slack.oauth import INSTALL_PATH, REDIRECT_PATH, build_oauth, oauth_enabled
from audiogpt.bots.slack.payloads import (
    PLATFORM,
    SlackMessage,
    conversation_key,
    is_org_tenant,
    parse_key,
    parse_message,
    tenant,
    to_incoming,
    workspace_scope,
)
from audiogpt.bots.slack.posting import Poster, escape
from audiogpt.bots.slack.progress import WORKING, ProgressView
from audiogpt.config import Settings
from audiogpt.core.events import Incoming, Outgoing
from audiogpt.core.gate import Admission, ReplyParts
from audiogpt.logsafe import reveal, safe_error
from audiogpt.storage.slack_store import SQLInstallationStore, SQLThreadLinks

log = logging.getLogger(__name__)

FAILURE = "Sorry, something went wrong on my side while answering; please try again."
NOT_POSTED = "Sorry, I could not post my answer; I will try again shortly."


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

    name = PLATFORM
    progress_delay = 0.8  # seconds before a turn shows progress (quick answers show none)

    def __init__(self, app: Any, settings: Settings | None = None) -> None:
        self.app = app
        self.settings = settings or app.settings
        self.mode = resolve_mode(self.settings)
        self.ready = asyncio.Event()
        self.gate = app.gate  # dedup, rate limits, settings cache, deliver-once, tracked tasks
        self.threads = SQLThreadLinks(app.db)
        self.installations: SQLInstallationStore | None = None
        self.port: int | None = None  # HTTP mode: the bound port (useful when SLACK_PORT=0)
        self._session: aiohttp.ClientSession | None = None
        self._stop = asyncio.Event()
        self._status_off: set[str] = set()  # teams where assistant.threads.setStatus is refused
        self._runner: web.AppRunner | None = None
        self._socket: Any = None
        secrets = (self.settings.slack_bot_token, self.settings.slack_app_token, self.settings.slack_signing_secret,
                   self.settings.slack_client_secret)
        self.api_log = redacting_logger("audiogpt.slack.api", secrets)  # slack-sdk logs response bodies
        self.bolt_log = redacting_logger("audiogpt.slack.bolt", secrets)
        # our stores write tokens to SQL; database drivers log statement parameters at DEBUG
        for name in ("audiogpt.bots.slack.oauth", "aiosqlite", "sqlalchemy.engine.Engine"):
            redacting_logger(name, secrets)
        self.client = AsyncWebClient(token=None if oauth_enabled(self.settings) else reveal(self.settings.slack_bot_token),
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
            signing_secret=reveal(s.slack_signing_secret) or "",
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
        log.error("Slack listener failed on a %s request: %s", body.get("type") or "command", safe_error(error))

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self.client.session = self._session
        try:
            if self.installations is not None:  # stored tokens: seal plaintext ones, or say why they can't be read
                await self.installations.prepare()
            if self.mode == "socket":
                from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

                self._socket = AsyncSocketModeHandler(self.bolt, reveal(self.settings.slack_app_token), logger=self.bolt_log)
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

    async def _shutdown(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.gate.stop()  # turns in flight post their answers; the rest is resumed at next start
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
        # /healthz for the load balancer; /readyz and /metrics only with AUDIOGPT_OPS_TOKEN (this listener
        # is public), else on AUDIOGPT_METRICS_PORT
        app.add_routes(ops_routes(self.app, token=ops_token(self.settings), public=True))
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
        """A Web API client with the bot token of installation ``team`` (a conversation key's tenant:
        a team, or the enterprise of an org-wide install), for recovered replies, which have no
        request to borrow one from."""
        if self.installations is None:
            return self._client(reveal(self.settings.slack_bot_token) or "")
        if is_org_tenant(team):
            bot = await self.installations.async_find_bot(enterprise_id=team, team_id=None, is_enterprise_install=True)
        else:
            bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team, is_enterprise_install=False)
        if bot is None:
            raise RuntimeError(f"the app is not installed in Slack workspace {team}")
        return self._client(bot.bot_token)

    async def download(self, url: str, token: str) -> bytes:
        """A private Slack file; the token goes to Slack's file hosts only (``slack/files.py``)."""
        return await download_file(self._session, url, token, policy=slack_policy(self.settings.slack_api_url),
                                   max_bytes=self.settings.max_upload_bytes)

    # --- events ---------------------------------------------------------------------

    async def _on_event(self, event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext,
                        client: AsyncWebClient, request: AsyncBoltRequest) -> None:
        # the receiving installation (authorizations[0]), not the sender's workspace (Slack Connect)
        team = tenant(context.team_id, context.enterprise_id, context.is_enterprise_install) or body.get("team_id")
        msg = parse_message(event, team, context.bot_user_id)  # type: ignore[arg-type]
        if msg is None:
            return
        if event.get("type") == "message" and not msg.is_dm:
            return  # in channels the bot answers mentions only
        retry = (request.headers.get("x-slack-retry-num") or [None])[0]
        if retry:
            log.info("Slack redelivered event %s (retry %s, %s)", body.get("event_id"), retry,
                     (request.headers.get("x-slack-retry-reason") or ["?"])[0])
        self.gate.spawn(self.run_turn(msg, client), name=f"slack-turn-{msg.ts}")

    async def run_turn(self, msg: SlackMessage, client: AsyncWebClient) -> str | None:
        """One message -> one answer in its thread. Returns the answer's ts (None when not posted here)."""
        key = conversation_key(msg.team, msg.channel, msg.thread_ts)
        if msg.thread_ts != msg.ts:
            key = await self.threads.find(msg.team, msg.channel, msg.thread_ts) or key
        # the same message through app_mention and message.im, or a fast retry, is admitted once
        async with self.gate.admit(PLATFORM, f"{msg.team}:{msg.channel}:{msg.ts}", author=msg.user,
                                   workspace=workspace_scope(msg.team)) as turn:
            if turn.duplicate:
                return None
            if turn.refusal is not None:
                if turn.refusal:  # "" = told within the minute
                    await client.chat_postEphemeral(channel=msg.channel, user=msg.user, text=turn.refusal,
                                                    thread_ts=msg.thread_ts)
                return None
            incoming = to_incoming(msg, conversation=key, token=client.token, get=self.download)
            return await self._answer(turn, incoming, client, channel=msg.channel, thread_ts=msg.thread_ts,
                                      use_status=msg.is_dm)

    async def _answer(self, turn: Admission, incoming: Incoming, client: AsyncWebClient, *, channel: str,
                      thread_ts: str | None, use_status: bool = False, placeholder_ts: str | None = None,
                      head: str = "", extra_blocks: list[dict[str, Any]] | None = None,
                      ephemeral_to: str | None = None, respond: Any = None) -> str | None:
        """Run the admitted turn with progress shown; its answer replaces the placeholder, once."""
        team = parse_key(incoming.conversation)[0]
        view = ProgressView(client, channel, thread_ts,
                            use_status=use_status and self.settings.slack_assistant_status and team not in self._status_off,
                            on_status_unavailable=lambda: self._status_off.add(team),
                            placeholder_ts=placeholder_ts, prefix=head, delay=self.progress_delay)
        if ephemeral_to is None:
            view.start()
        poster = Poster(client)
        attempts: list[ReplyParts] = []

        async def post(o: Outgoing) -> str:  # inside the outbox claim: resumes after the parts posted before
            working_ts = await view.finish()  # progress stops; the answer replaces its placeholder
            parts = await turn.gate.reply_parts(o.turn_id)
            attempts.append(parts)
            if respond is not None:
                await poster.respond(o, respond, extra_blocks=extra_blocks, head=head, parts=parts)
                return ""
            return await poster.post(o, channel=channel, thread_ts=thread_ts, replace_ts=working_ts,
                                     extra_blocks=extra_blocks, ephemeral_user=ephemeral_to, head=head, parts=parts)

        result = await turn.run(incoming, post, progress=view)
        if result.status == "failed":  # say so where the answer would have gone
            result = await turn.gate.deliver(
                Outgoing(conversation=incoming.conversation, text=FAILURE, reply_to=thread_ts), post)
        working_ts = await view.finish()
        if working_ts and result.status == "skipped":  # another delivery owns the answer: no "Working…" left
            with contextlib.suppress(SlackApiError):
                await client.chat_delete(channel=channel, ts=working_ts)
        elif working_ts and result.status == "not_posted" and not any(0 in a.posted for a in attempts):
            # (once the answer's first part replaced the placeholder, the note would overwrite it)
            with contextlib.suppress(Exception):
                await client.chat_update(channel=channel, ts=working_ts, text=NOT_POSTED)
        if result.status != "answered" or result.message_id is None:
            return None
        return str(result.message_id)

    # --- slash command --------------------------------------------------------------

    async def _on_command(self, ack: Any, body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient,
                          respond: Any) -> None:
        command = cmd.SlashCommand.from_payload(body)
        command = dataclasses.replace(command, team=tenant(context.team_id, context.enterprise_id,
                                                           context.is_enterprise_install) or command.team)
        if not command.text:
            await ack(text=cmd.HELP, response_type="ephemeral")
            return
        if self.settings.slack_command_ephemeral:
            await ack(text=f"{WORKING} (_{escape(command.text[:200])}_)", response_type="ephemeral")
        else:
            await ack()
        self.gate.spawn(self.run_command(command, client, respond), name=f"slack-command-{command.trigger_id}")

    async def run_command(self, command: cmd.SlashCommand, client: AsyncWebClient, respond: Any) -> str | None:
        async with self.gate.admit(PLATFORM, f"{command.team}:{command.message_id}", author=command.user,
                                   workspace=workspace_scope(command.team)) as turn:
            if turn.duplicate:
                return None
            if turn.refusal is not None:
                await respond(text=turn.refusal or "Please wait a moment before asking again.",
                              response_type="ephemeral")
                return None
            return await self._command_turn(turn, command, client, respond)

    async def _command_turn(self, turn: Admission, command: cmd.SlashCommand, client: AsyncWebClient,
                            respond: Any) -> str | None:
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
        incoming = Incoming(platform=PLATFORM, conversation=key, author=command.user, text=command.text,
                            reply_to=root, workspace=workspace_scope(command.team), message_id=command.message_id)
        button = [cmd.continue_button(key)]
        if root:
            return await self._answer(turn, incoming, client, channel=command.channel, thread_ts=None,
                                      placeholder_ts=root, head=head, extra_blocks=button)
        return await self._answer(turn, incoming, client, channel=command.channel, thread_ts=None, head=head,
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
        self.gate.spawn(self.continue_in_thread(team, channel, thread, user, client, respond), name="slack-continue")

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
        parts = await self.gate.reply_parts(out.turn_id)  # inside the outbox claim: what was posted before
        if thread.startswith("cmd-"):  # an ephemeral command's answer stays visible to its author only
            author = (await self.app.repo.get_turn(out.turn_id)).author if out.turn_id is not None else None
            if author:
                return await Poster(client).post(out, channel=channel, thread_ts=None, ephemeral_user=author,
                                                 parts=parts)
            return ""
        return await Poster(client).post(out, channel=channel, thread_ts=thread, parts=parts)
