"""The Discord adapter: the real discord.py client against a fake Discord on loopback.

Each test starts :class:`tests.fake_discord.FakeDiscord`, points the bot at it
with ``DISCORD_API_BASE_URL``, sends gateway events and asserts on the REST
requests the bot made. The model side is a scripted chat model and small real
backends; nothing of the adapter is mocked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from audiogpt.bots.discord.adapter import DiscordAdapter
from audiogpt.config import Settings
from audiogpt.core.events import Incoming, Outgoing
from audiogpt.core.media import encode_voice_message, probe
from audiogpt.models.base import Audio, BackendInfo, BackendResult, OutputFile
from audiogpt.models.registry import Registry
from tests.fake_discord import (
    BOT_ID,
    CHANNEL_ID,
    EVERYONE_PERMISSIONS,
    GUILD_ID,
    MANAGE_GUILD,
    MUTED_CHANNEL_ID,
    USER_ID,
    FakeDiscord,
    user,
)
from tests.helpers import GainBackend, ScriptedChatModel, call, tone_wav

BOT = user(BOT_ID, "audiogpt", bot=True)
DM_ID = "940000000000000001"


def fake_path(data: bytes, name: str = "x.ogg") -> Path:
    """Write bytes the bot uploaded to a temp file, to probe them."""
    d = Path(tempfile.mkdtemp(prefix="discord-test-"))
    p = d / Path(name).name
    p.write_bytes(data)
    return p


def say(text: str) -> Callable[[list[BaseMessage]], AIMessage]:
    return lambda messages: AIMessage(content=text)


def echo(messages: list[BaseMessage]) -> AIMessage:
    last = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
    return AIMessage(content=f"you said: {last.additional_kwargs['audiogpt']['text']}")


def enhance_script(messages: list[BaseMessage]) -> AIMessage:
    i = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    results = [json.loads(m.content) for m in messages[i:] if isinstance(m, ToolMessage)]
    if not results:
        att = messages[i].additional_kwargs["audiogpt"]["attachments"]
        return call("speech_enhancement", {"audio": att[0] if att else "a99"})
    r = results[-1]
    return AIMessage(content=f"Cleaned up: {r['artifacts'][0]['id']}." if r["ok"] else f"Sorry: {r['error']}")


def registry_with(*backends: Any) -> Registry:
    reg = Registry(factories=[])
    for b in backends:
        reg.register(b)
    return reg


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    f = await FakeDiscord().start()
    yield f
    await f.close()


@pytest.fixture
async def bot(fake: FakeDiscord, app_factory, settings: Settings):  # type: ignore[no-untyped-def]
    """Start the adapter on an App against the fake; ``await bot(model=..., registry=..., **settings)``."""
    started: list[tuple[DiscordAdapter, asyncio.Task[None]]] = []

    async def make(model: Any = None, registry: Registry | None = None, **overrides: Any) -> DiscordAdapter:
        # no status message unless a test asks for one: a slow CI machine must not change what is posted
        s = settings.model_copy(update={"discord_token": "fake-token", "discord_api_base_url": fake.api_base,
                                        "discord_status_after": 600.0, **overrides})
        # "offline": the real offline engine (routes free text to tools, no LLM)
        model = None if model == "offline" else model or ScriptedChatModel(script=say("Hello!"))
        app = await app_factory(settings=s, model=model,
                                registry=registry or registry_with(GainBackend()))
        adapter = DiscordAdapter(app)
        task = asyncio.create_task(adapter.start())
        started.append((adapter, task))
        await fake.wait_ready()
        return adapter

    yield make
    for adapter, task in started:
        await adapter.stop()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def posts(fake: FakeDiscord, channel: str) -> list[Any]:
    return fake.sent("POST", rf"^/channels/{channel}/messages$")


async def test_mention_starts_a_thread_and_answers_in_it(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=echo))
    msg = await fake.message_create(f"<@{BOT_ID}> what can you do?", mentions=[BOT])
    answers = await fake.wait_for(lambda: posts(fake, msg["id"]))
    threads = fake.sent("POST", rf"^/channels/{CHANNEL_ID}/messages/{msg['id']}/threads$")
    assert len(threads) == 1 and threads[0].json["name"] == "what can you do?"
    assert answers[0].content == "you said: what can you do?"
    assert answers[0].json["allowed_mentions"]["parse"] == []
    assert not posts(fake, CHANNEL_ID), "the answer goes in the thread, not the channel"
    # in the thread, the next message needs no mention and continues the same conversation
    await fake.message_create("and then?", channel_id=msg["id"])
    second = await fake.wait_for(lambda: posts(fake, msg["id"])[1:])
    assert second[0].content == "you said: and then?"
    assert len(fake.sent("POST", r"/threads$")) == 1


async def test_messages_not_for_the_bot_are_ignored(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot()
    await fake.message_create("just chatting among humans")
    await fake.message_create(f"<@{BOT_ID}> hi", author=user("930000000000000005", "otherbot", bot=True),
                              mentions=[BOT])
    await fake.message_create(f"<@{BOT_ID}> hello there", channel_id=MUTED_CHANNEL_ID, mentions=[BOT])
    marker = await fake.message_create(f"<@{BOT_ID}> ping", mentions=[BOT])
    await fake.wait_for(lambda: posts(fake, marker["id"]))
    assert [r.path for r in fake.sent("POST", r"/threads$")] == [f"/channels/{CHANNEL_ID}/messages/{marker['id']}/threads"]


# --- small real backends for the voice path ---------------------------------------------------


class HeardASR:
    """speech_recognition that reports a fixed transcript, after checking it got real decoded audio."""

    name, task, kind = "test-asr", "speech_recognition", "lite"

    def __init__(self) -> None:
        self.durations: list[float] = []

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        return object()

    def run(self, model: Any, *, audio: Audio, language: str | None = None) -> BackendResult:
        self.durations.append(audio.duration)
        return BackendResult(text='(lite: test-asr) "play a tone"', data={"transcript": "play a tone", "language": "en"})


class ToneTTS:
    """text_to_speech that 'speaks' a 1.5 s tone with a rising envelope (so the waveform has a shape)."""

    name, task, kind = "test-tts", "text_to_speech", "lite"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        return object()

    def run(self, model: Any, *, text: str, voice: str | None = None, language: str | None = None) -> BackendResult:
        sr = 22050
        t = np.arange(int(1.5 * sr)) / sr
        x = (np.linspace(0.05, 0.8, t.size) * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
        return BackendResult(text="(lite: test-tts) spoke", outputs=[OutputFile("speech", audio=Audio(x, sr))])


def voice_clip(seconds: float = 2.0) -> bytes:
    sr = 48000
    t = np.arange(int(seconds * sr)) / sr
    return encode_voice_message(Audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)).data


async def test_voice_message_in_gets_transcript_and_voice_message_out(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    asr = HeardASR()
    await bot(model=ScriptedChatModel(script=say("Here is your tone.")), registry=registry_with(asr, ToneTTS()))
    clip = voice_clip()
    att = fake.add_file(clip, "voice-message.ogg", "audio/ogg",
                        extra={"duration_secs": 2.0, "waveform": base64.b64encode(bytes(range(0, 256, 4))).decode()})
    await fake.message_create("", guild=False, channel_id=DM_ID, attachments=[att], flags=8192)
    voice = await fake.wait_for(lambda: [r for r in posts(fake, DM_ID) if r.json and r.json.get("flags") == 8192])
    texts = [r.content for r in posts(fake, DM_ID) if r.content]
    assert texts == ['You said: "play a tone"\nHere is your tone.']
    assert asr.durations and 1.9 < asr.durations[0] < 2.2  # the attachment was downloaded and decoded
    body = voice[0].json
    assert body["flags"] == 8192 and not body.get("content")
    meta = body["attachments"][0]
    assert abs(meta["duration_secs"] - 1.5) < 0.1
    wave_bytes = base64.b64decode(meta["waveform"])
    assert 0 < len(wave_bytes) <= 256
    assert wave_bytes[-1] > wave_bytes[0] + 50  # computed from the audio: the tone gets louder
    (_field, name, data), = voice[0].files
    assert name.endswith(".ogg") and data[:4] == b"OggS"
    path = fake_path(data)
    info = probe(path)
    assert info.codec and "opus" in info.codec.lower() and info.sample_rate == 48000 and info.channels == 1
    assert not fake.sent("POST", r"/threads$"), "a DM is its own conversation: no thread"


async def test_slash_command_defers_then_follows_up(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=echo))
    inter = await fake.interaction_create("audiogpt", [{"name": "prompt", "type": 3, "value": "hello there"}])
    follow = await fake.wait_for(lambda: fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$"))
    callbacks = fake.sent("POST", rf"^/interactions/{inter['id']}/{inter['token']}/callback$")
    assert len(callbacks) == 1 and callbacks[0].json["type"] == 5  # deferred, "thinking…"
    assert callbacks[0].at <= follow[0].at
    assert follow[0].content == "you said: hello there"
    assert follow[0].json["allowed_mentions"]["parse"] == []


async def test_slash_settings_need_manage_server(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    adapter = await bot()
    opts = [{"name": "answer_in", "type": 3, "value": "inline"}, {"name": "disable_tool", "type": 3, "value": "text_to_music"}]
    inter = await fake.interaction_create("settings", opts)
    refused = await fake.wait_for(lambda: fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$"))
    assert "Manage Server" in refused[0].content
    assert await adapter.app.repo.get_setting(GUILD_ID, "answer_in_threads") is None
    inter = await fake.interaction_create("settings", opts, permissions=int(EVERYONE_PERMISSIONS) | MANAGE_GUILD)
    ok = await fake.wait_for(lambda: fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$"))
    assert "Answers: inline" in ok[0].content and "`text_to_music`" in ok[0].content
    assert await adapter.app.repo.get_setting(GUILD_ID, "answer_in_threads") is False
    assert await adapter.app.repo.get_setting(GUILD_ID, "disabled_tools") == ["text_to_music"]
    # the guild's setting now applies: a mention is answered inline, as a reply
    msg = await fake.message_create(f"<@{BOT_ID}> hi", mentions=[BOT])
    answer = await fake.wait_for(lambda: posts(fake, CHANNEL_ID))
    assert str(answer[0].json["message_reference"]["message_id"]) == msg["id"]
    assert not fake.sent("POST", r"/threads$")


async def test_slash_tools_and_reset(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    adapter = await bot(model=ScriptedChatModel(script=echo))
    inter = await fake.interaction_create("tools")
    def listing() -> str:
        return "\n".join(r.content or "" for r in fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$"))

    text = await fake.wait_for(lambda: "text_to_music" in listing() and listing())
    assert "`speech_enhancement`: ready (test-gain)" in text and "`text_to_music`: unavailable" in text
    inter = await fake.interaction_create("reset")
    await fake.wait_for(lambda: fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$"))
    assert await adapter.epoch("channel", int(CHANNEL_ID)) == 1
    inter = await fake.interaction_create("audiogpt", [{"name": "prompt", "type": 3, "value": "fresh start"}])
    await fake.wait_for(lambda: fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$"))
    assert await adapter.app.repo.find_conversation(f"discord:channel:{CHANNEL_ID}:1") is not None


async def test_duplicate_message_create_gets_one_answer(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=say("Only once."), delay=0.3))
    payload = fake.message_payload(f"<@{BOT_ID}> hello", mentions=[BOT])
    await fake.message_create(payload=payload)
    await fake.message_create(payload=dict(payload))  # redelivered while the first is running
    await fake.wait_for(lambda: posts(fake, payload["id"]))
    await fake.message_create(payload=dict(payload))  # and again after it was answered (a resume)
    marker = await fake.message_create(f"<@{BOT_ID}> marker", mentions=[BOT])
    await fake.wait_for(lambda: posts(fake, marker["id"]))
    await asyncio.sleep(0.3)
    assert [r.content for r in posts(fake, payload["id"])] == ["Only once."]


async def test_recovered_reply_is_posted_once_by_key(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    adapter = await bot(model=ScriptedChatModel(script=say("From before the restart.")))
    out = await adapter.app.dialogue.handle(Incoming(platform="discord", conversation=f"discord:channel:{CHANNEL_ID}",
                                                     author=USER_ID, text="hi", reply_to="123", message_id="123"))
    sent_ids: list[str | None] = []

    async def send(o: Outgoing) -> None:
        sent_ids.append(await adapter.send(o))

    assert [o.text for o in await adapter.app.recover(send)] == ["From before the restart."]
    assert await adapter.app.recover(send) == []
    posted = posts(fake, CHANNEL_ID)
    assert [r.content for r in posted] == ["From before the restart."] and out.turn_id is not None
    assert str(posted[0].json["message_reference"]["message_id"]) == "123"
    assert sent_ids and sent_ids[0] and sent_ids[0].isdigit()


async def test_too_large_result_is_reencoded(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=enhance_script), discord_upload_limit_mb=0.2)
    wav = tone_wav(4.0, sr=48000)  # 384 kB; the enhanced copy is the same size, over the 0.2 MB limit
    att = fake.add_file(wav, "take.wav", "audio/wav")
    msg = await fake.message_create(f"<@{BOT_ID}> clean this up", mentions=[BOT], attachments=[att])
    answer = await fake.wait_for(lambda: [r for r in posts(fake, msg["id"]) if r.files])
    (_f, name, data), = answer[0].files
    assert len(data) <= 0.2 * 1024 * 1024 and name.startswith("a2-") and not name.endswith(".wav")
    assert abs(probe(fake_path(data, name)).duration - 4.0) < 0.2
    assert answer[0].content == "Cleaned up: a2."


async def test_429_is_retried_after_the_delay(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot()
    fake.rate_limit_once("POST", r"^/channels/\d+/messages$", 0.6)
    msg = await fake.message_create(f"<@{BOT_ID}> hi", mentions=[BOT])
    await fake.wait_for(lambda: posts(fake, msg["id"]))
    tries = [r for r in fake.requests if r.method == "POST" and r.path == f"/channels/{msg['id']}/messages"]
    assert [r.status for r in tries] == [429, 200]
    assert tries[1].at - tries[0].at >= 0.6


async def test_long_answers_are_split_and_nobody_is_pinged(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    words = " ".join(f"word{i}" for i in range(450))
    code = "```python\n" + "\n".join(f"x{i} = {i}  # a line of code" for i in range(80)) + "\n```"
    text = f"@everyone <@&123> {words}\n\n{code}\n\nThe end."
    await bot(model=ScriptedChatModel(script=say(text)))
    msg = await fake.message_create(f"<@{BOT_ID}> write a lot", mentions=[BOT])
    await fake.wait_for(lambda: any("The end." in (r.content or "") for r in posts(fake, msg["id"])))
    chunks = [r.content or "" for r in posts(fake, msg["id"])]
    assert len(chunks) >= 3 and all(len(c) <= 2000 for c in chunks)
    assert all(c.count("```") % 2 == 0 for c in chunks)  # every chunk's code fences are closed
    joined = " ".join(chunks).split()
    assert [w for w in joined if w.startswith("word")] == words.split()  # no word was cut
    assert all(r.json["allowed_mentions"]["parse"] == [] and not r.json["allowed_mentions"].get("roles")
               for r in posts(fake, msg["id"]))
    assert chunks[0].startswith("@everyone")


async def test_rate_limit_answers_politely(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(rate_user_per_minute=1)
    first = await fake.message_create(f"<@{BOT_ID}> one", mentions=[BOT])
    await fake.wait_for(lambda: posts(fake, first["id"]))
    second = await fake.message_create(f"<@{BOT_ID}> two", mentions=[BOT])
    note = await fake.wait_for(lambda: posts(fake, CHANNEL_ID))
    assert "faster than I can answer" in note[0].content
    assert str(note[0].json["message_reference"]["message_id"]) == second["id"]
    assert not posts(fake, second["id"]) and len(fake.sent("POST", r"/threads$")) == 1


async def test_huge_attachment_is_refused_before_download(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=enhance_script))
    att = fake.add_file(b"RIFF....", "huge.wav", "audio/wav", size=500 * 1024 * 1024)
    msg = await fake.message_create(f"<@{BOT_ID}> clean this", mentions=[BOT], attachments=[att])
    answer = await fake.wait_for(lambda: posts(fake, msg["id"]))
    assert "huge.wav" in answer[0].content and "limit" in answer[0].content
    assert not [r for r in fake.requests if r.path == f"/attachments/{att['id']}"]


async def test_broken_attachment_urls_get_a_clear_message(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=enhance_script), discord_fetch_timeout=0.5)
    gone = fake.add_file(None, "gone.wav", "audio/wav", size=1000)
    slow = fake.add_file(b"x" * 1000, "slow.wav", "audio/wav", slow=True)
    for att in (gone, slow):
        msg = await fake.message_create(f"<@{BOT_ID}> clean this", mentions=[BOT], attachments=[att])
        answer = await fake.wait_for(lambda m=msg: posts(fake, m["id"]))
        assert f"could not download '{att['filename']}'" in answer[0].content


async def test_long_job_shows_a_status_message_replaced_by_the_answer(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend(sleep=1.5)),
              discord_status_after=0.2)
    att = fake.add_file(tone_wav(1.0), "take.wav", "audio/wav")
    msg = await fake.message_create(f"<@{BOT_ID}> clean this up", mentions=[BOT], attachments=[att])
    await fake.wait_for(lambda: any(r.content == "Cleaned up: a2." for r in posts(fake, msg["id"])))
    await fake.wait_for(lambda: fake.sent("DELETE", rf"^/channels/{msg['id']}/messages/\d+$"))
    status = posts(fake, msg["id"])[0]
    assert status.content in ("thinking…", "cleaning up the audio…")
    edits = fake.sent("PATCH", rf"^/channels/{msg['id']}/messages/\d+$")
    assert any(e.json["content"] == "cleaning up the audio…" for e in edits) or status.content == "cleaning up the audio…"
    assert all(b.at - a.at >= 0.95 for a, b in itertools.pairwise(edits))
    assert fake.sent("POST", rf"^/channels/{msg['id']}/typing$")
    deleted = fake.sent("DELETE", rf"^/channels/{msg['id']}/messages/\d+$")
    answer = next(r for r in posts(fake, msg["id"]) if r.content == "Cleaned up: a2.")
    assert len(deleted) == 1 and deleted[0].at >= answer.at  # the answer is up before the status goes


async def test_reply_to_the_bot_and_blocked_users(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=echo), discord_blocked_users=["930000000000000007"],
              discord_answer_in_threads=False)
    mine = fake.message_payload("an earlier answer", author=BOT)
    await fake.message_create("ignore me", author=user("930000000000000007", "mallory"), reference=mine)
    reply = await fake.message_create("tell me more", reference=mine)
    answer = await fake.wait_for(lambda: posts(fake, CHANNEL_ID))
    assert [r.content for r in answer] == ["you said: tell me more"]
    assert str(answer[0].json["message_reference"]["message_id"]) == reply["id"]


async def test_allowed_guilds(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(discord_allowed_guilds=["123"])
    await fake.message_create(f"<@{BOT_ID}> hi", mentions=[BOT])
    dm = await fake.message_create("hi in a DM", guild=False, channel_id=DM_ID)
    await fake.wait_for(lambda: posts(fake, dm["channel_id"]))
    assert not fake.sent("POST", r"/threads$") and not posts(fake, CHANNEL_ID)


async def test_transcribe_and_speak_commands_through_the_offline_engine(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model="offline", registry=registry_with(HeardASR(), ToneTTS()))
    att = fake.add_file(voice_clip(1.0), "memo.ogg", "audio/ogg")
    inter = await fake.interaction_create("transcribe", [{"name": "file", "type": 11, "value": att["id"]}],
                                          resolved={"attachments": {att["id"]: att}})
    follow = await fake.wait_for(lambda: fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$"), timeout=60)
    assert "play a tone" in follow[0].content
    inter = await fake.interaction_create("speak", [{"name": "text", "type": 3, "value": "good morning"}])
    follow = await fake.wait_for(lambda: fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$"), timeout=60)
    assert follow[0].files and follow[0].files[0][1].endswith(".wav")


async def test_redelivery_after_a_resume_gets_no_second_answer(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=say("Once.")))
    msg = await fake.message_create(f"<@{BOT_ID}> hi", mentions=[BOT])
    await fake.wait_for(lambda: posts(fake, msg["id"]))
    await fake.drop_connections()
    await fake.wait_for(lambda: fake.resumes == 1 and any(s.ready for s in fake._sockets))
    await fake.message_create(payload=dict(msg))  # Discord replays the event after the resume
    marker = await fake.message_create(f"<@{BOT_ID}> marker", mentions=[BOT])
    await fake.wait_for(lambda: posts(fake, marker["id"]))
    assert [r.content for r in posts(fake, msg["id"])] == ["Once."]


async def test_a_refused_post_says_so_and_is_posted_by_recovery(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    adapter = await bot(model=ScriptedChatModel(script=say("The answer."), delay=0.5), discord_status_after=0.1)
    msg = await fake.message_create(f"<@{BOT_ID}> hi", mentions=[BOT])
    await fake.wait_for(lambda: posts(fake, msg["id"]))  # the status message is up
    fake.fail_once("POST", rf"^/channels/{msg['id']}/messages$")
    edit = await fake.wait_for(lambda: fake.sent("PATCH", rf"^/channels/{msg['id']}/messages/\d+$"))
    assert "refused my answer" in edit[-1].json["content"]
    assert [r.content for r in posts(fake, msg["id"])] == ["thinking…"]
    await adapter.app.recover(adapter.send)
    assert [r.content for r in posts(fake, msg["id"])] == ["thinking…", "The answer."]


async def test_gateway_url_comes_from_the_rest_base_or_the_override(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot()
    assert fake.gateway_paths == ["/gateway"] and fake.sent("GET", r"^/gateway/bot$")
    assert fake.identify is not None and fake.identify["token"] == "fake-token"
    assert fake.identify["intents"] & (1 << 15)  # Message Content
    other = await FakeDiscord().start()
    try:
        await bot(discord_api_base_url=other.api_base, discord_gateway_url=f"ws://127.0.0.1:{fake.port}/other-gateway")
        await fake.wait_for(lambda: len(fake.gateway_paths) == 2)
        assert fake.gateway_paths == ["/gateway", "/other-gateway"]  # the override wins
        assert not other.sent("GET", r"^/gateway/bot$") and other.sent("GET", r"^/users/@me$")
    finally:
        await other.close()


async def test_no_thread_possible_answers_inline(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=echo))
    fake.fail_once("POST", r"/threads$", status=403, code=50013)
    msg = await fake.message_create(f"<@{BOT_ID}> hi", mentions=[BOT])
    answer = await fake.wait_for(lambda: posts(fake, CHANNEL_ID))
    assert answer[0].content == "you said: hi"
    assert str(answer[0].json["message_reference"]["message_id"]) == msg["id"]


async def test_slash_command_progress_edits_the_deferred_response(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    await bot(model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend(sleep=1.5)),
              discord_status_after=0.2)
    att = fake.add_file(tone_wav(1.0), "take.wav", "audio/wav")
    inter = await fake.interaction_create("audiogpt", [{"name": "prompt", "type": 3, "value": "clean this up"},
                                                       {"name": "file", "type": 11, "value": att["id"]}],
                                          resolved={"attachments": {att["id"]: att}})
    original = rf"^/webhooks/{BOT_ID}/{inter['token']}/messages/@original$"
    await fake.wait_for(lambda: fake.sent("DELETE", original))
    edits = fake.sent("PATCH", original)
    assert edits and edits[0].json["content"] in ("thinking…", "cleaning up the audio…")
    follow = fake.sent("POST", rf"^/webhooks/{BOT_ID}/{inter['token']}$")
    assert follow[0].content == "Cleaned up: a2." and follow[0].files
    assert fake.sent("DELETE", original)[0].at >= follow[0].at


async def test_missing_message_content_intent_is_one_clear_sentence(fake: FakeDiscord, app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    fake.refuse_intents = True
    s = settings.model_copy(update={"discord_token": "fake-token", "discord_api_base_url": fake.api_base})
    adapter = DiscordAdapter(await app_factory(settings=s, model=ScriptedChatModel(script=say("x"))))
    with pytest.raises(RuntimeError, match="Message Content Intent"):
        await asyncio.wait_for(adapter.start(), 30)
    await adapter.stop()


@pytest.mark.parametrize("compress", ["zstd-stream", "zlib-stream", None])
async def test_fake_gateway_speaks_each_transport_compression(fake: FakeDiscord, compress: str | None) -> None:
    """The fake answers in the compression a client asks for, as Discord does."""
    import zlib

    import aiohttp
    import zstandard

    query = {"v": "10", "encoding": "json", **({"compress": compress} if compress else {})}
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.gateway_url, params=query) as ws:
        msg = await ws.receive(timeout=10)
        if compress == "zstd-stream":
            text = zstandard.ZstdDecompressor().decompressobj().decompress(msg.data).decode()
        elif compress == "zlib-stream":
            assert msg.data[-4:] == b"\x00\x00\xff\xff"
            text = zlib.decompressobj().decompress(msg.data).decode()
        else:
            text = msg.data
        hello = json.loads(text)
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0


async def test_bad_token_and_unreachable_api_are_one_sentence(fake: FakeDiscord, app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    app = await app_factory(settings=settings.model_copy(update={
        "discord_token": "bad-token", "discord_api_base_url": fake.api_base}), model=ScriptedChatModel(script=say("x")))
    with pytest.raises(RuntimeError, match="Discord refused the token"):
        await DiscordAdapter(app).start()
    port = fake.port
    await fake.close()
    app.settings = app.settings.model_copy(update={"discord_token": "x",
                                                   "discord_api_base_url": f"http://127.0.0.1:{port}/api/v10"})
    with pytest.raises(RuntimeError, match="Could not reach the Discord API"):
        await DiscordAdapter(app).start()


async def test_shard_settings_identify_as_that_shard(fake: FakeDiscord, bot) -> None:  # type: ignore[no-untyped-def]
    """Several bot processes: each identifies as its own shard, so Discord splits the guilds between them."""
    adapter = await bot(discord_shard_count=3, discord_shard_id=2)
    assert fake.identify is not None and fake.identify.get("shard") == [2, 3]
    assert adapter.client.shard_id == 2 and adapter.client.shard_count == 3
