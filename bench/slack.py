"""Slack adapter overhead: signed Events API requests through bolt, the turn, and the answer posted
to a fake Web API on loopback.

50 conversations at once (each a signed ``app_mention`` in its own thread) whose turn calls a
no-op tool (``text_to_audio`` with a backend that does nothing) and answers. Measured per
event: HTTP ack time, and event sent -> answer recorded by the fake, minus the time spent in
the (scripted, instant) chat model. Run: ``.venv/bin/python bench/slack.py [--conversations 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import aiohttp
from common import pct, table
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from audiogpt.bots.slack.adapter import SlackAdapter
from audiogpt.config import Settings
from audiogpt.core.app import App
from audiogpt.models.base import BackendInfo, BackendResult
from audiogpt.models.registry import Registry
from tests.fake_slack import FakeSlack
from tests.slack_helpers import BOT_TOKEN, SECRET, event_body, mention, signed_headers

MODEL_SECONDS: dict[str, float] = defaultdict(float)  # conversation tag -> seconds inside the model
TURN_SPAN: dict[str, tuple[float, float]] = {}  # thread ts -> (start, end) of Dialogue.handle (the core turn)


def time_turns(app: App) -> None:
    """Record how long the core turn took, so the table can show what the adapter adds."""
    handle = app.dialogue.handle

    async def timed(incoming: Any, progress: Any = None) -> Any:
        t0 = time.perf_counter()
        try:
            return await handle(incoming, progress=progress)
        finally:
            TURN_SPAN[incoming.conversation.rsplit(":", 1)[-1]] = (t0, time.perf_counter())

    app.dialogue.handle = timed  # type: ignore[method-assign]


class NoopTextToAudio:
    name, task, kind = "noop", "text_to_audio", "lite"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True)

    def load(self) -> Any:
        return None

    def run(self, model: Any, **kw: Any) -> BackendResult:
        return BackendResult(text="nothing generated (benchmark no-op)")


class InstantModel(BaseChatModel):
    """Step 1 calls the no-op tool, step 2 answers; the time spent here is subtracted."""

    @property
    def _llm_type(self) -> str:
        return "bench-instant"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        if isinstance(messages[-1], ToolMessage):
            return AIMessage(content="Done: the no-op tool ran.")
        return AIMessage(content="", tool_calls=[{"name": "text_to_audio", "args": {"text": "rain"},
                                                  "id": "c1", "type": "tool_call"}])

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    async def _agenerate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                         **kwargs: Any) -> ChatResult:
        t0 = time.perf_counter()
        human = next(m for m in reversed(messages) if isinstance(m, HumanMessage))
        tag = re.search(r"#(\d+)", str(human.content))
        result = ChatResult(generations=[ChatGeneration(message=self._reply(messages))])
        MODEL_SECONDS[tag.group(1) if tag else "?"] += time.perf_counter() - t0
        return result


async def run_round(rig: dict[str, Any], n: int, round_no: int, *, sequential: bool = False
                    ) -> tuple[list[float], list[float], list[float], list[float]]:
    """Per event: ack ms, answer ms minus model, ms from the event to the turn's start (bolt, checks,
    scheduling), ms from the turn's end to the answer at the fake (delivery claim, post)."""
    fake: FakeSlack = rig["fake"]
    http: aiohttp.ClientSession = rig["http"]
    sent: dict[str, float] = {}
    acks: list[float] = []

    async def one(i: int) -> None:
        tag = f"{round_no}{i:04d}"
        ts = f"17{round_no:02d}.{i:06d}"
        body = event_body(mention(f"make rain #{tag}", ts, channel=f"C{i % 7}"))
        sent[ts] = time.perf_counter()
        async with http.post(rig["url"], data=body.encode(), headers=signed_headers(body)) as resp:
            assert resp.status == 200
        acks.append((time.perf_counter() - sent[ts]) * 1000)

    before = len(fake.calls_to("chat.postMessage"))
    if sequential:
        for i in range(n):
            await one(i)
            await fake.wait_for("chat.postMessage", before + i + 1, timeout=60)
    else:
        await asyncio.gather(*(one(i) for i in range(n)))
    posts = await fake.wait_for("chat.postMessage", before + n, timeout=120)
    answered = {c.args["thread_ts"]: c.at for c in posts if c.args.get("thread_ts") in sent}
    net, before, after = [], [], []
    for ts, t0 in sent.items():
        i = int(ts.split(".")[1])
        tag = f"{round_no}{i:04d}"
        start, end = TURN_SPAN[ts]
        net.append((answered[ts] - t0 - MODEL_SECONDS[tag]) * 1000)
        before.append((start - t0) * 1000)
        after.append((answered[ts] - end) * 1000)
    return acks, net, before, after


