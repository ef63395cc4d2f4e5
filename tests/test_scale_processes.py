"""Several bot processes on one PostgreSQL and one S3 store: crash take-over and exactly-once replies.

Real processes (``tests/scale_child.py``), real PostgreSQL, a real S3 HTTP server
(moto). Each process has its own data folder, as on separate machines, so the
only things they share are the database and the bucket.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from audiogpt.storage.db import Database
from audiogpt.storage.repos import Repository, stale_cutoff
from audiogpt.storage.schema import Job, Turn
from tests.conftest import _reset_pg
from tests.test_blobs_s3 import s3_endpoint  # noqa: F401  (module-scoped S3 server fixture)

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def pg(pg_database: str):  # type: ignore[no-untyped-def]
    await _reset_pg(pg_database)
    db = Database(pg_database)
    await db.connect(retries=2, backoff=0.05)  # migrate once, before the children start
    yield db
    await db.close()


def spawn(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.scale_child", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def read_outbox(path: Path) -> list[dict]:  # type: ignore[type-arg]
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)


async def test_killed_bot_process_turn_is_finished_by_another_once(pg: Database, pg_database: str,
                                                                    s3_endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    outbox = tmp_path / "outbox.jsonl"
    survivor = spawn("sweep", str(tmp_path / "bot-b"), pg_database, s3_endpoint, str(outbox), "120")
    victim = spawn("hang", str(tmp_path / "bot-a"), pg_database, s3_endpoint)
    try:
        async def running_job() -> Job | None:
            async with pg.sessions() as s:
                return (await s.execute(select(Job).where(Job.status == "running"))).scalar_one_or_none()

        job = await wait_for(running_job, 90, "the first process to start its job")
        assert f":{victim.pid}:" in (job.worker or "")
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        assert victim.returncode == -signal.SIGKILL

        async def posted() -> list[dict]:  # type: ignore[type-arg]
            return read_outbox(outbox)

        lines = await wait_for(posted, 90, "the surviving process to answer")
        await asyncio.sleep(1.5)  # several more sweeps: nothing is posted again
        lines = read_outbox(outbox)
    finally:
        stop(victim, survivor)
    assert [ln["text"] for ln in lines] == ["Cleaned up: a2."]
    async with pg.sessions() as s:
        jobs = (await s.execute(select(Job))).scalars().all()
        turn = (await s.execute(select(Turn))).scalar_one()
    assert [(j.status, j.attempts) for j in jobs] == [("done", 2)]
    assert f":{survivor.pid}:" in (jobs[0].worker or "") and jobs[0].runner == "local"
    assert turn.status == "done" and turn.delivery == "delivered"
    assert turn.reply_message_id == lines[0]["mid"] and f":{survivor.pid}:" in (turn.owner or "")


async def test_a_thousand_duplicated_deliveries_post_each_reply_once(pg: Database, pg_database: str,
                                                                      s3_endpoint: str, tmp_path: Path) -> None:  # noqa: F811
    """4 processes x 250 deliveries of 50 messages (each delivered 20 times); 10% of sends fail and are retried."""
    outbox = tmp_path / "outbox.jsonl"
    n_messages, rounds, procs = 50, 5, 4
    children = [spawn("dups", str(tmp_path / f"bot-{i}"), pg_database, s3_endpoint, str(outbox),
                      str(n_messages), str(rounds), str(i)) for i in range(procs)]
    try:
        for c in children:
            out, err = await asyncio.to_thread(c.communicate, timeout=240)
            assert c.returncode == 0, err.decode()[-2000:]
            assert b"done" in out
    finally:
        stop(*children)
    # the last process may have exited before a failed send of its own was retried: a fresh
    # process's start-up recovery posts what is left (the launcher does this once connected)
    from tests.scale_child import outbox_sender

    repo = Repository(pg)
    from audiogpt.core.app import App
    from tests.scale_child import settings_for

    app = await App.open(settings_for(str(tmp_path / "bot-last"), pg_database, s3_endpoint))
    try:
        await app.dialogue.recover(outbox_sender(str(outbox)), lease_seconds=0.0)
    finally:
        await app.close()

    lines = read_outbox(outbox)
    per_turn = Counter(ln["turn"] for ln in lines)
    assert len(per_turn) == n_messages, f"{n_messages - len(per_turn)} replies were never posted"
    assert max(per_turn.values()) == 1, f"duplicate replies: {[t for t, n in per_turn.items() if n > 1]}"
    assert sorted(ln["text"] for ln in lines) == sorted(f"echo: message {i}" for i in range(n_messages))
    async with pg.sessions() as s:
        turns = (await s.execute(select(Turn))).scalars().all()
    assert len(turns) == n_messages
    mids = {ln["turn"]: ln["mid"] for ln in lines}
    assert all(t.delivery == "delivered" and t.reply_message_id == mids[t.id] for t in turns)
    assert not await repo.undelivered_turns()


async def test_turn_leases_and_claims_between_processes(pg: Database) -> None:
    """The SQL claims two processes race on: exactly one winner, stale leases taken over."""
    a, b = Repository(pg, worker="host-a:1:aaaaaa"), Repository(pg, worker="host-b:2:bbbbbb")
    conv = await a.get_or_create_conversation("test:lease", "test")
    turn, _ = await a.create_turn(conv.id, author="u", platform_message_id="m", reply_to=None, is_voice=False)
    assert turn.owner == a.worker
    # a's lease is fresh: b cannot take the turn; a's own sweep never takes its own turn
    assert await b.claim_orphan_turns(stale_before=stale_cutoff(60)) == []
    assert await a.claim_orphan_turns(stale_before=stale_cutoff(-60)) == []
    # a stopped renewing: exactly one of several claimers gets it
    others = [Repository(pg, worker=f"host-{i}:{i}:cccccc") for i in range(6)]
    await asyncio.sleep(0.01)
    cut = stale_cutoff(0)  # a lease older than now is stale; the winner's new lease is not
    won = await asyncio.gather(*(r.claim_orphan_turns(stale_before=cut) for r in others))
    assert sum(len(w) for w in won) == 1
    # delivery: one claim wins, only the winner can mark it, and the platform id is recorded
    await a.finish_turn(turn.id, {"text": "hi"})
    claims = await asyncio.gather(*(r.claim_delivery(turn.id) for r in [a, b, *others]))
    assert sum(claims) == 1
    winner = [a, b, *others][claims.index(True)]
    loser = a if winner is not a else b
    assert not await loser.mark_delivered(turn.id, "x")
    assert await winner.mark_delivered(turn.id, "platform-123")
    assert (await a.get_turn(turn.id)).reply_message_id == "platform-123"
    assert not await b.claim_delivery(turn.id)
    # a sender killed mid-send: its claim expires and the reply is offered again
    t2, _ = await a.create_turn(conv.id, author="u", platform_message_id="m2", reply_to=None, is_voice=False)
    await a.finish_turn(t2.id, {"text": "again"})
    assert await a.claim_delivery(t2.id)
    b.delivery_lease_seconds = -1  # as if the lease had run out
    assert await b.claim_delivery(t2.id)
    assert not await a.mark_delivered(t2.id, "late")  # fenced: the first sender lost its claim


async def test_queue_claim_skips_locked_rows(pg: Database) -> None:
    repo = Repository(pg)
    conv = await repo.get_or_create_conversation("test:q", "test")
    for i in range(12):
        await repo.create_job(conv.id, None, f"c{i}", "speech_recognition", {"audio": "a1"})
    got = await asyncio.gather(*(repo.claim_next_jobs(f"w{i}", stale_before=stale_cutoff(60), limit=2, runner="ray")
                                 for i in range(8)))
    ids = [j.id for batch in got for j in batch]
    assert len(ids) == len(set(ids)) == 12
    async with pg.sessions() as s:
        rows = (await s.execute(select(Job))).scalars().all()
    assert all(r.status == "running" and r.attempts == 1 and r.runner == "ray" for r in rows)
