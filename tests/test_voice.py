"""Modality transformation: a voice message is transcribed, and the answer comes back as voice."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from audiogpt.core.events import Incoming
from audiogpt.core.media import decode_audio_bytes, encode_voice_message
from tests.helpers import ScriptedChatModel, bytes_attachment


async def test_voice_message_in_voice_answer_out(app_factory) -> None:  # type: ignore[no-untyped-def]
    app = await app_factory(model=ScriptedChatModel(script=lambda m: AIMessage(content="ok")))
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    tts = PiperJoeMedium()
    speech = tts.run(tts.load(), text="What time does the meeting start?").outputs[0].audio
    voice = encode_voice_message(speech)
    heard: list[str] = []

    def script(messages: list[BaseMessage]) -> AIMessage:
        human = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        heard.append(human.additional_kwargs["audiogpt"]["text"])
        return AIMessage(content="The meeting starts at nine.")

    app.dialogue.model = ScriptedChatModel(script=script)
    out = await app.dialogue.handle(Incoming(platform="test", conversation="v", author="u", text="",
                                             attachments=(bytes_attachment(voice.data, "voice-message.ogg", "audio/ogg"),),
                                             is_voice=True))
    assert "meeting" in heard[0].lower() and "start" in heard[0].lower()
    assert out.as_voice and out.text.endswith("\nThe meeting starts at nine.")
    assert out.text.startswith('You said: "') and "meeting" in out.text.split("\n")[0].lower()
    assert [c.tool for c in out.tool_calls] == ["speech_recognition", "text_to_speech"]
    reply = [a for a in out.artifacts if a.kind == "audio"]
    assert len(reply) == 1
    audio = decode_audio_bytes(Path(reply[0].path).read_bytes())
    assert audio.duration > 1.0


async def test_silent_voice_message_gets_one_sentence(app_factory) -> None:  # type: ignore[no-untyped-def]
    import numpy as np

    from audiogpt.models.base import Audio

    model = ScriptedChatModel(script=lambda m: AIMessage(content="should not be asked"))
    app = await app_factory(model=model)
    voice = encode_voice_message(Audio(np.zeros(48000 * 2, dtype=np.float32), 48000))
    out = await app.dialogue.handle(Incoming(platform="test", conversation="v", author="u", text="",
                                             attachments=(bytes_attachment(voice.data, "voice.ogg", "audio/ogg"),),
                                             is_voice=True))
    assert out.text == "I could not hear any speech in your voice message."
    assert model.calls == 0


async def test_voice_replies_can_be_turned_off_per_workspace(app_factory) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    tts = PiperJoeMedium()
    voice = encode_voice_message(tts.run(tts.load(), text="Hello there, how are you doing today?").outputs[0].audio)
    app = await app_factory(model=ScriptedChatModel(script=lambda m: AIMessage(content="Hi!")))
    await app.repo.set_setting("slack:T1", "voice_replies", False)
    out = await app.dialogue.handle(Incoming(platform="test", conversation="w", author="u", text="", workspace="slack:T1",
                                             attachments=(bytes_attachment(voice.data, "v.ogg", "audio/ogg"),),
                                             is_voice=True))
    assert not out.as_voice and [c.tool for c in out.tool_calls] == ["speech_recognition"]
    conv = await app.repo.find_conversation("w")
    user = next(m for m in await app.repo.conversation_messages(conv.id) if m.role == "user")
    assert user.payload["voice"]["language"] == "en" and "how are you" in user.payload["voice"]["transcript"].lower()
