"""Discord adapter latency: gateway event -> answer posted, minus model time.

The real discord.py client runs against the fake Discord on loopback
(``tests/fake_discord.py``). Each conversation starts with a mention (the bot
opens a thread) and continues in its thread; every turn calls one no-op tool
(``text_to_audio`` whose backend does nothing) and then answers. The time from
the fake sending MESSAGE_CREATE to it receiving the answer's POST is measured,
and the time spent inside the chat model and the backend is subtracted, so what
remains is ours: gateway parsing, checks, thread creation, SQL, the job row,
typing, posting. Printed for 1 and 50 concurrent conversations.

    .venv/bin/python bench/discord.py [--turns 3] [--conversations 50]
"""

# ruff: noqa: E402  (sys.path is fixed up before the imports: this file's name shadows the discord package)
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

# This file is named discord.py: with bench/ on sys.path it would shadow the discord package.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if getattr(sys.modules.get("discord"), "__file__", None) == __file__:
    del sys.modules["discord"]
sys.path.insert(0, str(HERE.parent))
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from audiogpt.bots.discord.adapter import DiscordAdapter
from audiogpt.config import Settings
from audiogpt.core.app import App
from audiogpt.models.base import BackendInfo, BackendResult
from audiogpt.models.registry import Registry
from bench.common import pct, table
from tests.fake_discord import BOT_ID, FakeDiscord, user
from tests.helpers import ScriptedChatModel

MODEL_SECONDS: dict[str, float] = defaultdict(float)  # turn tag -> seconds inside model + backend
HANDLE_SECONDS: dict[str, float] = {}  # turn tag -> seconds in Dialogue.handle (the core's share)


class NoopTextToAudio:
    """A tool backend that does nothing (its own time is still measured and subtracted)."""

    name, task, kind = "noop", "text_to_audio", "lite"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True)

    def load(self) -> Any:
        return None

    def run(self, model: Any, *, text: str, seconds: float | None = None) -> BackendResult:
        t0 = time.perf_counter()
        result = BackendResult(text="nothing generated (benchmark no-op)")
        MODEL_SECONDS[text] += time.perf_counter() - t0
        return result


def script(messages: list[BaseMessage]) -> AIMessage:
    """Call the no-op tool once per turn, then answer; the time spent here is model time."""
    t0 = time.perf_counter()
    i = max(i for i, m in enumerate(messages) if isinstance(m, HumanMessage))
    tag = messages[i].additional_kwargs["audiogpt"]["text"]
    done = [json.loads(m.content) for m in messages[i:] if isinstance(m, ToolMessage)]
    reply = (AIMessage(content=f"done: {tag}") if done else
             AIMessage(content="", tool_calls=[{"name": "text_to_audio", "args": {"text": tag}, "id": "c1",
                                                "type": "tool_call"}]))
    MODEL_SECONDS[tag] += time.perf_counter() - t0
    return reply


async def run_case(conversations: int, turns: int, tmp: Path) -> tuple[list[float], list[float], float]:
    fake = await FakeDiscord().start()
    settings = Settings(data_dir=tmp, llm="offline", discord_token="bench", discord_api_base_url=fake.api_base,
                        rate_user_per_minute=0, rate_workspace_per_minute=0, job_concurrency=8,
                        _env_file=None)  # type: ignore[call-arg]
    reg = Registry(factories=[])
    reg.register(NoopTextToAudio())
    app = await App.open(settings, registry=reg, model=ScriptedChatModel(script=script))
    handle = app.dialogue.handle

    async def timed_handle(incoming: Any, progress: Any = None) -> Any:
        t0 = time.perf_counter()
        try:
            return await handle(incoming, progress=progress)
        finally:
            HANDLE_SECONDS[incoming.text] = time.perf_counter() - t0

    app.dialogue.handle = timed_handle  # type: ignore[method-assign]
    adapter = DiscordAdapter(app)
    task = asyncio.create_task(adapter.start())
    await asyncio.wait_for(adapter.ready.wait(), 60)
    answered: dict[str, asyncio.Future[float]] = {}

    def on_request(rec: Any) -> None:
        tag = (rec.content or "").removeprefix("done: ")
        if rec.method == "POST" and tag in answered and not answered[tag].done():
            answered[tag].set_result(rec.at)

    fake.listeners.append(on_request)
    bot = user(BOT_ID, "audiogpt", bot=True)
    latencies: list[float] = []
    core: list[float] = []

    async def answer_to(tag: str, sent_at: float) -> float:
        posted_at = await asyncio.wait_for(answered[tag], 300)
        core.append((HANDLE_SECONDS[tag] - MODEL_SECONDS[tag]) * 1000)
        return (posted_at - sent_at) * 1000 - MODEL_SECONDS[tag] * 1000

    async def conversation(c: int) -> None:
        thread = ""
        for t in range(turns):
            tag = f"c{c}t{t}"
            author = user(str(930000000000100000 + c), f"user{c}")
            answered[tag] = asyncio.get_running_loop().create_future()
            sent_at = time.monotonic()
            if t == 0:
                msg = await fake.message_create(f"<@{BOT_ID}> {tag}", mentions=[bot], author=author)
                thread = msg["id"]
            else:
                await fake.message_create(tag, channel_id=thread, author=author)
            latencies.append(await answer_to(tag, sent_at))

    # warm up (first SQL connections, first job) outside the timing
    await conversation(-1)
    latencies.clear()
    core.clear()
    t0 = time.perf_counter()
    await asyncio.gather(*(conversation(c) for c in range(conversations)))
    wall = time.perf_counter() - t0
    await adapter.stop()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    await app.close()
    await fake.close()
    return latencies, core, wall


async def amain(turns: int, conversations: int) -> str:
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for conc in (1, conversations):
        with tempfile.TemporaryDirectory(prefix="audiogpt-bench-discord-") as tmp:
            times, core, wall = await run_case(conc, turns, Path(tmp))
        rows.append([conc, len(times), pct(times, 50), pct(times, 99), max(times), pct(core, 50), pct(core, 99),
                     len(times) / wall])
    out = ("Discord: MESSAGE_CREATE -> answer posted, minus model time; SQLite, fake Discord on loopback, "
           "no-op tool (goal at 50: p50 <= 20 ms, p99 <= 100 ms)\n"
           + table(["concurrent conversations", "turns", "p50 ms", "p99 ms", "max ms",
                    "of which Dialogue.handle p50 ms", "handle p99 ms", "turns/s"], rows)
           + "\n(the fake Discord runs in the same process and event loop, so its own work is included)")
    print(out)
    return out


def main() -> str:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=3, help="turns per conversation (the first opens a thread)")
    ap.add_argument("--conversations", type=int, default=50)
    args = ap.parse_args([] if __name__ != "__main__" else None)
    return asyncio.run(amain(args.turns, args.conversations))


if __name__ == "__main__":
    main()
