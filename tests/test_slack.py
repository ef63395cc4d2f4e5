"""Slack end to end: signed requests into the real bolt app, the real AsyncWebClient against a fake Web API."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from audiogpt.config import Settings
from tests.fake_slack import FakeSlack
from tests.helpers import ScriptedChatModel
from tests.slack_helpers import (
    BOT_TOKEN,
    SECRET,
    SlackRig,
    action_body,
    dm,
    event_body,
    mention,
    signed_headers,
    slack_rig,
)


def slack_settings(settings: Settings, fake: FakeSlack, **kw: Any) -> Settings:
    base = {"slack_bot_token": BOT_TOKEN, "slack_signing_secret": SECRET, "slack_api_url": fake.api_url,
            "slack_mode": "http", "slack_port": 0, "slack_host": "127.0.0.1"}
    return settings.model_copy(update={**base, **kw})


def answer_of(messages: list[BaseMessage]) -> AIMessage:
    human = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
    return AIMessage(content=f"You asked: {human.additional_kwargs['audiogpt']['text']}")


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    f.add_team(BOT_TOKEN, "T1")
    yield f
    await f.close()


@pytest.fixture
async def rig(app_factory, settings: Settings, fake: FakeSlack) -> AsyncIterator[SlackRig]:  # type: ignore[no-untyped-def]
    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=answer_of))
    async with slack_rig(app, s, fake) as r:
        yield r


async def test_mention_is_answered_in_its_thread_and_tokens_stay_out_of_logs(
        rig: SlackRig, fake: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    status, _ = await rig.event(mention("what can you do?", "1700.0001"))
    assert status == 200
    posts = await fake.wait_for("chat.postMessage", thread_ts="1700.0001")
    await rig.idle()
    assert len(posts) == 1 and posts[0].args["channel"] == "C1"
    assert posts[0].args["text"] == "You asked: what can you do?"
    assert posts[0].token == BOT_TOKEN
    assert json.loads(posts[0].args["blocks"])[0]["type"] == "section" if isinstance(posts[0].args["blocks"], str) \
        else posts[0].args["blocks"][0]["type"] == "section"
    conv = await rig.adapter.app.repo.find_conversation("slack:T1:C1:1700.0001")
    assert conv is not None and conv.workspace == "slack:T1"
    # a follow-up in the thread continues the same conversation
    await rig.event(mention("and then?", "1700.0002", thread_ts="1700.0001"))
    await fake.wait_for("chat.postMessage", 2, thread_ts="1700.0001")
    await rig.idle()
    assert len(await rig.adapter.app.repo.recent_turns(conv.id, 10)) == 2
    assert BOT_TOKEN not in caplog.text and SECRET not in caplog.text
    assert "xoxb-" not in caplog.text


async def test_retries_and_duplicates_give_one_answer(rig: SlackRig, fake: FakeSlack) -> None:
    ev = mention("hello", "1700.0100")
    first = await rig.event(ev)
    again = await asyncio.gather(rig.event(ev, retry=1), rig.event(ev, retry=2))
    assert first[0] == 200 and all(r[0] == 200 for r in again)
    await fake.wait_for("chat.postMessage", thread_ts="1700.0100")
    await rig.idle()
    await rig.event(ev, retry=3)  # a late retry, after the answer went out
    await rig.idle()
    assert len([c for c in fake.answers() if c.args.get("thread_ts") == "1700.0100"]) == 1


async def test_same_message_as_mention_and_dm_gives_one_answer(rig: SlackRig, fake: FakeSlack) -> None:
    await asyncio.gather(rig.event(mention("hi", "1700.0200", channel="D9")),
                         rig.event(dm("<@UBOT> hi", "1700.0200", channel="D9")))
    await fake.wait_for("chat.postMessage", thread_ts="1700.0200")
    await rig.idle()
    assert len([c for c in fake.answers() if c.args.get("thread_ts") == "1700.0200"]) == 1


@pytest.mark.parametrize("case", ["unsigned", "wrong", "stale"])
async def test_bad_signatures_get_401_and_run_nothing(rig: SlackRig, fake: FakeSlack, case: str) -> None:
    body = event_body(mention("hello", "1700.0300"))
    headers = {
        "unsigned": {"Content-Type": "application/json"},
        "wrong": signed_headers(body, secret="not-the-secret"),
        "stale": signed_headers(body, ts=int(time.time()) - 6 * 60),
    }[case]
    status, _ = await rig.post(body, headers=headers)
    assert status == 401
    await asyncio.sleep(0.2)
    await rig.idle()
    assert fake.calls == []
    assert await rig.adapter.app.repo.find_conversation("slack:T1:C1:1700.0300") is None


async def test_bot_and_edited_messages_are_ignored(rig: SlackRig, fake: FakeSlack) -> None:
    await rig.event({"type": "message", "subtype": "bot_message", "bot_id": "B2", "channel": "D1",
                     "channel_type": "im", "text": "beep", "ts": "1700.0400"})
    await rig.event({"type": "message", "subtype": "message_changed", "channel": "D1", "channel_type": "im",
                     "ts": "1700.0401", "message": {"text": "x"}})
    await rig.event({"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
                     "text": "talking among ourselves", "ts": "1700.0402"})
    await asyncio.sleep(0.1)
    await rig.idle()
    assert fake.answers() == []


async def test_rate_limited_web_api_is_retried_after_retry_after(rig: SlackRig, fake: FakeSlack) -> None:
    fake.rate_limit_once("chat.postMessage", retry_after=1)
    await rig.event(mention("hello", "1700.0500"))
    posts = await fake.wait_for("chat.postMessage", 2)
    await rig.idle()
    assert [c.args.get("thread_ts") for c in posts] == ["1700.0500", "1700.0500"]
    assert len(fake.answers()) == 2  # the 429 attempt and the retry; Slack saw one message


async def test_slow_turn_shows_one_working_message_replaced_by_the_answer(
        app_factory, settings: Settings, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=answer_of, delay=2.3))
    async with slack_rig(app, s, fake, progress_delay=0.3) as rig:
        await rig.event(mention("take your time", "1700.0600"))
        update = (await fake.wait_for("chat.update"))[0]
        await rig.idle()
    working = fake.calls_to("chat.postMessage")
    assert len(working) == 1 and working[0].args["text"].startswith("Working")
    assert working[0].args["thread_ts"] == "1700.0600"
    final = fake.calls_to("chat.update")[-1]
    assert final.args["ts"] == update.args["ts"] and final.args["text"] == "You asked: take your time"


async def test_dm_progress_uses_assistant_status_where_available(
        app_factory, settings: Settings, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=answer_of, delay=1.5))
    async with slack_rig(app, s, fake, progress_delay=0.3) as rig:
        await rig.event(dm("hello there", "1700.0700"))
        await fake.wait_for("chat.postMessage", thread_ts="1700.0700")
        await rig.idle()
        statuses = [c.args["status"] for c in fake.calls_to("assistant.threads.setStatus")]
        assert statuses[0].startswith("Working") and statuses[-1] == ""
        assert [c.args["text"] for c in fake.calls_to("chat.postMessage")] == ["You asked: hello there"]
        # where Slack refuses it, the working message is used instead
        fake.assistant_status = False
        await rig.event(dm("again", "1700.0800"))
        await fake.wait_for("chat.update")
        await rig.idle()
    assert [c.args["text"] for c in fake.calls_to("chat.postMessage")][-1].startswith("Working")


async def test_slash_command_is_acked_before_the_model_runs_then_answered(
        app_factory, settings: Settings, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    started, release = threading.Event(), threading.Event()

    def script(messages: list[BaseMessage]) -> AIMessage:
        started.set()
        release.wait(20)
        return answer_of(messages)

    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script))
    async with slack_rig(app, s, fake) as rig:
        status, _ = await rig.command("describe a thunderstorm")
        assert status == 200 and not release.is_set()  # the ack came back while the model was not done
        await asyncio.to_thread(started.wait, 20)
        release.set()
        answer = (await fake.wait_for("chat.update"))[-1]
        await rig.idle()
        root = fake.calls_to("chat.postMessage")[0]
        assert root.args["channel"] == "C1" and "thread_ts" not in root.args
        assert answer.args["ts"] == "1800000000.000001"  # the placeholder posted first became the answer
        assert answer.args["text"].endswith("You asked: describe a thunderstorm")
        blocks = answer.args["blocks"]
        blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
        button = blocks[-1]["elements"][0]
        assert button["action_id"] == "audiogpt_continue"
        key = button["value"]
        assert key == f"slack:T1:C1:{answer.args['ts']}"
        # the button opens the answer's thread, which is the same conversation
        status, _ = await rig.post(action_body(key), content_type="application/x-www-form-urlencoded")
        assert status == 200
        await fake.wait_for("chat.postMessage", thread_ts=answer.args["ts"])
        await rig.idle()


async def test_ephemeral_slash_command_answers_through_response_url(
        app_factory, settings: Settings, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    s = slack_settings(settings, fake, slack_command_ephemeral=True)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=answer_of))
    async with slack_rig(app, s, fake) as rig:
        status, body = await rig.command("hum a tune", trigger="trigX")
        assert status == 200 and "Working" in body
        reply = (await fake.wait_for("respond"))[0]
        await rig.idle()
        assert reply.args["response_type"] == "ephemeral" and reply.args["text"].endswith("You asked: hum a tune")
        assert fake.calls_to("chat.postMessage") == []
        key = "slack:T1:C1:cmd-trigX"
        assert reply.args["blocks"][-1]["elements"][0]["value"] == key
        # "Continue in a thread" posts a root message whose thread continues the same conversation
        await rig.post(action_body(key), content_type="application/x-www-form-urlencoded")
        await fake.wait_for("chat.postMessage", 2)
        await rig.idle()
        root_ts = "1800000000.000001"
        assert fake.calls_to("chat.postMessage")[1].args["thread_ts"] == root_ts
        await rig.event(mention("and slower?", "1800000001.000001", thread_ts=root_ts))
        await fake.wait_for("chat.postMessage", 3)
        await rig.idle()
        conv = await app.repo.find_conversation(key)
        assert conv is not None and len(await app.repo.recent_turns(conv.id, 10)) == 2


async def test_recovered_reply_is_posted_in_its_thread(rig: SlackRig, fake: FakeSlack) -> None:
    from audiogpt.core.events import Outgoing

    ts = await rig.adapter.send(Outgoing(conversation="slack:T1:C1:1700.0900", text="Here is what I found."))
    call = fake.calls_to("chat.postMessage")[0]
    assert call.args["thread_ts"] == "1700.0900" and call.args["text"] == "Here is what I found."
    assert ts == "1800000000.000001"


async def test_per_workspace_rate_limit_gets_a_polite_ephemeral_message(rig: SlackRig, fake: FakeSlack) -> None:
    await rig.adapter.app.repo.set_setting("slack:T1", "rate_user_per_minute", 1)
    await rig.event(mention("one", "1701.0001"))
    await fake.wait_for("chat.postMessage", thread_ts="1701.0001")
    await rig.event(mention("two", "1701.0002"))
    note = (await fake.wait_for("chat.postEphemeral"))[0]
    await rig.idle()
    assert note.args["user"] == "U1" and note.args["thread_ts"] == "1701.0002"
    assert "faster than I can answer" in note.args["text"]
    assert [c.args["thread_ts"] for c in fake.calls_to("chat.postMessage")] == ["1701.0001"]
    # another user of the workspace is still answered
    await rig.event(mention("three", "1701.0003", user="U2"))
    await fake.wait_for("chat.postMessage", thread_ts="1701.0003")
    await rig.idle()


async def test_socket_mode_events_and_commands(app_factory, settings: Settings, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.bots.slack.adapter import SlackAdapter

    fake.app_tokens.add("xapp-1-socket")
    s = settings.model_copy(update={"slack_bot_token": BOT_TOKEN, "slack_app_token": "xapp-1-socket",
                                    "slack_api_url": fake.api_url, "slack_signing_secret": None})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=answer_of))
    adapter = SlackAdapter(app, s)
    assert adapter.mode == "socket"
    adapter.progress_delay = 10.0
    task = asyncio.create_task(adapter.start())
    try:
        await asyncio.wait_for(adapter.ready.wait(), 10)
        await fake.send_envelope("events_api", json.loads(event_body(mention("over the socket", "1702.0001"))), "env-1")
        post = (await fake.wait_for("chat.postMessage", thread_ts="1702.0001"))[0]
        assert post.args["text"] == "You asked: over the socket" and post.token == BOT_TOKEN
        await fake.send_envelope("slash_commands", {"team_id": "T1", "channel_id": "C1", "user_id": "U1",
                                                    "command": "/audiogpt", "text": "via socket",
                                                    "trigger_id": "trigS", "response_url": fake.response_url()},
                                 "env-2")
        await fake.wait_for("chat.update")
        await asyncio.sleep(0.05)
        assert {"env-1", "env-2"} <= {a.get("envelope_id") for a in fake.socket_acks}
    finally:
        await adapter.stop()
        await asyncio.wait_for(task, 30)


async def test_a_reply_left_by_a_dead_process_is_delivered_once_after_restart(rig: SlackRig, fake: FakeSlack) -> None:
    from audiogpt.core.events import Incoming

    app = rig.adapter.app
    # the previous process finished the turn but died before posting it
    out = await app.dialogue.handle(Incoming(platform="slack", conversation="slack:T1:C1:1703.0001", author="U1",
                                             text="are you there?", reply_to="1703.0001", workspace="slack:T1",
                                             message_id="1703.0001"))
    assert fake.calls == []
    delivered = await app.recover(rig.adapter.send)
    assert [o.turn_id for o in delivered] == [out.turn_id]
    assert await app.recover(rig.adapter.send) == []
    # Slack redelivers the same event after the restart: still one answer
    await rig.event(mention("are you there?", "1703.0001"))
    await asyncio.sleep(0.2)
    await rig.idle()
    posts = fake.calls_to("chat.postMessage")
    assert len(posts) == 1 and posts[0].args["thread_ts"] == "1703.0001"
    assert posts[0].args["text"] == "You asked: are you there?"
    turn = await app.repo.get_turn(out.turn_id)
    assert turn.delivery == "delivered"


async def test_event_is_acked_while_the_model_is_still_working(
        app_factory, settings: Settings, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    started, release = threading.Event(), threading.Event()

    def script(messages: list[BaseMessage]) -> AIMessage:
        started.set()
        release.wait(20)
        return answer_of(messages)

    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script))
    async with slack_rig(app, s, fake) as rig:
        await rig.event(mention("first", "1704.0001"))
        await asyncio.to_thread(started.wait, 20)  # the model is busy with the first turn
        status, _ = await rig.event(mention("second", "1704.0002"))
        assert status == 200 and not release.is_set()
        release.set()
        await fake.wait_for("chat.postMessage", 2)
        await rig.idle()
