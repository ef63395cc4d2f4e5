"""Hardening of the platform edges (issue items 4 and 12), through the real clients on loopback.

- the ops endpoints: Slack's HTTP listener is public, so ``/readyz`` and ``/metrics`` are not
  served there without ``AUDIOGPT_OPS_TOKEN``, and with a token every listener wants it;
- OAuth install states: every GET ``/slack/install`` issues one, so they are capped;
- Slack Connect: an event belongs to the installation that received it (``authorizations``),
  not to the sender's workspace (``event.team``);
- org-wide (Enterprise Grid) installs: keyed by the enterprise, so a recovered reply finds the
  org's bot token;
- Discord: a MESSAGE_CREATE replayed after a gateway RESUME does not ask for its thread again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import func, select, text

from audiogpt.bots.discord.adapter import DiscordAdapter
from audiogpt.bots.ops import make_ops_app
from audiogpt.config import Settings
from audiogpt.core.events import Incoming
from audiogpt.storage.db import Database
from audiogpt.storage.schema_slack import SlackOAuthState
from audiogpt.storage.slack_store import SQLOAuthStateStore
from tests.fake_discord import BOT_ID, FakeDiscord, user
from tests.fake_slack import FakeSlack
from tests.helpers import GainBackend, ScriptedChatModel
from tests.slack_helpers import BOT_TOKEN, SECRET, SlackRig, mention, signed_headers, slack_rig
from tests.test_discord import posts, registry_with

OPS_TOKEN = "ops-token-for-tests-0123456789"
ORG_TOKEN = "xoxb-org-E1-secret"


def answer_of(messages: list[BaseMessage]) -> AIMessage:
    human = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
    return AIMessage(content=f"You asked: {human.additional_kwargs['audiogpt']['text']}")


@pytest.fixture
async def slack_fake() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    f.add_team(BOT_TOKEN, "T1")
    yield f
    await f.close()


RigFactory = Callable[..., contextlib.AbstractAsyncContextManager[SlackRig]]


@pytest.fixture
def slack(app_factory, settings: Settings, slack_fake: FakeSlack) -> RigFactory:  # type: ignore[no-untyped-def]
    """``async with slack(oauth=..., **settings) as rig``: the adapter in HTTP mode against the fake."""

    @contextlib.asynccontextmanager
    async def make(*, oauth: bool = False, **kw: Any) -> AsyncIterator[SlackRig]:
        base: dict[str, Any] = {"slack_signing_secret": SECRET, "slack_api_url": slack_fake.api_url,
                                "slack_mode": "http", "slack_port": 0, "slack_host": "127.0.0.1"}
        if oauth:
            base.update(slack_bot_token=None, slack_client_id=slack_fake.client_id,
                        slack_client_secret=slack_fake.client_secret, slack_public_url="https://bot.example.com")
        else:
            base.update(slack_bot_token=BOT_TOKEN)
        s = settings.model_copy(update={**base, **kw})
        app = await app_factory(settings=s, model=ScriptedChatModel(script=answer_of))
        async with slack_rig(app, s, slack_fake) as rig:
            yield rig

    return make


async def get(rig: SlackRig, path: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with rig.http.get(rig.url + path, headers=headers) as resp:
        await resp.read()
        return resp.status


async def conversations(db: Database) -> dict[str, str | None]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT key, workspace FROM conversations"))
        return {r.key: r.workspace for r in rows}


# --- item 4: ops endpoints ------------------------------------------------------------------------


async def test_slack_listener_serves_only_healthz_without_an_ops_token(slack: RigFactory) -> None:
    """Old code: /readyz and /metrics answered 200 to anyone who could reach Slack's 0.0.0.0 port."""
    async with slack() as rig:
        assert await get(rig, "/healthz") == 200
        assert await get(rig, "/readyz") == 404
        assert await get(rig, "/metrics") == 404


