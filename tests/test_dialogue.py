"""The turn path end to end with a scripted chat model and a real (tiny) DSP backend."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from audiogpt.core.events import Incoming
from audiogpt.models.registry import Registry
from tests.helpers import GainBackend, ScriptedChatModel, bytes_attachment, call, tone_wav


def registry_with(*backends: Any) -> Registry:
    reg = Registry(factories=[])
    for b in backends:
        reg.register(b)
    return reg


def last_human(messages: list[BaseMessage]) -> HumanMessage:
    return next(m for m in reversed(messages) if isinstance(m, HumanMessage))


def tool_results(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    i = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    return [json.loads(m.content) for m in messages[i:] if isinstance(m, ToolMessage)]


def enhance_script(messages: list[BaseMessage]) -> AIMessage:
    """Enhance the attached file, then report."""
    results = tool_results(messages)
    if not results:
        att = last_human(messages).additional_kwargs["audiogpt"]["attachments"]
        return call("speech_enhancement", {"audio": att[0] if att else "a99"})
    r = results[-1]
    if r["ok"]:
        return AIMessage(content=f"Cleaned up: {r['artifacts'][0]['id']}.")
    return AIMessage(content=f"Sorry: {r['error']}")


def incoming(text: str, *atts: Any, key: str = "conv-1", message_id: str | None = None) -> Incoming:
    return Incoming(platform="test", conversation=key, author="u1", text=text, attachments=tuple(atts),
                    message_id=message_id)


async def test_turn_runs_a_job_and_persists_everything(app_factory) -> None:  # type: ignore[no-untyped-def]
    backend = GainBackend()
    app = await app_factory(model=ScriptedChatModel(script=enhance_script), registry=registry_with(backend))
    out = await app.dialogue.handle(incoming("clean this up", bytes_attachment(tone_wav(), "note.wav")))
    assert out.text == "Cleaned up: a2."
    assert [a.id for a in out.artifacts] == ["a2"]
    assert out.artifacts[0].kind == "audio" and out.artifacts[0].path.endswith(".wav")
    assert out.tool_calls[0].backend == "test-gain" and out.tool_calls[0].ok
    conv = await app.repo.find_conversation("conv-1")
    roles = [m.role for m in await app.repo.conversation_messages(conv.id)]
    assert roles == ["user", "assistant", "tool", "assistant"]
    jobs = await app.repo.jobs_for_turn(out.turn_id)
    assert [(j.status, j.attempts, j.backend) for j in jobs] == [("done", 1, "test-gain")]
    assert jobs[0].started_at is not None and jobs[0].finished_at is not None and jobs[0].seconds is not None
    arts = await app.repo.list_artifacts(conv.id)
    assert [(a.short_id, a.source, a.parent) for a in arts] == [("a1", "user", None), ("a2", "speech_enhancement", "a1")]


async def test_parallel_calls_in_one_step_run_concurrently(app_factory) -> None:  # type: ignore[no-untyped-def]
    backend = GainBackend(sleep=0.5)

    def script(messages: list[BaseMessage]) -> AIMessage:
        if not tool_results(messages):
            return AIMessage(content="", tool_calls=[
                {"name": "speech_enhancement", "args": {"audio": "a1"}, "id": "x1", "type": "tool_call"},
                {"name": "speech_enhancement", "args": {"audio": "a2"}, "id": "x2", "type": "tool_call"},
            ])
        return AIMessage(content="both done")

    app = await app_factory(model=ScriptedChatModel(script=script), registry=registry_with(backend))
    out = await app.dialogue.handle(incoming("clean both", bytes_attachment(tone_wav(1.0, freq=300), "a.wav"),
                                             bytes_attachment(tone_wav(1.0, freq=600), "b.wav")))
    assert out.text == "both done" and len(out.tool_calls) == 2 and all(c.ok for c in out.tool_calls)
    (s1, e1), (s2, e2) = backend.intervals
    assert max(s1, s2) < min(e1, e2), "the two jobs of one step did not overlap in time"


async def test_malformed_arguments_and_unknown_ids_get_one_sentence(app_factory) -> None:  # type: ignore[no-untyped-def]
    seen: list[dict[str, Any]] = []

    def script(messages: list[BaseMessage]) -> AIMessage:
        res = tool_results(messages)
        if not res:
            return AIMessage(content="", tool_calls=[
                {"name": "speech_enhancement", "args": {"audio": "a7"}, "id": "k1", "type": "tool_call"},
                {"name": "speech_enhancement", "args": {"audio": "../../etc/passwd"}, "id": "k2", "type": "tool_call"},
                {"name": "speech_enhancement", "args": {"noise": 3}, "id": "k3", "type": "tool_call"},
                {"name": "no_such_tool", "args": {}, "id": "k4", "type": "tool_call"},
            ], invalid_tool_calls=[{"name": "speech_enhancement", "args": "{not json", "id": "k5", "error": "bad", "type": "invalid_tool_call"}])
        seen.extend(res)
        return AIMessage(content="; ".join(r.get("error") or "" for r in res))

    app = await app_factory(model=ScriptedChatModel(script=script), registry=registry_with(GainBackend()))
    out = await app.dialogue.handle(incoming("do it"))
    errors = [r["error"] for r in seen]
    assert "not valid JSON" in errors[0]
    assert "There is no artifact a7 in this conversation." in errors
    assert any("is not an artifact id" in e and "../../etc/passwd" in e for e in errors)
    assert any(e.startswith("The arguments for speech_enhancement were not valid") for e in errors)
    assert "There is no tool called 'no_such_tool'." in errors
    assert all(not c.ok for c in out.tool_calls)


async def test_a_tool_that_raises_keeps_the_bot_up(app_factory, caplog) -> None:  # type: ignore[no-untyped-def]
    app = await app_factory(model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend(fail=True)))
    out = await app.dialogue.handle(incoming("clean", bytes_attachment(tone_wav(), "n.wav")))
    assert out.text.startswith("Sorry: The speech_enhancement model failed while running (RuntimeError)")
    assert "boom" in caplog.text  # the log says why
    jobs = await app.repo.jobs_for_turn(out.turn_id)
    assert jobs[0].status == "failed" and "RuntimeError" in jobs[0].error
    out2 = await app.dialogue.handle(incoming("again", bytes_attachment(tone_wav(0.5), "m.wav")))
    assert out2.turn_id != out.turn_id  # still serving


async def test_llm_timeout_is_one_sentence_and_history_survives(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    slow = ScriptedChatModel(script=lambda m: AIMessage(content="late"), delay=1.5)
    app = await app_factory(model=slow, settings=settings.model_copy(update={"llm_timeout": 0.3}))
    await app.dialogue.handle(incoming("first"))  # times out too
    out = await app.dialogue.handle(incoming("hello?"))
    assert out.text == "The language model did not answer within 0.3 seconds; please try again."
    conv = await app.repo.find_conversation("conv-1")
    users = [m.content for m in await app.repo.conversation_messages(conv.id) if m.role == "user"]
    assert users == ["first", "hello?"]


async def test_tool_not_installed_says_which_and_how(app_factory) -> None:  # type: ignore[no-untyped-def]
    def script(messages: list[BaseMessage]) -> AIMessage:
        res = tool_results(messages)
        return call("text_to_music", {"text": "calm piano"}) if not res else AIMessage(content=res[0]["error"])

    app = await app_factory(model=ScriptedChatModel(script=script), registry=registry_with())
    out = await app.dialogue.handle(incoming("compose something"))
    assert "No backend for text_to_music is installed" in out.text


@pytest.mark.parametrize(
    ("data", "name", "expect"),
    [
        (b"", "empty.wav", "is empty"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "cut.wav", ""),
        (bytes(range(256)) * 8, "noise.mp3", ""),
    ],
)
async def test_bad_attachments_get_one_sentence_and_nothing_is_lost(app_factory, data, name, expect) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=lambda m: AIMessage(content="should not be asked"))
    app = await app_factory(model=model, registry=registry_with(GainBackend()))
    await app.dialogue.handle(incoming("hi", key="k"))
    out = await app.dialogue.handle(incoming("", bytes_attachment(data, name), key="k"))
    assert out.text and "\n" not in out.text
    assert expect in out.text
    assert name in out.text or "file" in out.text.lower() or "audio" in out.text.lower()
    conv = await app.repo.find_conversation("k")
    assert [m.content for m in await app.repo.conversation_messages(conv.id) if m.role == "user"] == ["hi", ""]


async def test_limits_checked_before_download_and_decoding(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    fetched = []

    async def fetch() -> bytes:
        fetched.append(1)
        return b"x"

    from audiogpt.core.events import Attachment

    s = settings.model_copy(update={"max_upload_mb": 1.0, "max_audio_seconds": 2.0})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=lambda m: AIMessage(content="?")))
    big = Attachment(name="huge.wav", mime="audio/wav", size=50_000_000, fetch=fetch)
    out = await app.dialogue.handle(incoming("", big, key="b"))
    assert "huge.wav" in out.text and "limit is 1 MB" in out.text and not fetched
    out = await app.dialogue.handle(incoming("", bytes_attachment(tone_wav(5.0), "long.wav"), key="b"))
    assert "limit" in out.text and "\n" not in out.text


async def test_redelivered_platform_message_is_answered_once(app_factory) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=lambda m: AIMessage(content="hello"))
    app = await app_factory(model=model)
    a, b = await asyncio.gather(app.dialogue.handle(incoming("hi", message_id="m1")),
                                app.dialogue.handle(incoming("hi", message_id="m1")))
    assert model.calls == 1
    assert a.turn_id == b.turn_id
    sent: list[str] = []

    async def send(o):  # type: ignore[no-untyped-def]
        sent.append(o.text)

    assert await app.dialogue.deliver(a, send) is True
    assert await app.dialogue.deliver(b, send) is False
    assert sent == ["hello"]


async def test_history_and_artifacts_reach_the_model(app_factory) -> None:  # type: ignore[no-untyped-def]
    seen: list[list[BaseMessage]] = []

    def script(messages: list[BaseMessage]) -> AIMessage:
        seen.append(list(messages))
        return AIMessage(content="ok")

    app = await app_factory(model=ScriptedChatModel(script=script))
    await app.dialogue.handle(incoming("here is a file", bytes_attachment(tone_wav(), "x.wav")))
    await app.dialogue.handle(incoming("and now?"))
    msgs = seen[-1]
    arts = msgs[0].additional_kwargs["audiogpt"]["artifacts"]
    assert [a["id"] for a in arts] == ["a1"] and arts[0]["kind"] == "audio" and arts[0]["source"] == "user"
    assert "a1 (audio, x.wav, 1.0 s; sent by the user)" in msgs[0].content
    humans = [m for m in msgs if isinstance(m, HumanMessage)]
    assert [h.additional_kwargs["audiogpt"]["text"] for h in humans] == ["here is a file", "and now?"]
    assert "[Attached: a1" in humans[0].content
    # another conversation sees none of it
    await app.dialogue.handle(incoming("hi", key="other"))
    assert seen[-1][0].additional_kwargs["audiogpt"]["artifacts"] == []


async def test_image_with_an_audio_name_is_refused_by_audio_tools(app_factory) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.core.execute import _PNG_1x1

    app = await app_factory(model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend()))
    out = await app.dialogue.handle(incoming("clean this", bytes_attachment(_PNG_1x1, "picture.wav")))
    assert out.text == "Sorry: a1 is an image file, not an audio file."


async def test_progress_events_for_each_job(app_factory) -> None:  # type: ignore[no-untyped-def]
    events: list[tuple[str, str]] = []

    async def progress(ev):  # type: ignore[no-untyped-def]
        events.append((ev.tool, ev.kind))

    app = await app_factory(model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend()))
    await app.dialogue.handle(incoming("clean", bytes_attachment(tone_wav(), "n.wav")), progress=progress)
    assert events == [("speech_enhancement", "started"), ("speech_enhancement", "done")]


async def test_a_tool_can_only_open_its_own_conversations_artifacts(app_factory) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.core.artifacts import ArtifactError

    app = await app_factory(model=ScriptedChatModel(script=lambda m: AIMessage(content="ok")))
    await app.dialogue.handle(incoming("mine", bytes_attachment(tone_wav(), "secret.wav"), key="alice"))
    await app.dialogue.handle(incoming("hi", key="bob"))
    alice = await app.repo.find_conversation("alice")
    bob = await app.repo.find_conversation("bob")
    assert (await app.artifacts.resolve(alice.id, "a1")).path.is_file()
    for ref, msg in [("a1", "There is no artifact a1 in this conversation."),
                     ("../../etc/passwd", "'../../etc/passwd' is not an artifact id; files are named by ids such as a1, a2."),
                     ("/etc/passwd", "is not an artifact id"), ("a1/../../x", "is not an artifact id"), (3, "must be named by its id")]:
        with pytest.raises(ArtifactError, match=msg.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
            await app.artifacts.resolve(bob.id, ref)
