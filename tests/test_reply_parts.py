"""Multi-part replies: each part is posted once, a retry resumes at the first unsent part, the
attempts are capped with one closing sentence, and Discord's nonce stops a post whose response
was lost from being created twice.

The real discord.py and slack-sdk clients talk to the fakes on loopback; the fakes refuse
chosen parts (by body) and, for Discord, drop the response of a create they performed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from alembic import command
from langchain_core.messages import AIMessage, BaseMessage
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from audiogpt.bots.discord.adapter import DiscordAdapter
from audiogpt.config import Settings
from audiogpt.models.registry import Registry
from audiogpt.storage.db import Database, alembic_config
from audiogpt.storage.repos import Repository
from tests.fake_discord import BOT_ID, FakeDiscord, Recorded
from tests.fake_slack import FakeSlack
from tests.helpers import GainBackend, ScriptedChatModel, call, tone_wav
from tests.slack_helpers import BOT_TOKEN, SlackRig, mention, slack_rig
from tests.test_discord import BOT, registry_with, say
from tests.test_slack import slack_settings

# three paragraphs of ~1,500 characters: three Discord messages (2,000 each), in this order
PARAS = [f"{tag} " + " ".join(f"{tag.lower()}{i}" for i in range(180)) for tag in ("ONE", "TWO", "THREE")]
LONG = "\n\n".join(PARAS)
GIVE_UP = "I could not post the rest of this answer"


# --- Discord ------------------------------------------------------------------------------


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    f = await FakeDiscord().start()
    yield f
    await f.close()


@pytest.fixture
async def discord_bot(discord_fake: FakeDiscord, app_factory, settings: Settings):  # type: ignore[no-untyped-def]
    """``await discord_bot(text, **settings)``: an adapter whose model answers ``text``; no background sweeps
    (each test runs the recovery sweep itself)."""
    started: list[tuple[DiscordAdapter, asyncio.Task[None]]] = []

    async def make(text: str, **overrides: Any) -> DiscordAdapter:
        s = settings.model_copy(update={"discord_token": "fake-token", "discord_api_base_url": discord_fake.api_base,
                                        "discord_status_after": 600.0, "recovery_interval": 0.0, **overrides})
        app = await app_factory(settings=s, model=ScriptedChatModel(script=say(text)),
                                registry=registry_with(GainBackend()))
        adapter = DiscordAdapter(app)
        task = asyncio.create_task(adapter.start())
        started.append((adapter, task))
        await discord_fake.wait_ready()
        return adapter

    yield make
    for adapter, task in started:
        await adapter.stop()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def starts(tag: str):  # type: ignore[no-untyped-def]
    """Picks the message creates whose content starts with ``tag``."""
    return lambda r: r.method == "POST" and (r.content or "").startswith(tag)


def contents(fake: FakeDiscord, channel: str) -> list[str]:
    return [m["content"] for m in fake.created(channel)]


def tries(fake: FakeDiscord, tag: str) -> list[Recorded]:
    return [r for r in fake.requests if starts(tag)(r)]


async def first_attempt(fake: FakeDiscord, adapter: DiscordAdapter) -> str:
    """Mention the bot; wait until its first delivery failed and said so. Returns the thread's id."""
    msg = await fake.message_create(f"<@{BOT_ID}> tell me a lot", mentions=[BOT])
    await fake.wait_for(lambda: any("refused my answer" in c for c in contents(fake, msg["id"])))
    await adapter.gate.idle(10)
    return str(msg["id"])


async def test_discord_retry_resumes_at_the_part_that_failed(discord_fake: FakeDiscord, discord_bot) -> None:  # type: ignore[no-untyped-def]
    """Part 2 of 3 is refused once: the sweep posts parts 2 and 3, and part 1 stays posted once.
    Before, the sweep re-posted the whole reply (part 1 twice)."""
    adapter = await discord_bot(LONG)
    discord_fake.fail_if(starts("TWO "), times=1)
    thread = await first_attempt(discord_fake, adapter)
    assert [c[:4] for c in contents(discord_fake, thread)] == ["ONE ", "Sorr"]

    await adapter.app.recover(adapter.send)
    assert await adapter.app.recover(adapter.send) == []
    posted = [c for c in contents(discord_fake, thread) if not c.startswith("Sorry")]
    assert posted == PARAS  # each part once, in order
    turn = await adapter.app.repo.get_turn(1)
    assert turn.delivery == "delivered" and turn.delivery_attempts == 2 and turn.delivery_error is None
    # every part went out with its stable nonce (the same on the retry of part 2) and enforce_nonce
    two = tries(discord_fake, "TWO ")
    assert [r.json["nonce"] for r in two] == ["ag1.1", "ag1.1"] and all(r.json["enforce_nonce"] for r in two)
    assert tries(discord_fake, "ONE ")[0].json["nonce"] == "ag1.0"


