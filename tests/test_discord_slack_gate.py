"""The turn gate every platform shares (``core/gate.py``), checked through both real clients.

Discord runs discord.py against the fake Discord, Slack runs bolt against the fake Web API;
the same facts must hold on both: a message delivered twice while its turn runs is let in
once, the voice reply is the speaking tool's audio (by catalogue role, not by name or by
position), progress is worded by the catalogue, and the settings cache has one TTL. The
events the gate passes around round-trip through ``to_dict``/``from_dict``, and the outbox
stores exactly that.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from audiogpt.bots.discord.adapter import DiscordAdapter
from audiogpt.config import Settings
from audiogpt.core.events import (
    ArtifactOut,
    Attachment,
    Incoming,
    Outgoing,
    Progress,
    ToolCallRecord,
)
from audiogpt.core.gate import TurnGate, progress_label, voice_artifact
from audiogpt.core.media import decode_audio_bytes, encode_audio, encode_voice_message
from audiogpt.core.tools import TOOLS, ToolArgs, ToolSpec, register_tool
from audiogpt.models.base import Audio, BackendInfo, BackendResult, OutputFile
from audiogpt.models.registry import Registry
from tests.fake_discord import BOT_ID, FakeDiscord, user
from tests.fake_slack import FakeSlack
from tests.helpers import GainBackend, ScriptedChatModel, tone_wav
from tests.slack_helpers import BOT_TOKEN, SECRET, dm, mention, slack_rig

BOT = user(BOT_ID, "audiogpt", bot=True)
DM_ID = "940000000000000002"
NARRATE = "narrate_for_gate_test"  # a tool no table in bots/ can know: only its catalogue roles say it speaks
NARRATING = "reading it out for the gate test"
SPOKEN_S = 1.5  # the narrator's clip; the enhanced copy of the 2 s input is told apart by its length


# --- a temporary speaking tool -----------------------------------------------------------------


class NarrateArgs(ToolArgs):
    text: str


class Narrator:
    """The backend of the temporary tool: a 1.5 s tone, after a pause long enough to show progress."""

    name, task, kind = "test-narrator", NARRATE, "lite"

    def __init__(self, sleep: float = 0.0) -> None:
        self.sleep = sleep

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        return object()

    def run(self, model: Any, *, text: str) -> BackendResult:
        import time

        time.sleep(self.sleep)
        sr = 22050
        t = np.arange(int(SPOKEN_S * sr)) / sr
        x = (0.5 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
        return BackendResult(text="narrated", outputs=[OutputFile("narration", audio=Audio(x, sr))])


class HeardASR:
    name, task, kind = "test-asr", "speech_recognition", "lite"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        return object()

    def run(self, model: Any, *, audio: Audio, language: str | None = None) -> BackendResult:
        return BackendResult(text='"clean this and read it out"',
                             data={"transcript": "clean this and read it out", "language": "en"})


@pytest.fixture
def narrate_tool() -> Iterator[str]:
    register_tool(ToolSpec(name=NARRATE, description="Read a text aloud (a test tool).", args=NarrateArgs,
                           produces=("audio",), progress=NARRATING, roles=frozenset({"speak"})))
    try:
        yield NARRATE
    finally:
        TOOLS.unregister(NARRATE)


def enhance_then_narrate(messages: list[BaseMessage]) -> AIMessage:
    """Step 1: enhance the user's clip (a2, the first artifact); step 2: narrate (a3); then answer."""
    i = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    results = [json.loads(m.content) for m in messages[i:] if isinstance(m, ToolMessage)]
    if not results:
        att = messages[i].additional_kwargs["audiogpt"]["attachments"]
        return AIMessage(content="", tool_calls=[{"name": "speech_enhancement", "args": {"audio": att[0]},
                                                  "id": "c1", "type": "tool_call"}])
    if len(results) == 1:
        return AIMessage(content="", tool_calls=[{"name": NARRATE, "args": {"text": "all clean"},
                                                  "id": "c2", "type": "tool_call"}])
    return AIMessage(content="Cleaned and read out.")


def registry_with(*backends: Any) -> Registry:
    reg = Registry(factories=[])
    for b in backends:
        reg.register(b)
    return reg