async def test_an_ops_token_guards_readyz_and_metrics_on_every_listener(slack: RigFactory) -> None:
    """Old code had no token: the same requests without one got 200 on both listeners."""
    async with slack(ops_token=OPS_TOKEN) as rig:
        assert await get(rig, "/healthz") == 200  # load balancers probe it with no credentials
        for path in ("/readyz", "/metrics"):
            assert await get(rig, path) == 401
            assert await get(rig, path, token="wrong") == 401
            assert await get(rig, path, token=OPS_TOKEN) == 200
        # the standalone ops server (AUDIOGPT_METRICS_PORT) asks for it too
        async with TestClient(TestServer(make_ops_app(rig.adapter.app))) as client:
            assert (await client.get("/metrics")).status == 401
            r = await client.get("/metrics", headers={"Authorization": f"Bearer {OPS_TOKEN}"})
            assert r.status == 200 and "audiogpt_jobs" in await r.text()
            assert (await client.get("/healthz")).status == 200


# --- item 4: OAuth install states ---------------------------------------------------------------


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    d = Database(db_url)
    await d.connect(retries=1)
    yield d
    await d.close()


async def count_states(db: Database) -> int:
    async with db.sessions() as s:
        return int((await s.execute(select(func.count()).select_from(SlackOAuthState))).scalar_one())


async def test_install_states_are_capped_and_the_newest_stay_valid(db: Database) -> None:
    """SQLite and PostgreSQL. Old code: no cap (and no ``max_states``), one row per visit until expiry."""
    store = SQLOAuthStateStore(db, max_states=3)
    issued = [await store.async_issue() for _ in range(10)]
    assert await count_states(db) == 3
    assert not await store.async_consume(issued[0])  # the oldest went
    assert all([await store.async_consume(s) for s in issued[-3:]])
    assert await count_states(db) == 0
    # expired ones go on the next issue whatever the cap
    expired = SQLOAuthStateStore(db, expiration_seconds=-1, max_states=100)
    for _ in range(4):
        await expired.async_issue()
    await store.async_issue()
    assert await count_states(db) == 1


async def test_anonymous_install_visits_do_not_grow_the_state_table(slack: RigFactory) -> None:
    """Old code: five GETs of /slack/install left five rows."""
    async with slack(oauth=True, slack_oauth_max_states=2) as rig:
        for _ in range(5):
            assert await get(rig, "/slack/install") == 200
        assert await count_states(rig.adapter.app.db) == 2


# --- item 4: Slack Connect ---------------------------------------------------------------------


def envelope(event: dict[str, Any], *, team_id: str, authorization: dict[str, Any], **top: Any) -> str:
    return json.dumps({"token": "legacy", "team_id": team_id, "api_app_id": "A1", "type": "event_callback",
                       "event_id": f"Ev{event['ts'].replace('.', '')}", "event_time": int(time.time()),
                       "event": event, "authorizations": [authorization], **top})


async def test_slack_connect_event_is_keyed_by_the_receiving_installation(
        slack: RigFactory, slack_fake: FakeSlack) -> None:
    """A user of another organisation (event.team TOTHER, whose channel it is) mentions the bot
    installed in T1. Old code keyed the conversation and the workspace settings by TOTHER."""
    async with slack() as rig:
        ev = {**mention("hello from outside", "1700.0001", user="UEXT"), "team": "TOTHER", "user_team": "TOTHER"}
        body = envelope(ev, team_id="TOTHER", is_ext_shared_channel=True, context_team_id="TOTHER",
                        authorization={"team_id": "T1", "user_id": "UBOT", "is_bot": True, "enterprise_id": None,
                                       "is_enterprise_install": False})
        status, _ = await rig.post(body, headers=signed_headers(body))
        assert status == 200
        post = (await slack_fake.wait_for("chat.postMessage", thread_ts="1700.0001"))[0]
        await rig.idle()
        assert post.token == BOT_TOKEN and post.args["text"] == "You asked: hello from outside"
        assert await conversations(rig.adapter.app.db) == {"slack:T1:C1:1700.0001": "slack:T1"}


# --- item 12: org-wide installs ------------------------------------------------------------------


