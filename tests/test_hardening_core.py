"""Hardening of the core turn path: hung models, fan-out, turns that raise, tool call ids.

Each test drives the real path (Dialogue, LocalRunner, SQL on SQLite and PostgreSQL where
storage is involved) with small backends defined here.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import numpy as np
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from sqlalchemy import update

from audiogpt.core.engine.llm import make_chat_model
from audiogpt.core.events import Incoming
from audiogpt.models.base import Audio, BackendInfo, BackendResult, OutputFile, ProgressReport
from audiogpt.storage.schema import Turn, utcnow
from tests.fake_openai import FakeOpenAI, text_reply
from tests.helpers import GainBackend, ScriptedChatModel, bytes_attachment, call, tone_wav
from tests.test_dialogue import registry_with, tool_results

# --- backends ------------------------------------------------------------------------------


class _Base:
    kind = "lite"
    name = "base"
    task = "text_to_audio"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        return object()


def _tone(name: str, freq: float) -> BackendResult:
    t = np.arange(8000, dtype=np.float32) / 16000
    return BackendResult(text=name, outputs=[OutputFile(name, audio=Audio((0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000))])


class ToneBackend(_Base):
    """A quick generator: a short tone of its own frequency."""

    def __init__(self, task: str, name: str, freq: float) -> None:
        self.task, self.name, self.freq = task, name, freq

    def run(self, model: Any, *, text: str, **_: Any) -> BackendResult:
        return _tone(self.name, self.freq + 10 * len(text))  # other words, other sound


class HangBackend(_Base):
    """A model that hangs: blocks until the test lets it go (and knows nothing of cancelling)."""

    name = "test-hang"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.ended = threading.Event()
        self.thread = ""

    def run(self, model: Any, *, text: str, seconds: float | None = None) -> BackendResult:
        self.thread = threading.current_thread().name
        self.started.set()
        try:
            self.release.wait(30)
            return _tone(self.name, 200)
        finally:
            self.ended.set()


class ChunkBackend(_Base):
    """Works through many chunks, reporting progress between them (the usual backend loop)."""

    name = "test-chunks"

    def __init__(self) -> None:
        self.done_chunks = 0
        self.started = threading.Event()
        self.ended = threading.Event()

    def run(self, model: Any, *, text: str, seconds: float | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        self.started.set()
        try:
            for i in range(400):  # 8 s if nobody interrupts it
                time.sleep(0.02)
                self.done_chunks += 1
                if progress is not None:
                    progress(i / 400, "chunk")
            return _tone(self.name, 300)
        finally:
            self.ended.set()


class CancelBackend(_Base):
    """Takes the ``cancel`` event: waits on it instead of on a long computation."""

    name = "test-cancel"

    def __init__(self) -> None:
        self.started = threading.Event()
        self.ended = threading.Event()
        self.cancelled = False

    def run(self, model: Any, *, text: str, seconds: float | None = None,
            cancel: threading.Event | None = None) -> BackendResult:
        self.started.set()
        try:
            if cancel is not None and cancel.wait(6):
                self.cancelled = True
                raise RuntimeError("stopped")
            time.sleep(0 if cancel is not None else 6)
            return _tone(self.name, 400)
        finally:
            self.ended.set()


def by_text(routes: dict[str, Callable[[list[BaseMessage]], AIMessage]]) -> Callable[[list[BaseMessage]], AIMessage]:
    """A script that answers by the last user message: one route per conversation."""

    def script(messages: list[BaseMessage]) -> AIMessage:
        text = str(next(m for m in reversed(messages) if isinstance(m, HumanMessage)).content)
        return routes[text.split("\n")[0]](messages)

    return script


def once(name: str, args: dict[str, Any]) -> Callable[[list[BaseMessage]], AIMessage]:
    def step(messages: list[BaseMessage]) -> AIMessage:
        res = tool_results(messages)
        if not res:
            return call(name, args)
        return AIMessage(content=f"ok={res[-1]['ok']} error={res[-1].get('error')}")

    return step


def msg(text: str, key: str, author: str = "u1", *atts: Any) -> Incoming:
    return Incoming(platform="test", conversation=key, author=author, text=text, attachments=tuple(atts))


async def _until(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        await asyncio.sleep(0.02)
    return pred()


# --- 6: a timed-out job keeps running ------------------------------------------------------


async def test_a_hung_model_fails_its_job_and_starves_nothing(app_factory, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    """The hung job fails with one sentence; meanwhile another conversation is answered and storage
    and the default executor (here one thread, as on a small host) keep working; the hung thread is
    a model thread, and it keeps its slot until it ends."""
    loop = asyncio.get_running_loop()
    small = ThreadPoolExecutor(1, thread_name_prefix="default")
    loop.set_default_executor(small)
    hang = HangBackend()
    s = settings.model_copy(update={"database_url": db_url, "job_concurrency": 2, "job_timeout": 1.5})
    script = by_text({"make rain": once("text_to_audio", {"text": "rain"}),
                      "say hi": once("text_to_speech", {"text": "hi"})})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script),
                            registry=registry_with(hang, ToneBackend("text_to_speech", "test-tts", 500)))
    try:
        hung = asyncio.create_task(app.dialogue.handle(msg("make rain", "conv-hang")))
        assert await _until(hang.started.is_set)
        quick = await asyncio.wait_for(app.dialogue.handle(msg("say hi", "conv-quick")), 10)
        assert quick.text == "ok=True error=None" and [a.kind for a in quick.artifacts] == ["audio"]
        # storage and the default executor are not taken by the hung model
        assert await asyncio.wait_for(asyncio.to_thread(lambda: 42), 2) == 42
        assert (await asyncio.wait_for(app.repo.find_conversation("conv-quick"), 2)) is not None
        out = await asyncio.wait_for(hung, 10)
        assert out.text == "ok=False error=The text_to_audio job took longer than 1.5 s and was stopped."
        job = (await app.repo.jobs_for_turn(out.turn_id))[0]
        assert (job.status, job.error) == ("failed", "The text_to_audio job took longer than 1.5 s and was stopped.")
        assert hang.thread.startswith("audiogpt-model") and not hang.ended.is_set()
        assert app.runner.slots_in_use == 1  # the hung thread still holds its slot
    finally:
        hang.release.set()
    assert await _until(lambda: app.runner.slots_in_use == 0)
    assert hang.ended.is_set()


async def test_a_timed_out_jobs_slot_is_kept_until_its_thread_ends(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    """With two slots and one hung thread, two parallel calls run one after the other; once the
    hung thread ends, they run side by side again."""
    hang = HangBackend()
    gain = GainBackend(sleep=0.3)

    def two(messages: list[BaseMessage]) -> AIMessage:
        if not tool_results(messages):
            return AIMessage(content="", tool_calls=[
                {"name": "speech_enhancement", "args": {"audio": "a1"}, "id": "x1", "type": "tool_call"},
                {"name": "speech_enhancement", "args": {"audio": "a1"}, "id": "x2", "type": "tool_call"}])
        return AIMessage(content="both")

    script = by_text({"make rain": once("text_to_audio", {"text": "rain"}), "clean": two})
    s = settings.model_copy(update={"job_concurrency": 2, "job_timeout": 2.0})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script), registry=registry_with(hang, gain))
    try:
        out = await asyncio.wait_for(app.dialogue.handle(msg("make rain", "c1")), 10)
        assert "took longer than 2 s" in out.text and not hang.ended.is_set()
        await asyncio.wait_for(app.dialogue.handle(msg("clean", "c2", "u1", bytes_attachment(tone_wav(), "a.wav"))), 10)
        (_, a1), (b0, _) = sorted(gain.intervals)
        assert b0 >= a1 - 0.01, "only one slot was free: the calls must not overlap"
    finally:
        hang.release.set()
    assert await _until(lambda: app.runner.slots_in_use == 0)
    gain.intervals.clear()
    await asyncio.wait_for(app.dialogue.handle(msg("clean", "c3", "u1", bytes_attachment(tone_wav(), "a.wav"))), 10)
    (_, a1), (b0, _) = sorted(gain.intervals)
    assert b0 < a1, "both slots are free again: the calls overlap"


async def test_a_timed_out_job_interrupts_a_backend_that_can_be(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    """A backend that reports progress between chunks stops at its next chunk; one that takes a
    ``cancel`` event is told through it. Either way its thread ends and the slot comes back."""
    chunks, cancel = ChunkBackend(), CancelBackend()
    cancel.task = "text_to_music"
    script = by_text({"chunks": once("text_to_audio", {"text": "x"}), "cancel": once("text_to_music", {"text": "x"})})
    # 1.5 s: long enough that validation and loading are over on a loaded machine and the timeout
    # lands while the backend runs (it needs 8 s uninterrupted), which is what is tested here.
    s = settings.model_copy(update={"job_concurrency": 1, "job_timeout": 1.5})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script), registry=registry_with(chunks, cancel))
    for text, backend in (("chunks", chunks), ("cancel", cancel)):
        out = await asyncio.wait_for(app.dialogue.handle(msg(text, f"c-{text}")), 20)
        assert "job took longer than" in out.text and "was stopped" in out.text
        t_failed = time.monotonic()
        assert backend.started.is_set(), f"{backend.name} never started: the timeout hit before the run"
        # Well under the 8 s an uninterrupted run takes, with room for a loaded CI machine.
        assert await _until(backend.ended.is_set, 3.0), f"{backend.name} was not interrupted"
        assert time.monotonic() - t_failed < 3.0
        assert await _until(lambda: app.runner.slots_in_use == 0, 1.0)
    assert chunks.done_chunks < 200 and cancel.cancelled


# --- 8: fan-out ------------------------------------------------------------------------------


def fan_out(n: int, steps: int = 1) -> Callable[[list[BaseMessage]], AIMessage]:
    def script(messages: list[BaseMessage]) -> AIMessage:
        done = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
        i = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
        mine = [m for m in messages[i:] if isinstance(m, AIMessage) and m.tool_calls]
        if len(mine) < steps:
            return AIMessage(content="", tool_calls=[
                {"name": "speech_enhancement", "args": {"audio": "a1"}, "id": f"s{len(done)}c{k}", "type": "tool_call"}
                for k in range(n)])
        res = tool_results(messages)
        return AIMessage(content=json.dumps([r.get("error") for r in res]))

    return script


async def test_calls_are_capped_per_step_and_per_turn(app_factory, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"database_url": db_url, "max_calls_per_step": 4, "max_calls_per_turn": 6,
                                    "rate_user_per_minute": 0})
    gain = GainBackend()
    app = await app_factory(settings=s, model=ScriptedChatModel(script=fan_out(6, steps=2)), registry=registry_with(gain))
    out = await app.dialogue.handle(msg("clean", "c1", "u1", bytes_attachment(tone_wav(), "a.wav")))
    errors = json.loads(out.text)
    assert len(errors) == 12  # every call was answered
    step1, step2 = errors[:6], errors[6:]
    assert step1[:4] == [None] * 4 and all("At most 4 tool calls can run in one step" in e for e in step1[4:])
    assert step2[:2] == [None] * 2 and all("at most 6 tool calls" in e for e in step2[2:])
    assert len(await app.repo.jobs_for_turn(out.turn_id)) == 6 and len(gain.intervals) == 6


async def test_tool_calls_count_against_the_users_rate_limit(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"rate_user_per_minute": 3, "max_calls_per_step": 4})
    gain = GainBackend()
    app = await app_factory(settings=s, model=ScriptedChatModel(script=fan_out(4)), registry=registry_with(gain))
    assert app.gate.rate_refusal("test", "u1", None, {}) is None  # the message itself (1 of 3)
    out = await app.dialogue.handle(msg("clean", "c1", "u1", bytes_attachment(tone_wav(), "a.wav")))
    errors = json.loads(out.text)
    # the first call comes with the message; the next two fill the minute; the fourth is refused
    assert errors[:3] == [None] * 3 and "rate limit" in errors[3]
    assert len(gain.intervals) == 3
    assert app.gate.rate_refusal("test", "u1", None, {})  # the user's next message must wait
    assert app.gate.rate_refusal("test", "u2", None, {}) is None  # other users are not charged


# --- 9: a turn that fails mid-way ----------------------------------------------------------------


async def test_a_turn_that_raises_is_failed_with_one_answer(app_factory, settings, db_url, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"database_url": db_url})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=once("text_to_speech", {"text": "hi"})),
                            registry=registry_with(ToneBackend("text_to_speech", "test-tts", 500)))

    async def broken(*a: Any, **kw: Any) -> None:
        raise RuntimeError("the database went away mid-turn")

    monkeypatch.setattr(app.dialogue, "_write_step", broken)
    posted: list[Any] = []

    async def deliver(out: Any) -> str:
        posted.append(out)
        return f"m{len(posted)}"

    res = await app.gate.run(msg("say hi", "c1"), deliver)
    assert res.status == "answered"
    assert [p.text for p in posted] == ["Sorry, something went wrong while I was answering (RuntimeError); please try again."]
    assert posted[0].turn_id is not None
    turn = await app.repo.get_turn(posted[0].turn_id)
    assert (turn.status, turn.delivery, turn.reply["text"]) == ("failed", "delivered", posted[0].text)
    assert app.runner.turns_in_flight == set()
    # a sweep, here or after a restart, has nothing to resume and nothing more to post
    assert await app.dialogue.recover(deliver, lease_seconds=0.0) == []
    from audiogpt.storage.repos import Repository, stale_cutoff

    other = Repository(app.db)
    assert await other.claim_orphan_turns(stale_before=stale_cutoff(-60)) == []
    assert len(posted) == 1


async def test_the_heartbeat_renews_only_turns_in_flight(app_factory, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    """A turn this process owns but no longer runs is not renewed, and its own sweep takes it over."""
    s = settings.model_copy(update={"database_url": db_url, "job_lease_seconds": 0.8})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=lambda m: AIMessage(content="resumed")),
                            registry=registry_with(GainBackend()))
    start = await app.repo.start_turn("c1", "test", None, author="u1", platform_message_id="m1", reply_to=None,
                                      is_voice=False, user_message=("hello", {"text": "hello", "attachments": []}))
    old = utcnow() - timedelta(seconds=30)
    async with app.db.sessions() as sess:
        await sess.execute(update(Turn).where(Turn.id == start.turn.id).values(lease_at=old))
        await sess.commit()
    await asyncio.sleep(0.7)  # a few heartbeats (every lease/4)
    turn = await app.repo.get_turn(start.turn.id)
    assert abs((turn.lease_at.replace(tzinfo=None) - old.replace(tzinfo=None)).total_seconds()) < 1
    sent: list[Any] = []

    async def send(out: Any) -> None:
        sent.append(out)

    await app.dialogue.recover(send, lease_seconds=0.8)
    turn = await app.repo.get_turn(start.turn.id)
    assert turn.status == "done" and [o.text for o in sent] == ["resumed"]


# --- 11: tool calls without ids ------------------------------------------------------------------


def _openai_two_tools(ids: tuple[str | None, str | None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Step 1 text_to_speech, step 2 text_to_music, with the ids given (None: the server omits it)."""

    def tc(name: str, cid: str | None) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": json.dumps({"text": "la"})}}
        if cid is not None:
            d["id"] = cid
        return {"role": "assistant", "content": None, "tool_calls": [d]}

    def script(body: dict[str, Any]) -> dict[str, Any]:
        msgs = body["messages"]
        last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
        res = [json.loads(m["content"]) for m in msgs[last_user:] if m["role"] == "tool"]
        if not res:
            return tc("text_to_speech", ids[0])
        if len(res) == 1:
            return tc("text_to_music", ids[1])
        return text_reply(" ".join(f"{r['tool']}:{r['backend']}:{r['artifacts'][0]['id']}" for r in res))

    return script


