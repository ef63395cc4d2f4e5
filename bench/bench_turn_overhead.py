"""Per-turn overhead of the dialogue path: a no-op tool, SQLite and PostgreSQL.

Each turn is a real request ("make the sound of rain falling") that calls
``text_to_audio``, whose backend here does nothing; so the time is the
platform's own: storing the turn and messages, two engine steps, the job row
lifecycle, the reply.

Engines: ``noop`` (default) answers the first step with the tool call and the second
with text, at no cost (its ``ainvoke`` returns the answer directly), so the figures
are the platform's alone (the issue's goal: >= 300 turns/s per process on
PostgreSQL); ``langchain-noop`` gives the same answers through LangChain's own
``BaseChatModel.ainvoke`` machinery (callbacks, run managers), which every real
chat model pays, about half a millisecond a call; ``offline`` is the real offline
planner (its embedding router adds a few ms a step, in a worker thread).

Two load shapes:

- **closed loop** (``--conversations 1,50``): N conversations, each sending its next
  message as soon as the last one is answered; turns/s is throughput (counted over
  the turns only, not the app's start-up) and p50/p99 the latency under that load.
- **open loop** (``--open-loop RATE``): turns arrive at a fixed rate whatever the
  bot's speed, spread over ``--open-conversations`` conversations, for
  ``--duration`` seconds. Latency is measured from each turn's *scheduled* arrival,
  so a bot that falls behind shows its queueing delay instead of hiding it
  (no coordinated omission). Goal: p99 <= 100 ms at 20 turns/s.

``CPU ms/turn`` is this process's CPU time (all its threads) per turn: on a shared or
busy machine it is the steadier figure, and ``1000 / CPU ms`` is what one core could
serve (the database server's own CPU is not in it). ``--count-queries`` adds the
database statements per turn.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import pct, table
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable

from audiogpt.config import Settings
from audiogpt.core.app import App
from audiogpt.core.events import Incoming
from audiogpt.models.base import BackendInfo, BackendResult
from audiogpt.models.registry import Registry

TEXT = "make the sound of rain falling"


class NoopTextToAudio:
    name, task, kind = "noop", "text_to_audio", "lite"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True)

    def load(self) -> Any:
        return None

    def run(self, model: Any, **kw: Any) -> BackendResult:
        return BackendResult(text="nothing generated (benchmark no-op)")


class NoopChatModel(BaseChatModel):
    """Calls ``text_to_audio`` once, then answers in text: an engine that costs nothing.

    ``_agenerate`` answers on the loop (no worker thread), so what is measured is the
    dialogue path and its storage, not a planner.
    """

    @property
    def _llm_type(self) -> str:
        return "bench-noop"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, BaseMessage]:
        return self

    def _answer(self, messages: list[BaseMessage]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage(content="Here is the rain.")
        return AIMessage(content="", tool_calls=[{"name": "text_to_audio", "args": {"text": "rain falling"},
                                                  "id": "c1", "type": "tool_call"}])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages))])

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return self._generate(messages)


class ZeroCostChatModel(NoopChatModel):
    """:class:`NoopChatModel` without LangChain's per-call machinery: an engine that costs nothing."""

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> AIMessage:
        return self._answer(list(input))


class QueryCounter:
    """Counts statements sent to the database (``before_cursor_execute``)."""

    def __init__(self, app: App) -> None:
        from sqlalchemy import event

        self.n = 0
        event.listen(app.db.engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_a: Any) -> None:
        self.n += 1


async def open_app(settings: Settings, engine: str) -> App:
    reg = Registry(factories=[])
    reg.register(NoopTextToAudio())
    model = {"noop": ZeroCostChatModel, "langchain-noop": NoopChatModel}.get(engine)
    app = await App.open(settings, registry=reg, model=model() if model else None)
    # warm the engine (the offline one loads its embedding model once) and the statement caches
    for _ in range(3):
        await app.dialogue.handle(Incoming("bench", f"warm:{uuid.uuid4().hex}", "u", TEXT))
    return app


async def one_turn(app: App, key: str) -> None:
    out = await app.dialogue.handle(Incoming("bench", key, "u", TEXT))
    assert [c.tool for c in out.tool_calls] == ["text_to_audio"], out