async def test_org_wide_install_is_keyed_by_its_enterprise_and_its_replies_recovered(
        slack: RigFactory, slack_fake: FakeSlack) -> None:
    """An org-wide install has one row (enterprise E1, no team) and events whose authorization names
    no team. Old code keyed the conversation by the workspace (T5) and looked the bot up by team
    alone, so the recovered reply failed with "the app is not installed in Slack workspace T5"."""
    slack_fake.add_team(ORG_TOKEN, "T5", bot_user_id="UORG")
    async with slack(oauth=True) as rig:
        store = rig.adapter.installations
        assert store is not None
        await store.async_save(Installation(
            app_id="A1", enterprise_id="E1", enterprise_name="Org", team_id=None, user_id="UADMIN",
            bot_token=ORG_TOKEN, bot_id="BORG", bot_user_id="UORG", bot_scopes=["chat:write"],
            is_enterprise_install=True, installed_at=time.time()))
        ev = {**mention("hi", "1700.0001"), "team": "T5", "text": "<@UORG> hi"}
        body = envelope(ev, team_id="T5", enterprise_id="E1", is_ext_shared_channel=False,
                        authorization={"enterprise_id": "E1", "team_id": None, "user_id": "UORG", "is_bot": True,
                                       "is_enterprise_install": True})
        status, _ = await rig.post(body, headers=signed_headers(body))
        assert status == 200
        first = (await slack_fake.wait_for("chat.postMessage", thread_ts="1700.0001"))[0]
        await rig.idle()
        assert first.token == ORG_TOKEN and first.args["text"] == "You asked: hi"
        app = rig.adapter.app
        [key] = await conversations(app.db)
        assert key == "slack:E1:C1:1700.0001"
        # a reply a dead process left undelivered in that conversation, posted by recovery
        await app.dialogue.handle(Incoming(platform="slack", conversation=key, author="U1", text="and again",
                                           reply_to="1700.0001", workspace="slack:E1", message_id="1700.0002"))
        recovered = await app.recover(rig.adapter.send)
        assert [o.text for o in recovered] == ["You asked: and again"]
        late = slack_fake.calls_to("chat.postMessage")[-1]
        assert late.token == ORG_TOKEN and late.args["thread_ts"] == "1700.0001"


# --- item 12: Discord RESUME ----------------------------------------------------------------------


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    f = await FakeDiscord().start()
    yield f
    await f.close()


@pytest.fixture
async def discord_bot(discord_fake: FakeDiscord, app_factory, settings: Settings
                      ) -> AsyncIterator[Callable[..., Awaitable[DiscordAdapter]]]:  # type: ignore[no-untyped-def]
    started: list[tuple[DiscordAdapter, asyncio.Task[None]]] = []

    async def make(model: Any) -> DiscordAdapter:
        s = settings.model_copy(update={"discord_token": "fake-token", "discord_api_base_url": discord_fake.api_base,
                                        "discord_status_after": 600.0})
        app = await app_factory(settings=s, model=model, registry=registry_with(GainBackend()))
        adapter = DiscordAdapter(app)
        started.append((adapter, asyncio.create_task(adapter.start())))
        await discord_fake.wait_ready()
        return adapter

    yield make
    for adapter, task in started:
        await adapter.stop()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def test_message_replayed_after_a_resume_reuses_its_thread(
        discord_fake: FakeDiscord, discord_bot: Callable[..., Awaitable[DiscordAdapter]]) -> None:
    """The replay comes after the first delivery's turn has ended (so the gate's in-flight dedup
    does not see it). Old code asked Discord for the thread again and got 400 / 160004."""
    bot = user(BOT_ID, "audiogpt", bot=True)
    adapter = await discord_bot(ScriptedChatModel(script=lambda m: AIMessage(content="Once.")))
    msg = await discord_fake.message_create(f"<@{BOT_ID}> hi", mentions=[bot])
    await discord_fake.wait_for(lambda: posts(discord_fake, msg["id"]))
    await adapter.gate.idle(10)
    await discord_fake.drop_connections()
    await discord_fake.wait_for(lambda: discord_fake.resumes == 1 and any(s.ready for s in discord_fake._sockets))
    await discord_fake.message_create(payload=dict(msg))  # Discord replays the event after the resume
    marker = await discord_fake.message_create(f"<@{BOT_ID}> marker", mentions=[bot])
    await discord_fake.wait_for(lambda: posts(discord_fake, marker["id"]))
    assert [r.content for r in posts(discord_fake, msg["id"])] == ["Once."]
    asked = [r.path for r in discord_fake.requests if r.method == "POST" and r.path.endswith("/threads")]
    assert asked == [f"/channels/{msg['channel_id']}/messages/{m}/threads" for m in (msg["id"], marker["id"])]