def speech_clip(seconds: float = 2.0, sr: int = 48000) -> Audio:
    t = np.arange(int(seconds * sr)) / sr
    return Audio((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)


# --- the platforms -------------------------------------------------------------------------------


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    f = await FakeDiscord().start()
    yield f
    await f.close()


@pytest.fixture
async def discord_bot(discord_fake: FakeDiscord, app_factory, settings: Settings):  # type: ignore[no-untyped-def]
    started: list[tuple[DiscordAdapter, asyncio.Task[None]]] = []

    async def make(model: Any, registry: Registry, **overrides: Any) -> DiscordAdapter:
        s = settings.model_copy(update={"discord_token": "fake-token", "discord_api_base_url": discord_fake.api_base,
                                        "discord_status_after": 600.0, **overrides})
        adapter = DiscordAdapter(await app_factory(settings=s, model=model, registry=registry))
        started.append((adapter, asyncio.create_task(adapter.start())))
        await discord_fake.wait_ready()
        return adapter

    yield make
    for adapter, task in started:
        await adapter.stop()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


@pytest.fixture
async def slack_fake() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    f.add_team(BOT_TOKEN, "T1")
    yield f
    await f.close()


def slack_settings(settings: Settings, fake: FakeSlack, **kw: Any) -> Settings:
    return settings.model_copy(update={"slack_bot_token": BOT_TOKEN, "slack_signing_secret": SECRET,
                                       "slack_api_url": fake.api_url, "slack_mode": "http", "slack_port": 0,
                                       "slack_host": "127.0.0.1", **kw})


def discord_posts(fake: FakeDiscord, channel: str) -> list[Any]:
    return fake.sent("POST", rf"^/channels/{channel}/messages$")


# --- in-flight dedup -------------------------------------------------------------------------------


async def test_discord_message_delivered_twice_while_running_is_let_in_once(
        discord_fake: FakeDiscord, discord_bot) -> None:  # type: ignore[no-untyped-def]
    """With one message a minute allowed, a second admission of the same message would be refused
    out loud ("faster than I can answer") and try a second thread: the gate lets it in once."""
    model = ScriptedChatModel(script=lambda m: AIMessage(content="Only once."), delay=0.5)
    await discord_bot(model, registry_with(GainBackend()), rate_user_per_minute=1)
    payload = discord_fake.message_payload(f"<@{BOT_ID}> hello", mentions=[BOT])
    await discord_fake.message_create(payload=payload)
    await asyncio.sleep(0.15)  # the first is running (the model takes 0.5 s)
    await discord_fake.message_create(payload=dict(payload))
    answers = await discord_fake.wait_for(lambda: discord_posts(discord_fake, payload["id"]))
    await asyncio.sleep(0.3)
    assert [r.content for r in answers] == ["Only once."] and model.calls == 1
    assert len(discord_fake.sent("POST", r"/threads$")) == 1
    assert not [r for r in discord_fake.requests if "faster than I can answer" in (r.content or "")]


async def test_slack_event_delivered_twice_while_running_is_let_in_once(
        app_factory, settings: Settings, slack_fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    s = slack_settings(settings, slack_fake, rate_user_per_minute=1)
    model = ScriptedChatModel(script=lambda m: AIMessage(content="Only once."), delay=0.5)
    app = await app_factory(settings=s, model=model)
    async with slack_rig(app, s, slack_fake) as rig:
        ev = mention("hello", "1710.0001")
        await rig.event(ev)
        await asyncio.sleep(0.15)
        await rig.event(ev, retry=1)  # Slack's retry while the first is still running
        await slack_fake.wait_for("chat.postMessage", thread_ts="1710.0001")
        await rig.idle()
    assert [c.args["text"] for c in slack_fake.answers()] == ["Only once."] and model.calls == 1
    assert slack_fake.calls_to("chat.postEphemeral") == []  # the duplicate never reached the rate limit


# --- the voice reply, by role ------------------------------------------------------------------------


async def test_discord_voice_reply_is_the_speaking_tools_audio_and_progress_is_the_catalogues(
        discord_fake: FakeDiscord, discord_bot, narrate_tool: str) -> None:  # type: ignore[no-untyped-def]
    await discord_bot(ScriptedChatModel(script=enhance_then_narrate),
                      registry_with(HeardASR(), GainBackend(), Narrator(sleep=1.5)), discord_status_after=0.2)
    clip = encode_voice_message(speech_clip()).data
    att = discord_fake.add_file(clip, "voice-message.ogg", "audio/ogg",
                                extra={"duration_secs": 2.0, "waveform": base64.b64encode(bytes(64)).decode()})
    await discord_fake.message_create("", guild=False, channel_id=DM_ID, attachments=[att], flags=8192)
    voice = await discord_fake.wait_for(
        lambda: [r for r in discord_posts(discord_fake, DM_ID) if r.json and r.json.get("flags") == 8192], timeout=60)
    meta = voice[0].json["attachments"][0]
    assert abs(meta["duration_secs"] - SPOKEN_S) < 0.1  # a3, the narration, not a2 (the 2 s enhanced clip)
    files = [name for r in discord_posts(discord_fake, DM_ID) if r is not voice[0] for (_f, name, _d) in r.files]
    assert any(name.startswith("a2-") for name in files)  # the other audio goes as an ordinary file
    status = [r.content for r in discord_posts(discord_fake, DM_ID)] + [
        (r.json or {}).get("content") for r in discord_fake.sent("PATCH", rf"^/channels/{DM_ID}/messages/\d+$")]
    assert f"{NARRATING}…" in status  # the temporary tool's own wording, from its catalogue entry


async def test_slack_voice_reply_is_the_speaking_tools_audio_and_progress_is_the_catalogues(
        app_factory, settings: Settings, slack_fake: FakeSlack, narrate_tool: str) -> None:  # type: ignore[no-untyped-def]
    s = slack_settings(settings, slack_fake)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=enhance_then_narrate),
                            registry=registry_with(HeardASR(), GainBackend(), Narrator(sleep=1.5)))
    f = slack_fake.add_file("audio_message.m4a", encode_audio(speech_clip(), "m4a"), "audio/mp4", subtype="slack_audio")
    async with slack_rig(app, s, slack_fake, progress_delay=0.2) as rig:
        await rig.event(dm("", "1710.0100", files=[f]))
        await slack_fake.wait_for("files.completeUploadExternal", timeout=60)
        await rig.idle(60)
    voice = [v for v in slack_fake.files.values() if v.name.startswith("voice-reply.")]
    assert len(voice) == 1
    heard = decode_audio_bytes(slack_fake.uploads[voice[0].id], voice[0].name)
    assert abs(heard.duration - SPOKEN_S) < 0.15  # a3, the narration, not the first audio (a2)
    shown = [c.args.get("status") or c.args.get("text") or ""
             for m in ("assistant.threads.setStatus", "chat.postMessage", "chat.update")
             for c in slack_fake.calls_to(m)]
    assert any(NARRATING in t for t in shown)


