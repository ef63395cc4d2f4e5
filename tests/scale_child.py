"""Bot processes for the multi-process tests (tests/test_scale_processes.py).

Each runs a real App on the shared PostgreSQL and S3 (moto) store, with its own
data folder, as a bot on another machine would. Modes:

- ``hang``: handles one turn whose model job hangs, so the test can SIGKILL it.
- ``sweep``: a live bot that only sweeps: it takes over turns of dead processes and
  posts their replies through ``send`` (a line in the shared outbox file).
- ``dups``: receives every message of a list several times in random order (a
  platform redelivering), answers each and delivers; 10% of sends fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from audiogpt.config import Settings
from audiogpt.core.app import App
from audiogpt.core.events import Incoming, Outgoing
from tests.helpers import GainBackend, ScriptedChatModel, bytes_attachment, tone_wav
from tests.test_dialogue import enhance_script, last_human, registry_with


def settings_for(data_dir: str, db_url: str, s3_endpoint: str) -> Settings:
    return Settings(data_dir=Path(data_dir), database_url=db_url, llm="offline", job_lease_seconds=2.0,
                    recovery_interval=0.3, artifact_store_url="s3://scale-test/artifacts",
                    s3_endpoint_url=s3_endpoint, s3_create_bucket=True, _env_file=None)  # type: ignore[call-arg]


def outbox_sender(path: str, fail_rate: float = 0.0, seed: int = 0):  # type: ignore[no-untyped-def]
    """``send``: appends one JSON line per posted reply (O_APPEND lines are atomic) and returns its id."""
    rnd = random.Random(seed)
    counter = [0]

    async def send(out: Outgoing) -> str:
        if fail_rate and rnd.random() < fail_rate:
            raise ConnectionError("platform unavailable (simulated)")
        counter[0] += 1
        mid = f"{os.getpid()}-{counter[0]}"
        line = json.dumps({"turn": out.turn_id, "conversation": out.conversation, "text": out.text, "mid": mid})
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
        return mid

    return send


def echo_script(messages: list[BaseMessage]) -> AIMessage:
    return AIMessage(content=f"echo: {last_human(messages).content}")


async def hang(s: Settings) -> None:
    app = await App.open(s, model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend(sleep=120)))
    print("ready", flush=True)
    await app.dialogue.handle(Incoming(platform="test", conversation="test:crash", author="u", text="clean this",
                                       attachments=(bytes_attachment(tone_wav(), "n.wav"),), message_id="m1"))
    print("finished (should have been killed)", flush=True)


async def sweep(s: Settings, outbox: str, seconds: float) -> None:
    app = await App.open(s, model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend()))
    try:
        await app.recover(outbox_sender(outbox))
        print("ready", flush=True)
        await asyncio.sleep(seconds)
    finally:
        await app.close()


async def dups(s: Settings, outbox: str, n_messages: int, rounds: int, seed: int) -> None:
    app = await App.open(s, model=ScriptedChatModel(script=echo_script), registry=registry_with())
    send = outbox_sender(outbox, fail_rate=0.1, seed=seed)
    deliveries = [i for i in range(n_messages) for _ in range(rounds)]
    random.Random(seed).shuffle(deliveries)
    print("ready", flush=True)

    async def one(i: int) -> Any:
        out = await app.dialogue.handle(Incoming(platform="test", conversation=f"test:c{i % 7}", author="u",
                                                 text=f"message {i}", message_id=f"m{i}"))
        return await app.dialogue.deliver(out, send)

    try:
        for k in range(0, len(deliveries), 8):
            await asyncio.gather(*(one(i) for i in deliveries[k:k + 8]))
        # a retry pass for this process's own replies whose send failed
        await app.dialogue.recover(send, lease_seconds=s.job_lease_seconds)
    finally:
        await app.close()
    print("done", flush=True)


def main(argv: list[str]) -> None:
    mode, data_dir, db_url, s3 = argv[:4]
    s = settings_for(data_dir, db_url, s3)
    if mode == "hang":
        asyncio.run(hang(s))
    elif mode == "sweep":
        asyncio.run(sweep(s, argv[4], float(argv[5])))
    elif mode == "dups":
        asyncio.run(dups(s, argv[4], int(argv[5]), int(argv[6]), int(argv[7])))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1:])
