"""Slack files: an audio clip is downloaded with the bot token, transcribed, and answered with audio
uploaded through the external upload flow; a file that cannot be downloaded is one clear sentence."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from audiogpt.config import Settings
from audiogpt.core.media import decode_audio_bytes, encode_audio
from tests.fake_slack import FakeSlack
from tests.helpers import ScriptedChatModel, tone_wav
from tests.slack_helpers import BOT_TOKEN, dm, mention, slack_rig
from tests.test_slack import slack_settings


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    f.add_team(BOT_TOKEN, "T1")
    yield f
    await f.close()


@pytest.fixture(scope="module")
def clip_m4a() -> bytes:
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    tts = PiperJoeMedium()
    speech = tts.run(tts.load(), text="What time does the meeting start?").outputs[0].audio
    return encode_audio(speech, "m4a")


async def test_audio_clip_is_transcribed_and_answered_with_audio(
        app_factory, settings: Settings, fake: FakeSlack, clip_m4a: bytes) -> None:  # type: ignore[no-untyped-def]
    heard: list[str] = []

    def script(messages: list[BaseMessage]) -> AIMessage:
        human = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        heard.append(human.additional_kwargs["audiogpt"]["text"])
        return AIMessage(content="The meeting starts at nine.")

    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script))
    f = fake.add_file("audio_message.m4a", clip_m4a, "audio/mp4", subtype="slack_audio")
    async with slack_rig(app, s, fake) as rig:
        await rig.event(dm("", "1700.1000", files=[f]))
        done = await fake.wait_for("files.completeUploadExternal", timeout=120)
        await rig.idle(120)
    download = fake.calls_to("download")
    assert len(download) == 1 and download[0].token == BOT_TOKEN
    assert "meeting" in heard[0].lower()
    text = fake.calls_to("chat.postMessage")[0]
    assert text.args["thread_ts"] == "1700.1000" and text.args["text"].startswith("You said: &quot;") is False
    assert text.args["text"].startswith('You said: "') and text.args["text"].endswith("The meeting starts at nine.")
    # the v2 external flow: get an upload URL, upload the bytes there, complete into the thread
    url = fake.calls_to("files.getUploadURLExternal")[0]
    assert url.args["filename"].startswith("voice-reply.")
    uploaded = fake.uploads[fake.calls_to("upload")[0].args["file_id"]]
    assert decode_audio_bytes(uploaded, url.args["filename"]).duration > 1.0
    args = done[0].args
    assert args["channel_id"] == "D1" and args["thread_ts"] == "1700.1000"
    files = args["files"] if isinstance(args["files"], list) else __import__("json").loads(args["files"])
    assert files[0]["title"] == "Voice reply" and "Voice reply" in args["initial_comment"]


async def test_generated_file_is_uploaded_with_title_and_description(
        app_factory, settings: Settings, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.models.registry import Registry
    from tests.helpers import GainBackend, call

    def script(messages: list[BaseMessage]) -> AIMessage:
        if not any(getattr(m, "type", "") == "tool" for m in messages):
            return call("speech_enhancement", {"audio": "a1"})
        return AIMessage(content="Here is the **cleaned** clip: a2.")

    registry = Registry({"speech_enhancement": "test-gain"})
    registry.register(GainBackend())
    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script), registry=registry)
    f = fake.add_file("noisy.wav", tone_wav(1.0), "audio/wav")
    async with slack_rig(app, s, fake) as rig:
        await rig.event(mention("clean this up", "1700.1100", files=[f]))
        done = (await fake.wait_for("files.completeUploadExternal", timeout=60))[0]
        await rig.idle()
    answer = fake.calls_to("chat.postMessage")[0]
    assert answer.args["text"] == "Here is the *cleaned* clip: a2."  # Markdown -> mrkdwn
    files = done.args["files"] if isinstance(done.args["files"], list) else __import__("json").loads(done.args["files"])
    assert files[0]["title"].startswith("a2: ") and done.args["thread_ts"] == "1700.1100"
    assert "a2" in done.args["initial_comment"] and "audio" in done.args["initial_comment"]
    assert fake.calls_to("files.getUploadURLExternal")[0].args["filename"].endswith(".wav")


async def test_file_that_cannot_be_downloaded_gets_a_clear_sentence(
        app_factory, settings: Settings, fake: FakeSlack) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=lambda m: AIMessage(content="should not be asked"))
    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=model)
    await app.repo.set_setting("slack:T1", "voice_replies", False)  # the sentence alone; no speech (faster)
    # a file of another workspace: Slack answers our token with its sign-in page
    f = fake.add_file("audio_message.m4a", b"\x00" * 100, "audio/mp4", subtype="slack_audio", team="T9")
    async with slack_rig(app, s, fake) as rig:
        await rig.event(dm("", "1700.1200", files=[f]))
        answer = (await fake.wait_for("chat.postMessage"))[0]
        await rig.idle()
    assert answer.args["text"] == "I could not download 'audio_message.m4a'; please send it again."
    assert model.calls == 0  # nothing to ask the model about