async def test_repeated_or_missing_tool_call_ids_get_their_own_jobs(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    for n, ids in enumerate((("call_1", "call_1"), (None, None))):
        with FakeOpenAI(_openai_two_tools(ids)) as fake:
            s = settings.model_copy(update={"llm": "auto", "openai_api_key": "sk-test", "openai_base_url": fake.base_url,
                                            "llm_model": "gpt-test"})
            app = await app_factory(settings=s, model=make_chat_model(s), registry=registry_with(
                ToneBackend("text_to_speech", "test-tts", 500), ToneBackend("text_to_music", "test-music", 700)))
            out = await app.dialogue.handle(msg("sing", f"c{n}"))
        assert out.text == "text_to_speech:test-tts:a1 text_to_music:test-music:a2", ids
        assert [(c.tool, c.backend) for c in out.tool_calls] == [("text_to_speech", "test-tts"),
                                                                 ("text_to_music", "test-music")]
        jobs = await app.repo.jobs_for_turn(out.turn_id)
        assert [j.tool for j in jobs] == ["text_to_speech", "text_to_music"]
        assert len({j.tool_call_id for j in jobs}) == 2 and all(j.tool_call_id for j in jobs)
        # the ids the server saw in the second request are the ones stored for the jobs
        sent = fake.requests[-1]["body"]["messages"]
        seen = [tc["id"] for m in sent if m["role"] == "assistant" for tc in m.get("tool_calls") or []]
        answered = [m["tool_call_id"] for m in sent if m["role"] == "tool"]
        assert seen == answered == [j.tool_call_id for j in jobs]


async def test_a_reused_job_must_match_its_tool_and_arguments(app_factory, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"database_url": db_url})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=lambda m: AIMessage(content="x")),
                            registry=registry_with(ToneBackend("text_to_speech", "test-tts", 500),
                                                   ToneBackend("text_to_music", "test-music", 700)))
    start = await app.repo.start_turn("c1", "test", None, author="u1", platform_message_id=None, reply_to=None,
                                      is_voice=False)
    conv, turn = start.conversation.id, start.turn.id
    first = await app.runner.submit(conv, turn, "call_0", "text_to_speech", {"text": "la"})
    again = await app.runner.submit(conv, turn, "call_0", "text_to_speech", {"text": "la"})
    other = await app.runner.submit(conv, turn, "call_0", "text_to_music", {"text": "la"})
    args = await app.runner.submit(conv, turn, "call_0", "text_to_speech", {"text": "other words"})
    assert first.backend == again.backend == "test-tts" and [a.short_id for a in again.artifacts] == ["a1"]
    assert other.backend == "test-music" and [a.short_id for a in other.artifacts] == ["a2"]
    assert args.backend == "test-tts" and [a.short_id for a in args.artifacts] == ["a3"]
    assert len(await app.repo.jobs_for_turn(turn)) == 3