async def main(conversations: int, rounds: int, postgres: bool) -> None:
    rows: list[list[Any]] = []
    await run_db(rows, "sqlite", None, conversations, rounds)
    if postgres:
        from bench_turn_overhead import drop_pg, pg_up, pg_url

        if pg_up():
            name, url = await pg_url()
            try:
                await run_db(rows, "postgresql", url, conversations, rounds)
            finally:
                await drop_pg(name)
        else:
            print("PostgreSQL is not running on 127.0.0.1:5432; skipped", file=sys.stderr)
    print("Slack: signed app_mention -> answer posted to the fake Web API (HTTP mode, no-op tool), ms.\n"
          "answer = event sent -> chat.postMessage received by the fake, minus model time; the adapter's share:\n"
          "in = event sent -> core turn starts (bolt, signature, rate check); out = turn ends -> answer received")
    print(table(["db", "run", "ack p50", "ack p99", "answer p50", "answer p99", "in p50", "in p99", "out p50",
                 "out p99"], rows))


async def run_db(rows: list[list[Any]], db: str, url: str | None, conversations: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Slack is another machine: run the fake Web API on its own thread and event loop
        slack_loop = asyncio.new_event_loop()
        slack_thread = threading.Thread(target=slack_loop.run_forever, name="fake-slack", daemon=True)
        slack_thread.start()
        fake = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(FakeSlack().start(), slack_loop))
        fake.add_team(BOT_TOKEN, "T1")
        settings = Settings(data_dir=Path(tmp), database_url=url, llm="offline",  # type: ignore[call-arg]
                            slack_bot_token=BOT_TOKEN,
                            slack_signing_secret=SECRET, slack_api_url=fake.api_url, slack_mode="http",
                            slack_port=0, slack_host="127.0.0.1", rate_user_per_minute=0,
                            rate_workspace_per_minute=0, job_concurrency=16, _env_file=None)
        reg = Registry(factories=[])
        reg.register(NoopTextToAudio())
        app = await App.open(settings, registry=reg, model=InstantModel())
        time_turns(app)
        adapter = SlackAdapter(app, settings)
        adapter.progress_delay = 60.0  # answers only: no "Working…" placeholder posts in the measurement
        server = asyncio.create_task(adapter.start())
        await adapter.ready.wait()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            rig = {"fake": fake, "http": http, "url": f"http://127.0.0.1:{adapter.port}/slack/events"}
            await run_round(rig, 1, 1)  # warm up: first turn builds tool schemas, opens connections
            runs = [("one at a time", 20, True)] + [(f"{conversations} at once #{r}", conversations, False)
                                                     for r in range(1, rounds + 1)]
            for r, (label, n, seq) in enumerate(runs, start=2):
                before = len(fake.calls_to("chat.postMessage"))
                acks, net, into, out = await run_round(rig, n, r, sequential=seq)
                assert len(fake.calls_to("chat.postMessage")) - before == n, "not one answer each"
                rows.append([db, label, pct(acks, 50), pct(acks, 99), pct(net, 50), pct(net, 99),
                             pct(into, 50), pct(into, 99), pct(out, 50), pct(out, 99)])
        await adapter.stop()
        await server
        await app.close()
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(fake.close(), slack_loop))
        slack_loop.call_soon_threadsafe(slack_loop.stop)
        slack_thread.join(5)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conversations", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--postgres", action="store_true", help="also run on the PostgreSQL at 127.0.0.1:5432")
    args = ap.parse_args()
    asyncio.run(main(args.conversations, args.rounds, args.postgres))