def test_voice_artifact_choice_reads_roles_from_the_catalogue(narrate_tool: str) -> None:
    a1 = ArtifactOut("a1", "/x/a1.wav", "audio/wav", "audio")
    a2 = ArtifactOut("a2", "/x/a2.wav", "audio/wav", "audio")
    img = ArtifactOut("a3", "/x/a3.png", "image/png", "image")
    calls = (ToolCallRecord("speech_enhancement", {}, "b", 0.1, True, artifacts=("a1",)),
             ToolCallRecord(narrate_tool, {}, "b", 0.1, True, artifacts=("a2",)))
    out = Outgoing("k", "t", artifacts=(img, a1, a2), as_voice=True, tool_calls=calls)
    assert voice_artifact(out) == a2
    failed = (calls[0], ToolCallRecord(narrate_tool, {}, "b", 0.1, False, artifacts=("a2",)))
    assert voice_artifact(Outgoing("k", "t", artifacts=(img, a1, a2), as_voice=True, tool_calls=failed)) == a1
    assert voice_artifact(Outgoing("k", "t", artifacts=(a1, a2), as_voice=False, tool_calls=calls)) is None
    assert voice_artifact(Outgoing("k", "t", artifacts=(img,), as_voice=True)) is None


def test_progress_wording_comes_from_the_catalogue(narrate_tool: str) -> None:
    assert progress_label(Progress("k", 1, narrate_tool, "started")) == f"{NARRATING}…"
    assert progress_label(Progress("k", 1, narrate_tool, "step", fraction=0.25)) == f"{NARRATING}… 25%"
    assert progress_label(Progress("k", 1, narrate_tool, "failed")) == f"{NARRATING} failed"
    TOOLS.unregister(narrate_tool)
    assert progress_label(Progress("k", 1, narrate_tool, "started")) == f"running {narrate_tool}…"


# --- the settings cache: one TTL, a setting ----------------------------------------------------------