async def test_discord_gives_up_after_the_last_attempt_with_one_sentence(discord_fake: FakeDiscord,
                                                                         discord_bot) -> None:  # type: ignore[no-untyped-def]
    """Part 2 is always refused: exactly ``delivery_max_attempts`` tries, then one sentence, then nothing.
    Before, every sweep (each 15 s) posted the reply again, without end."""
    adapter = await discord_bot(LONG, delivery_max_attempts=3)
    discord_fake.fail_if(starts("TWO "), times=None)
    thread = await first_attempt(discord_fake, adapter)
    for _ in range(5):
        await adapter.app.recover(adapter.send)
    assert len(tries(discord_fake, "TWO ")) == 3
    posted = [c for c in contents(discord_fake, thread) if not c.startswith("Sorry")]
    assert posted[0] == PARAS[0] and len(posted) == 2
    assert posted[1] == (f"{GIVE_UP}: part 2 of the text failed 3 times "
                         "(Discord answered 400: Invalid Form Body).")
    assert not any(c.startswith("THREE") for c in posted)
    turn = await adapter.app.repo.get_turn(1)
    assert turn.delivery == "delivered" and turn.delivery_attempts == 3
    assert turn.delivery_error == "part 1 (text): Discord answered 400: Invalid Form Body"
    assert (await adapter.app.repo.delivery_progress(1))[1].keys() == {0, -1}


async def test_discord_post_accepted_but_response_lost_is_not_created_twice(discord_fake: FakeDiscord,
                                                                            discord_bot) -> None:  # type: ignore[no-untyped-def]
    """Discord created the message but the bot never saw the answer: the retry carries the same nonce,
    and Discord returns the first message instead of creating a second. Before, each try drew a
    random nonce, so the retry posted the answer again."""
    adapter = await discord_bot("The answer.")
    discord_fake.lose_response_if(starts("The answer."))
    thread = await first_attempt(discord_fake, adapter)
    assert contents(discord_fake, thread)[0] == "The answer."

    await adapter.app.recover(adapter.send)
    assert [c for c in contents(discord_fake, thread) if not c.startswith("Sorry")] == ["The answer."]
    sent = tries(discord_fake, "The answer.")
    assert len(sent) == 2 and sent[0].json["nonce"] == sent[1].json["nonce"] == "ag1.0"
    turn = await adapter.app.repo.get_turn(1)
    created = discord_fake.created(thread)[0]
    assert turn.delivery == "delivered" and turn.reply_message_id == created["id"]


# --- Slack --------------------------------------------------------------------------------


@pytest.fixture
async def slack_fake() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    f.add_team(BOT_TOKEN, "T1")
    yield f
    await f.close()


def clean_up_script(messages: list[BaseMessage]) -> AIMessage:
    if not any(getattr(m, "type", "") == "tool" for m in messages):
        return call("speech_enhancement", {"audio": "a1"})
    return AIMessage(content="Here is the cleaned clip: a2.")


async def slack_turn(app_factory, settings: Settings, fake: FakeSlack, **overrides: Any):  # type: ignore[no-untyped-def]
    registry = Registry({"speech_enhancement": "test-gain"})
    registry.register(GainBackend())
    s = slack_settings(settings, fake, recovery_interval=0.0, **overrides)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=clean_up_script), registry=registry)
    return app, s


async def ask_for_a_file(rig: SlackRig, fake: FakeSlack) -> None:
    f = fake.add_file("noisy.wav", tone_wav(1.0), "audio/wav")
    await rig.event(mention("clean this up", "1700.1100", files=[f]))
    await fake.wait_for("files.completeUploadExternal", timeout=60)
    await asyncio.sleep(0.1)
    await rig.idle()


def ok(fake: FakeSlack, method: str) -> list[Any]:
    return [c for c in fake.calls_to(method) if c.ok]


