"""The turn's storage is one unit of work per step, on SQLite and PostgreSQL.

A turn used to go to the database about fifteen times, each in its own session;
these tests pin the batched shape (statements and connections per turn) and that
what the batching defers is still recovered: a tool result not yet written is
rebuilt from its finished job row, never by running the job again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from sqlalchemy import event, select

from audiogpt.core.events import Incoming
from audiogpt.models.base import BackendInfo, BackendResult
from audiogpt.models.registry import Registry
from audiogpt.storage.schema import Job, Message
from tests.helpers import ScriptedChatModel, call


class NoopTextToAudio:
    """A ``text_to_audio`` backend that does nothing (counts its runs)."""

    name, task, kind = "noop", "text_to_audio", "lite"

    def __init__(self) -> None:
        self.runs = 0

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True)

    def load(self) -> Any:
        return None

    def run(self, model: Any, **kw: Any) -> BackendResult:
        self.runs += 1
        return BackendResult(text="nothing generated")


def rain_script(messages: list[BaseMessage]) -> AIMessage:
    """One tool step, then the answer: the no-op turn of ``bench/bench_turn_overhead.py``."""
    if isinstance(messages[-1], ToolMessage):
        return AIMessage(content="Here is the rain.")
    return call("text_to_audio", {"text": "rain"})


def noop_registry(backend: NoopTextToAudio) -> Registry:
    reg = Registry(factories=[])
    reg.register(backend)
    return reg


class Counter:
    """Statements sent (``before_cursor_execute``) and connections taken from the pool (``checkout``)."""

    def __init__(self, app: Any) -> None:
        self.statements: list[str] = []
        self.checkouts = 0
        engine = app.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine.pool, "checkout", self._checkout)

    def _statement(self, conn: Any, cursor: Any, statement: str, *_a: Any) -> None:
        self.statements.append(statement.split(None, 3)[0].upper() + " " + statement.split("(")[0][-40:])

    def _checkout(self, *_a: Any) -> None:
        self.checkouts += 1

    def reset(self) -> None:
        self.statements.clear()
        self.checkouts = 0


async def test_a_no_op_turn_is_four_units_of_work(app_factory, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    """Before: 14 statements, each in its own session (14 checkouts, 8 commits). Now one
    transaction each for the start, the tool step, the job's result and the end."""
    s = settings.model_copy(update={"database_url": db_url})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=rain_script),
                            registry=noop_registry(NoopTextToAudio()))
    await app.dialogue.handle(Incoming("test", "conv", "u", "make rain"))  # the conversation exists now
    counter = Counter(app)
    out = await app.dialogue.handle(Incoming("test", "conv", "u", "more rain"))
    assert out.text == "Here is the rain." and [c.tool for c in out.tool_calls] == ["text_to_audio"]
    # start: conversation (read + touched), turn, user message, history (no artifacts: none yet)
    # step: the AI message + the job row; the job's result; the end: reply + remaining messages
    assert len(counter.statements) <= 9, counter.statements
    assert counter.checkouts <= 4, counter.checkouts
    # and nothing was lost on the way
    conv = await app.repo.find_conversation("conv")
    msgs = [m for m in await app.repo.conversation_messages(conv.id) if m.turn_id == out.turn_id]
    assert [m.role for m in msgs] == ["user", "assistant", "tool", "assistant"]
    assert msgs[1].payload["tool_calls"][0]["name"] == "text_to_audio"
    assert msgs[2].payload["tool_call_id"] == "c1" and '"ok": true' in msgs[2].content
    jobs = await app.repo.jobs_for_turn(out.turn_id)
    assert [(j.status, j.attempts, j.runner, j.worker) for j in jobs] == [("done", 1, "local", app.repo.worker)]
    turn = await app.repo.get_turn(out.turn_id)
    assert turn.status == "done" and turn.reply["text"] == "Here is the rain."


async def test_history_and_settings_come_with_the_start(app_factory, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    """What the engine reads (earlier finished turns, the workspace's settings) is read once, at the start."""
    seen: list[list[BaseMessage]] = []

    def script(messages: list[BaseMessage]) -> AIMessage:
        seen.append(list(messages))
        return AIMessage(content=f"answer {len(seen)}")

    s = settings.model_copy(update={"database_url": db_url})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script))
    await app.repo.set_setting("ws", "disabled_tools", ["text_to_audio"])
    for text in ("one", "two"):
        await app.dialogue.handle(Incoming("test", "c", "u", text, workspace="ws"))
    counter = Counter(app)
    await app.dialogue.handle(Incoming("test", "c", "u", "three", workspace="ws"))
    names = [t["function"]["name"] for t in app.dialogue.tool_schemas()]
    assert "text_to_audio" in names  # the deployment has it; the workspace turned it off
    assert [m.content for m in seen[-1][1:]] == ["one", "answer 1", "two", "answer 2", "three"]
    selects = [st for st in counter.statements if st.startswith("SELECT")]
    assert len(selects) == 2, counter.statements  # history + settings; no per-setting or per-turn reads
    assert counter.checkouts <= 2


