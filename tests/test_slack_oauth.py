"""Many workspaces: OAuth install into our SQL stores, per-team tokens, uninstall, revocation, rotation."""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from sqlalchemy import update

from audiogpt.config import Settings
from audiogpt.storage.schema_slack import SlackInstallation
from tests.fake_slack import FakeSlack, Team
from tests.helpers import ScriptedChatModel
from tests.slack_helpers import SECRET, SlackRig, mention, slack_rig


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    f.oauth_codes = {"code-1": Team("T1", bot_user_id="UB1"), "code-2": Team("T2", bot_user_id="UB2"),
                     "code-3": Team("T3", bot_user_id="UB3")}
    yield f
    await f.close()


@pytest.fixture
async def rig(app_factory, settings: Settings, fake: FakeSlack) -> AsyncIterator[SlackRig]:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={
        "slack_bot_token": None, "slack_signing_secret": SECRET, "slack_api_url": fake.api_url, "slack_mode": "",
        "slack_port": 0, "slack_host": "127.0.0.1", "slack_client_id": fake.client_id,
        "slack_client_secret": fake.client_secret, "slack_public_url": "https://bot.example.com"})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=lambda m: AIMessage(content="Hi from AudioGPT")))
    async with slack_rig(app, s, fake) as r:
        yield r


async def install(rig: SlackRig, code: str) -> tuple[int, str]:
    async with rig.http.get(rig.url + "/slack/install") as resp:
        assert resp.status == 200
        page = await resp.text()
        cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
    url = html.unescape(re.search(r'<a href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert url.startswith("https://slack.com/oauth/v2/authorize?") and "client_id=cid" in url
    assert "files:read" in url and "files:write" in url
    assert url.endswith("redirect_uri=https://bot.example.com/slack/oauth_redirect")
    state = re.search(r"state=([^&]+)", url).group(1)  # type: ignore[union-attr]
    async with rig.http.get(rig.url + "/slack/oauth_redirect", params={"code": code, "state": state},
                            headers={"Cookie": cookie}) as resp:
        return resp.status, await resp.text()


async def eventually(get: Any, expected: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while (got := await get()) != expected:
        assert time.monotonic() < end, f"{got!r} != {expected!r}"
        await asyncio.sleep(0.02)


def token_of(fake: FakeSlack, team: str) -> str:
    return next(t for t, tm in fake.tokens.items() if tm.id == team)


async def mention_in(rig: SlackRig, team: str, ts: str) -> None:
    bot = {"T1": "UB1", "T2": "UB2", "T3": "UB3"}[team]
    ev = mention("hello", ts)
    ev["text"] = f"<@{bot}> hello"
    await rig.event(ev, team=team, bot_user=bot)


async def test_two_workspaces_install_and_each_is_answered_with_its_own_token(
        rig: SlackRig, fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for code in ("code-1", "code-2"):
        status, _ = await install(rig, code)
        assert status == 200
    store = rig.adapter.installations
    assert await store.team_ids() == ["T1", "T2"]
    await mention_in(rig, "T1", "1700.0001")
    await mention_in(rig, "T2", "1700.0002")
    await fake.wait_for("chat.postMessage", 2)
    await rig.idle()
    by_thread = {c.args["thread_ts"]: c for c in fake.calls_to("chat.postMessage")}
    assert by_thread["1700.0001"].token == token_of(fake, "T1")
    assert by_thread["1700.0002"].token == token_of(fake, "T2")
    assert by_thread["1700.0001"].args["text"] == "Hi from AudioGPT"
    # a reply recovered after a restart goes out with its team's token too
    from audiogpt.core.events import Outgoing

    await rig.adapter.send(Outgoing(conversation="slack:T2:C1:1700.0002", text="late answer"))
    assert fake.calls_to("chat.postMessage")[-1].token == token_of(fake, "T2")
    leaked = [t for t in (token_of(fake, "T1"), token_of(fake, "T2"), fake.client_secret) if t in caplog.text]
    assert not leaked, "secrets in the logs"


async def test_a_reused_or_forged_state_is_refused(rig: SlackRig, fake: FakeSlack) -> None:
    async with rig.http.get(rig.url + "/slack/oauth_redirect", params={"code": "code-1", "state": "forged"},
                            headers={"Cookie": "slack-app-oauth-state=forged"}) as resp:
        assert resp.status >= 400
    assert fake.calls_to("oauth.v2.access") == []
    assert await rig.adapter.installations.team_ids() == []


async def test_uninstall_and_revocation_delete_that_teams_tokens(rig: SlackRig, fake: FakeSlack) -> None:
    await install(rig, "code-1")
    await install(rig, "code-2")
    store = rig.adapter.installations
    status, _ = await rig.event({"type": "app_uninstalled", "event_ts": "1700.1"}, team="T1", bot_user="UB1")
    assert status == 200
    await eventually(lambda: store.team_ids(), ["T2"])  # bolt runs its built-in listener after the ack
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None
    assert await store.async_find_bot(enterprise_id=None, team_id="T2") is not None
    await rig.event({"type": "tokens_revoked", "event_ts": "1700.2", "tokens": {"bot": ["UB2"]}},
                    team="T2", bot_user="UB2")
    await eventually(lambda: store.team_ids(), [])
    # an uninstalled workspace is not answered
    await mention_in(rig, "T1", "1700.0003")
    await rig.idle()
    assert fake.calls_to("chat.postMessage") == []


async def test_rotating_tokens_are_refreshed_before_they_expire(rig: SlackRig, fake: FakeSlack) -> None:
    fake.rotate_tokens = True
    await install(rig, "code-3")
    first = token_of(fake, "T3")
    async with rig.adapter.app.db.sessions() as s:  # pretend the token expires in a minute
        await s.execute(update(SlackInstallation).values(bot_token_expires_at=int(time.time()) + 60))
        await s.commit()
    await mention_in(rig, "T3", "1700.0004")
    post = (await fake.wait_for("chat.postMessage"))[0]
    await rig.idle()
    refreshed = [c for c in fake.calls_to("oauth.v2.access") if c.args.get("grant_type") == "refresh_token"]
    assert len(refreshed) == 1 and post.token != first and post.token.startswith("xoxb-T3-")
    bot: Any = await rig.adapter.installations.async_find_bot(enterprise_id=None, team_id="T3")
    assert bot.bot_token == post.token and bot.bot_token_expires_at > time.time() + 3600