async def closed_loop(app: App, conversations: int, turns: int) -> tuple[list[float], float]:
    """``conversations`` conversations of ``turns`` turns each; returns latencies (ms) and the wall time."""
    times: list[float] = []

    async def convo(i: int) -> None:
        key = f"bench:{uuid.uuid4().hex}:{i}"
        for _ in range(turns):
            t0 = time.perf_counter()
            await one_turn(app, key)
            times.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(convo(i) for i in range(conversations)))
    return times, time.perf_counter() - t0


async def open_loop(app: App, rate: float, duration: float, conversations: int) -> tuple[list[float], float]:
    """Turns arriving every ``1/rate`` s; latency counted from the scheduled arrival."""
    keys = [f"bench-open:{uuid.uuid4().hex}:{i}" for i in range(conversations)]
    times: list[float] = []
    n = max(1, int(rate * duration))
    start = time.perf_counter() + 0.05

    async def arrival(i: int) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await one_turn(app, keys[i % len(keys)])
        times.append((time.perf_counter() - due) * 1000)

    await asyncio.gather(*(arrival(i) for i in range(n)))
    return times, time.perf_counter() - start


def pg_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


async def pg_url() -> tuple[str, str]:
    import asyncpg

    name = f"audiogpt_bench_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return name, f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"


async def drop_pg(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def run_backend(backend: str, args: argparse.Namespace) -> list[list[object]]:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db_name = url = None
        if backend == "postgresql":
            db_name, url = await pg_url()
        s = Settings(data_dir=Path(tmp), database_url=url, llm="offline", job_concurrency=8,
                     _env_file=None)  # type: ignore[call-arg]
        app = await open_app(s, args.engine)
        counter = QueryCounter(app) if args.count_queries else None
        try:
            cases: list[tuple[str, int, float]] = [("closed", c, 0.0) for c in args.conversations]
            cases += [("open", args.open_conversations, r) for r in args.open_loop]
            for mode, conc, rate in cases:
                before = counter.n if counter else 0
                cpu0 = time.process_time()
                if mode == "closed":
                    times, wall = await closed_loop(app, conc, args.turns if conc == 1 else max(2, args.turns // 10))
                    shape = f"closed, {conc} conv"
                else:
                    times, wall = await open_loop(app, rate, args.duration, conc)
                    shape = f"open {rate:g}/s, {conc} conv"
                cpu_ms = (time.process_time() - cpu0) * 1000 / max(1, len(times))
                row: list[object] = [backend, args.engine, shape, len(times), pct(times, 50), pct(times, 95),
                                     pct(times, 99), len(times) / wall, cpu_ms]
                if counter:
                    row.append((counter.n - before) / max(1, len(times)))
                rows.append(row)
        finally:
            await app.close()
            if db_name:
                await drop_pg(db_name)
    return rows


async def amain(args: argparse.Namespace) -> str:
    rows = []
    for backend in args.db:
        if backend == "postgresql" and not pg_up():
            print("PostgreSQL is not running on 127.0.0.1:5432: skipped", file=sys.stderr)
            continue
        rows += await run_backend(backend, args)
    headers = ["database", "engine", "load", "turns", "p50 ms", "p95 ms", "p99 ms", "turns/s", "CPU ms/turn"]
    if args.count_queries:
        headers.append("statements/turn")
    out = ("Per-turn overhead, no-op tool (goals: >= 300 turns/s closed loop on PostgreSQL; "
           "p99 <= 100 ms at an open-loop 20 turns/s)\n" + table(headers, rows))
    print(out)
    return out


def _csv(kind: type) -> Any:
    return lambda s: [kind(x) for x in s.split(",") if x]


def main(argv: Sequence[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", type=_csv(str), default=["sqlite", "postgresql"], help="sqlite,postgresql")
    ap.add_argument("--engine", choices=("noop", "langchain-noop", "offline"), default="noop")
    ap.add_argument("--turns", type=int, default=200, help="turns of the one-conversation case (a tenth each at N>1)")
    ap.add_argument("--conversations", type=_csv(int), default=[1, 50],
                    help="closed-loop cases: concurrent conversations (empty: none)")
    ap.add_argument("--open-loop", type=_csv(float), default=[20.0], metavar="RATE",
                    help="open-loop arrival rates in turns/s (empty: none)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of each open-loop case")
    ap.add_argument("--open-conversations", type=int, default=20, help="conversations the open-loop turns go to")
    ap.add_argument("--count-queries", action="store_true", help="report database statements per turn")
    args = ap.parse_args([] if argv is None and __name__ != "__main__" else argv)
    return asyncio.run(amain(args))


if __name__ == "__main__":
    main()
