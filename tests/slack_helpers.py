"""Helpers for the Slack tests and bench: signed requests and event payloads as Slack sends them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.fake_slack import FakeSlack

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-1-secret"


def signed_headers(body: str, *, secret: str = SECRET, ts: int | None = None, content_type: str = "application/json",
                   retry: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig, "Content-Type": content_type}
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def event_body(event: dict[str, Any], *, team: str = "T1", event_id: str | None = None,
               bot_user: str = "UBOT") -> str:
    return json.dumps({
        "token": "legacy", "team_id": team, "api_app_id": "A1", "type": "event_callback",
        "event_id": event_id or f"Ev{event.get('ts', '0').replace('.', '')}", "event_time": int(time.time()),
        "event": {"team": team, **event},
        "authorizations": [{"team_id": team, "user_id": bot_user, "is_bot": True, "enterprise_id": None}],
    })


def mention(text: str, ts: str, *, channel: str = "C1", user: str = "U1", thread_ts: str | None = None,
            files: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"type": "app_mention", "channel": channel, "user": user, "text": f"<@UBOT> {text}",
                         "ts": ts, "event_ts": ts}
    if thread_ts:
        e["thread_ts"] = thread_ts
    if files:
        e["files"] = files
    return e


def dm(text: str, ts: str, *, channel: str = "D1", user: str = "U1", files: list[dict[str, Any]] | None = None,
       subtype: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"type": "message", "channel": channel, "channel_type": "im", "user": user, "text": text,
                         "ts": ts, "event_ts": ts}
    if files:
        e["files"] = files
        e["subtype"] = subtype or "file_share"
    return e


def command_body(text: str, *, team: str = "T1", channel: str = "C1", user: str = "U1", trigger: str = "trig1",
                 response_url: str = "http://127.0.0.1:9/respond") -> str:
    return urlencode({"token": "legacy", "team_id": team, "channel_id": channel, "user_id": user,
                      "command": "/audiogpt", "text": text, "trigger_id": trigger, "response_url": response_url,
                      "api_app_id": "A1"})


def action_body(value: str, *, team: str = "T1", channel: str = "C1", user: str = "U1", message_ts: str = "1.1") -> str:
    payload = {"type": "block_actions", "team": {"id": team}, "user": {"id": user, "team_id": team},
               "api_app_id": "A1", "trigger_id": "t2", "channel": {"id": channel},
               "container": {"type": "message", "message_ts": message_ts, "channel_id": channel},
               "response_url": "http://127.0.0.1:9/respond",
               "actions": [{"type": "button", "action_id": "audiogpt_continue", "block_id": "audiogpt_continue",
                            "value": value, "action_ts": "1.2"}]}
    return urlencode({"payload": json.dumps(payload)})


@dataclass
class SlackRig:
    """A running adapter in HTTP mode, the fake Slack it talks to, and an HTTP session to call it."""

    adapter: Any
    fake: FakeSlack
    http: aiohttp.ClientSession
    url: str  # base URL of the bot's HTTP server

    async def post(self, body: str, *, path: str = "/slack/events", headers: dict[str, str] | None = None,
                   content_type: str = "application/json", retry: int | None = None) -> tuple[int, str]:
        h = headers if headers is not None else signed_headers(body, content_type=content_type, retry=retry)
        async with self.http.post(self.url + path, data=body.encode(), headers=h) as resp:
            return resp.status, await resp.text()

    async def event(self, event: dict[str, Any], **kw: Any) -> tuple[int, str]:
        retry = kw.pop("retry", None)
        return await self.post(event_body(event, **kw), retry=retry)

    async def command(self, text: str, **kw: Any) -> tuple[int, str]:
        kw.setdefault("response_url", self.fake.response_url())
        return await self.post(command_body(text, **kw), content_type="application/x-www-form-urlencoded")

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until the adapter has no turn in flight (the turn gate tracks them)."""
        await self.adapter.gate.idle(timeout)


@asynccontextmanager
async def slack_rig(app: Any, settings: Any, fake: FakeSlack, *, progress_delay: float = 10.0
                    ) -> AsyncIterator[SlackRig]:
    """``progress_delay``: long by default so a slow CI machine does not show 'Working…' where a test
    does not expect it; the progress tests shorten it."""
    from audiogpt.bots.slack.adapter import SlackAdapter

    adapter = SlackAdapter(app, settings)
    adapter.progress_delay = progress_delay
    task = asyncio.create_task(adapter.start())
    try:
        await asyncio.wait_for(adapter.ready.wait(), 10)
        async with aiohttp.ClientSession() as http:
            yield SlackRig(adapter, fake, http, f"http://127.0.0.1:{adapter.port}")
    finally:
        await adapter.stop()
        await asyncio.wait_for(task, 30)