async def test_slack_retry_resumes_at_the_upload_that_failed(app_factory, settings: Settings,
                                                            slack_fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    """The upload after the text fails once: the sweep uploads, and the text stays posted once.
    Before, the sweep posted the text again, then the upload."""
    app, s = await slack_turn(app_factory, settings, slack_fake)
    slack_fake.fail_if("files.completeUploadExternal", times=1)
    async with slack_rig(app, s, slack_fake) as rig:
        await ask_for_a_file(rig, slack_fake)
        assert len(ok(slack_fake, "chat.postMessage")) == 1 and not ok(slack_fake, "files.completeUploadExternal")
        await app.recover(rig.adapter.send)
        assert await app.recover(rig.adapter.send) == []
    texts = [c.args["text"] for c in ok(slack_fake, "chat.postMessage")]
    assert texts == ["Here is the cleaned clip: a2."]
    done = ok(slack_fake, "files.completeUploadExternal")
    assert len(done) == 1 and done[0].args["thread_ts"] == "1700.1100"
    turn = await app.repo.get_turn(1)
    assert turn.delivery == "delivered" and turn.delivery_attempts == 2


async def test_slack_answer_that_replaced_its_placeholder_is_not_overwritten_by_the_failure_note(
        app_factory, settings: Settings, slack_fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    """The text replaced the "Working…" message, then the upload failed: the text stays (the note that
    the answer will follow would overwrite it), and the sweep uploads without posting the text again."""
    app, s = await slack_turn(app_factory, settings, slack_fake)
    slack_fake.fail_if("files.completeUploadExternal", times=1)
    async with slack_rig(app, s, slack_fake, progress_delay=0.0) as rig:
        await ask_for_a_file(rig, slack_fake)
        await app.recover(rig.adapter.send)
    posts = ok(slack_fake, "chat.postMessage")
    assert len(posts) == 1 and "Working" in posts[0].args["text"]  # the placeholder; the answer replaced it
    updates = [c.args["text"] for c in ok(slack_fake, "chat.update")]
    assert updates[-1] == "Here is the cleaned clip: a2."
    assert len(ok(slack_fake, "files.completeUploadExternal")) == 1


async def test_slack_gives_up_after_the_last_attempt_with_one_sentence(app_factory, settings: Settings,
                                                                      slack_fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    """The upload always fails: two attempts (the setting), then one sentence in the thread, then nothing."""
    app, s = await slack_turn(app_factory, settings, slack_fake, delivery_max_attempts=2)
    slack_fake.fail_if("files.completeUploadExternal", times=None)
    async with slack_rig(app, s, slack_fake) as rig:
        await ask_for_a_file(rig, slack_fake)
        for _ in range(4):
            await app.recover(rig.adapter.send)
    assert len(slack_fake.calls_to("files.completeUploadExternal")) == 2
    posts = ok(slack_fake, "chat.postMessage")
    assert [c.args["text"] for c in posts] == [
        "Here is the cleaned clip: a2.",
        f"{GIVE_UP}: the upload of its files failed 2 times (Slack answered internal_error).",
    ]
    assert posts[1].args["thread_ts"] == "1700.1100"
    turn = await app.repo.get_turn(1)
    assert turn.delivery == "delivered" and turn.delivery_error == "part 1 (upload): Slack answered internal_error"


# --- storage ------------------------------------------------------------------------------


async def test_parts_are_recorded_once_per_turn(db_url: str) -> None:
    """The bookkeeping on both databases: a second record of a part keeps the first."""
    db = Database(db_url)
    await db.connect(retries=2, backoff=0.05)
    try:
        repo = Repository(db)
        start = await repo.start_turn("discord:dm:1", "discord", None, author="u", platform_message_id="m1",
                                      reply_to=None, is_voice=False, user_message=None, history_turns=1,
                                      setting_keys=())
        tid = start.turn.id
        await repo.finish_turn(tid, {"text": "hi"})
        assert await repo.delivery_progress(tid) == (0, {})
        assert await repo.claim_delivery(tid)
        await repo.record_reply_part(tid, 0, "text", "111")
        await repo.record_reply_part(tid, 0, "text", "222")  # a second sender after a lease expired
        await repo.record_reply_part(tid, 1, "upload", None)
        assert await repo.delivery_progress(tid) == (1, {0: "111", 1: None})
        await repo.give_up_delivery(tid, "part 2 (voice): refused")
        assert (await repo.get_turn(tid)).delivery_error == "part 2 (voice): refused"
    finally:
        await db.close()


def _migrate(revision: str):  # type: ignore[no-untyped-def]
    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        if revision == "head":
            command.upgrade(cfg, "head")
        else:
            command.downgrade(cfg, revision)

    return run


async def test_migration_0005_up_and_down(db_url: str) -> None:
    db = Database(db_url)
    await db.connect(retries=2, backoff=0.05)
    try:
        def shape(conn: Connection) -> tuple[bool, set[str]]:
            i = inspect(conn)
            return i.has_table("reply_parts"), {c["name"] for c in i.get_columns("turns")}

        async with db.engine.connect() as conn:
            has, cols = await conn.run_sync(shape)
            assert has and "delivery_error" in cols
        async with db.engine.begin() as conn:
            await conn.run_sync(_migrate("0004"))
        async with db.engine.connect() as conn:
            has, cols = await conn.run_sync(shape)
            assert not has and "delivery_error" not in cols
        await db.migrate()
        async with db.engine.connect() as conn:
            assert (await conn.run_sync(shape))[0]
    finally:
        await db.close()


def test_keys_fit_discords_nonce() -> None:
    from audiogpt.core.gate import NOTICE_PART, ReplyParts

    parts = ReplyParts(None, 2**53)
    assert all(len(parts.key(i) or "") <= 25 for i in (0, 999, NOTICE_PART))
    assert ReplyParts().key(0) is None  # untracked (no turn row): discord.py picks a random nonce
    assert json.dumps(parts.key(3)) == '"ag9007199254740992.3"'