async def test_settings_cache_ttl_is_one_setting_for_every_adapter(
        app_factory, settings: Settings, slack_fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.bots.slack.adapter import SlackAdapter

    s = slack_settings(settings, slack_fake, discord_token="fake-token", settings_cache_seconds=30.0)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=lambda m: AIMessage(content="x")))
    discord, slack = DiscordAdapter(app), SlackAdapter(app, s)
    assert discord.gate is app.gate and slack.gate is app.gate and app.gate.settings_ttl == 30.0
    now = [1000.0]
    app.gate.clock = lambda: now[0]
    assert await app.gate.settings_of("slack:T1") == {}
    await app.repo.set_setting("slack:T1", "rate_user_per_minute", 1)  # as another process would
    now[0] += 29.0
    assert await app.gate.settings_of("slack:T1") == {}  # still cached
    now[0] += 2.0
    assert await app.gate.settings_of("slack:T1") == {"rate_user_per_minute": 1}
    await app.gate.set_setting("slack:T1", "voice_replies", False)  # this process's own change: at once
    assert (await app.gate.settings_of("slack:T1"))["voice_replies"] is False
    await discord.client.close()


async def test_stop_lets_a_turn_finish_within_the_grace_then_cancels_the_rest() -> None:
    gate = TurnGate(dialogue=None, repo=None, grace=0.3)  # type: ignore[arg-type]
    quick_done = asyncio.Event()

    async def quick() -> None:
        await asyncio.sleep(0.05)
        quick_done.set()

    slow = gate.spawn(asyncio.sleep(30), name="slow")
    gate.spawn(quick(), name="quick")
    await gate.stop()
    assert quick_done.is_set() and slow.cancelled() and not gate.tasks


# --- events round-trip; the outbox stores the Outgoing ------------------------------------------------


def test_events_round_trip_through_plain_json() -> None:
    async def fetch() -> bytes:
        return b"abc"

    att = Attachment("take.wav", "audio/wav", 3, fetch)
    inc = Incoming("slack", "slack:T1:C1:1.2", "U1", "hi", (att,), is_voice=True, reply_to="1.2",
                   workspace="slack:T1", message_id="1.2")
    out = Outgoing("slack:T1:C1:1.2", "done", artifacts=(ArtifactOut("a2", "/d/a2.wav", "audio/wav", "audio",
                                                                     name="x.wav", duration=1.25, size=10),),
                   as_voice=True, reply_to="1.2", turn_id=7,
                   tool_calls=(ToolCallRecord("speech_enhancement", {"audio": "a1"}, "lite", 0.123456789, True,
                                              data={"gain": 0.5}, artifacts=("a2",), runner="local", replica="p1"),))
    prog = Progress("slack:T1:C1:1.2", 3, "speech_enhancement", "step", "half way", 0.5, "1.2")
    for ev in (att, inc, out, prog):
        assert type(ev).from_dict(json.loads(json.dumps(ev.to_dict()))) == ev
    assert Incoming.from_dict(inc.to_dict(), fetches={"take.wav": fetch}).attachments[0].fetch is fetch
    assert out.to_dict()["data"] == {"gain": 0.5}  # the CLI's --json view is still there
    with pytest.raises(ValueError):
        Progress.from_dict({**prog.to_dict(), "kind": "exploded"})


async def test_the_outbox_stores_outgoing_to_dict_and_recovery_rebuilds_it(app_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def script(messages: list[BaseMessage]) -> AIMessage:
        if not any(isinstance(m, ToolMessage) for m in messages):
            return AIMessage(content="", tool_calls=[{"name": "speech_enhancement", "args": {"audio": "a1"},
                                                      "id": "c1", "type": "tool_call"}])
        return AIMessage(content="Cleaned: a2.")

    app = await app_factory(model=ScriptedChatModel(script=script), registry=registry_with(GainBackend()))
    wav = tone_wav(0.5)

    async def fetch() -> bytes:
        return wav

    out = await app.dialogue.handle(Incoming("test", "outbox", "u", "clean it",
                                             (Attachment("in.wav", "audio/wav", len(wav), fetch),), message_id="m1"))
    assert out.artifacts and out.tool_calls and out.turn_id is not None
    turn = await app.repo.get_turn(out.turn_id)
    assert turn.reply == json.loads(json.dumps(out.to_dict()))
    sent: list[Outgoing] = []

    async def send(o: Outgoing) -> str:
        sent.append(o)
        return "posted-1"

    await app.recover(send)
    assert sent == [out]  # the very Outgoing, rebuilt with from_dict
    assert (await app.repo.get_turn(out.turn_id)).reply_message_id == "posted-1"
