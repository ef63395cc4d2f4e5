"""Per-turn overhead of the dialogue path: offline engine, a no-op tool, SQLite and PostgreSQL.

Each turn is a real request ("make the sound of rain") routed by the offline
engine to ``text_to_audio``, whose backend here does nothing; so the time is
the platform's own: storing the turn and messages, two engine steps, the job
row lifecycle, the reply. Reported p50/p99 at 1 and 50 concurrent conversations.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import pct, table

from audiogpt.config import Settings
from audiogpt.core.app import App
from audiogpt.core.events import Incoming
from audiogpt.models.base import BackendInfo, BackendResult
from audiogpt.models.registry import Registry


class NoopTextToAudio:
    name, task, kind = "noop", "text_to_audio", "lite"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True)

    def load(self) -> Any:
        return None

    def run(self, model: Any, **kw: Any) -> BackendResult:
        return BackendResult(text="nothing generated (benchmark no-op)")


async def run_case(settings: Settings, conversations: int, turns: int) -> list[float]:
    reg = Registry(factories=[])
    reg.register(NoopTextToAudio())
    app = await App.open(settings, registry=reg)
    # warm the offline engine (loads its embedding model once) outside the timing
    await app.dialogue.handle(Incoming("bench", f"warm:{uuid.uuid4().hex}", "u", "make the sound of rain"))
    times: list[float] = []

    async def convo(i: int) -> None:
        key = f"bench:{uuid.uuid4().hex}:{i}"
        for _ in range(turns):
            t0 = time.perf_counter()
            out = await app.dialogue.handle(Incoming("bench", key, "u", "make the sound of rain falling"))
            times.append((time.perf_counter() - t0) * 1000)
            assert [c.tool for c in out.tool_calls] == ["text_to_audio"], out

    await asyncio.gather(*(convo(i) for i in range(conversations)))
    await app.close()
    return times


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


async def amain(turns: int) -> str:
    rows = []
    backends = ["sqlite"] + (["postgresql"] if pg_up() else [])
    for backend in backends:
        for conc in (1, 50):
            with tempfile.TemporaryDirectory() as tmp:
                db_name = None
                url = None
                if backend == "postgresql":
                    db_name, url = await pg_url()
                s = Settings(data_dir=Path(tmp), database_url=url, llm="offline", job_concurrency=8,
                             _env_file=None)  # type: ignore[call-arg]
                n = turns if conc == 1 else max(2, turns // 10)
                t0 = time.perf_counter()
                times = await run_case(s, conc, n)
                wall = time.perf_counter() - t0
                if db_name:
                    await drop_pg(db_name)
            rows.append([backend, conc, len(times), pct(times, 50), pct(times, 99), len(times) / wall])
    out = ("Per-turn overhead, offline engine + no-op tool (goal at 50: p50 <= 20 ms, p99 <= 100 ms)\n"
           + table(["database", "concurrent conversations", "turns", "p50 ms", "p99 ms", "turns/s"], rows))
    print(out)
    return out


def main() -> str:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=60)
    args = ap.parse_args([] if __name__ != "__main__" else None)
    return asyncio.run(amain(args.turns))


if __name__ == "__main__":
    main()