async def test_disabled_tool_in_the_workspace_gets_no_job(app_factory, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    backend = NoopTextToAudio()

    def script(messages: list[BaseMessage]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage(content=str(messages[-1].content))
        return call("text_to_audio", {"text": "rain"})

    s = settings.model_copy(update={"database_url": db_url})
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script), registry=noop_registry(backend))
    await app.repo.set_setting("ws", "disabled_tools", ["text_to_audio"])
    out = await app.dialogue.handle(Incoming("test", "d", "u", "rain please", workspace="ws"))
    assert "turned off in this workspace" in out.text
    assert await app.repo.jobs_for_turn(out.turn_id) == [] and backend.runs == 0


async def test_a_turn_killed_after_its_job_finished_is_resumed_from_the_job_row(  # type: ignore[no-untyped-def]
        app_factory, settings, db_url) -> None:
    """The tool result is written with the next step; a turn that stops before that (its
    process gone while the LLM thinks) gets the result back from the job row: the job
    does not run again and the reply is delivered once."""
    s = settings.model_copy(update={"database_url": db_url})
    backend = NoopTextToAudio()
    thinking = asyncio.Event()
    loop = asyncio.get_running_loop()

    def script(messages: list[BaseMessage]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            loop.call_soon_threadsafe(thinking.set)
            import time

            time.sleep(1.0)  # the process is killed while the LLM answers
        return rain_script(messages)

    first = await app_factory(settings=s, model=ScriptedChatModel(script=script), registry=noop_registry(backend))
    task = asyncio.create_task(first.dialogue.handle(Incoming("test", "k", "u", "rain", message_id="m1")))
    end = loop.time() + 30
    while not thinking.is_set() and loop.time() < end:
        await asyncio.sleep(0.02)
    assert thinking.is_set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await first.runner.stop()  # no more heartbeats: the turn's lease goes stale
    async with first.db.sessions() as ss:
        job = (await ss.execute(select(Job))).scalar_one()
        stored = [m.role for m in (await ss.execute(select(Message).order_by(Message.id))).scalars()]
    assert (job.status, job.attempts) == ("done", 1)
    assert stored == ["user", "assistant"]  # the tool result is only on the job row

    await asyncio.sleep(s.job_lease_seconds + 0.5)
    second = await app_factory(settings=s, model=ScriptedChatModel(script=rain_script),
                               registry=noop_registry(backend))
    sent: list[str] = []

    async def send(o):  # type: ignore[no-untyped-def]
        sent.append(o.text)

    delivered = await second.recover(send)
    assert [o.text for o in delivered] == ["Here is the rain."] and sent == ["Here is the rain."]
    assert backend.runs == 1  # the job was not run again
    async with second.db.sessions() as ss:
        jobs = (await ss.execute(select(Job))).scalars().all()
        msgs = (await ss.execute(select(Message).order_by(Message.id))).scalars().all()
    assert [(j.status, j.attempts) for j in jobs] == [("done", 1)]
    assert [m.role for m in msgs] == ["user", "assistant", "tool", "assistant"]
    assert await second.recover(send) == [] and sent == ["Here is the rain."]


async def test_a_redelivered_message_gets_its_turn_back_on_both_databases(  # type: ignore[no-untyped-def]
        app_factory, settings, db_url) -> None:
    """The turn insert says ``ON CONFLICT DO NOTHING``: a concurrent copy gets the first turn, once."""
    model = ScriptedChatModel(script=lambda m: AIMessage(content="hello"))
    s = settings.model_copy(update={"database_url": db_url})
    app = await app_factory(settings=s, model=model)
    first, again = await asyncio.gather(*(app.dialogue.handle(Incoming("test", "r", "u", "hi", message_id="m1"))
                                          for _ in range(2)))
    late = await app.dialogue.handle(Incoming("test", "r", "u", "hi", message_id="m1"))
    assert model.calls == 1
    assert first.turn_id == again.turn_id == late.turn_id and late.text == "hello"
    conv = await app.repo.find_conversation("r")
    assert [m.role for m in await app.repo.conversation_messages(conv.id)] == ["user", "assistant"]
