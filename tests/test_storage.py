"""Repositories and migrations on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import socket

import pytest
from sqlalchemy import inspect

from audiogpt.storage.db import Database, DatabaseUnavailable
from audiogpt.storage.repos import Repository, stale_cutoff


@pytest.fixture
async def repo(db_url: str):  # type: ignore[no-untyped-def]
    db = Database(db_url)
    await db.connect(retries=2, backoff=0.05)
    yield Repository(db)
    await db.close()


async def test_migrations_create_all_tables(repo: Repository) -> None:
    async with repo.db.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"conversations", "messages", "artifacts", "jobs", "settings", "turns", "alembic_version"} <= names
    await repo.db.migrate()  # idempotent


async def test_artifact_ids_are_per_conversation_and_unique_under_concurrency(repo: Repository) -> None:
    c1 = await repo.get_or_create_conversation("k1", "test")
    c2 = await repo.get_or_create_conversation("k2", "test")
    assert (await repo.get_or_create_conversation("k1", "test")).id == c1.id

    async def add(conv: int, i: int) -> str:
        row, _ = await repo.add_artifact(conv, sha256=f"{i:064x}", blob=f"x/{i}", kind="audio", mime="audio/wav",
                                         name=f"{i}.wav", size=1, duration=None, source="user", parent=None, turn_id=None)
        return row.short_id

    ids1 = await asyncio.gather(*(add(c1.id, i) for i in range(8)))
    ids2 = [await add(c2.id, 100 + i) for i in range(2)]
    assert sorted(ids1, key=lambda s: int(s[1:])) == [f"a{i}" for i in range(1, 9)]
    assert ids2 == ["a1", "a2"]
    # identical content in the same conversation is the same artifact
    row, created = await repo.add_artifact(c2.id, sha256=f"{100:064x}", blob="x/100", kind="audio", mime="audio/wav",
                                           name="again.wav", size=1, duration=None, source="user", parent=None, turn_id=None)
    assert (row.short_id, created) == ("a1", False)


async def test_job_claim_is_atomic(repo: Repository) -> None:
    conv = await repo.get_or_create_conversation("k", "test")
    job, created = await repo.create_job(conv.id, None, "call-1", "speech_recognition", {"audio": "a1"})
    assert created
    wins = await asyncio.gather(*(repo.claim_job(job.id, f"w{i}", stale_before=stale_cutoff(60)) for i in range(5)))
    assert sum(wins) == 1
    row = await repo.get_job(job.id)
    assert row.status == "running" and row.attempts == 1
    # a stale lease can be taken over
    assert await repo.claim_job(job.id, "late", stale_before=stale_cutoff(-5))
    assert (await repo.get_job(job.id)).attempts == 2


async def test_turn_dedup_and_delivery_claim(repo: Repository) -> None:
    conv = await repo.get_or_create_conversation("k", "test")
    t1, c1 = await repo.create_turn(conv.id, author="u", platform_message_id="m1", reply_to=None, is_voice=False)
    t2, c2 = await repo.create_turn(conv.id, author="u", platform_message_id="m1", reply_to=None, is_voice=False)
    assert c1 and not c2 and t1.id == t2.id
    assert not await repo.claim_delivery(t1.id)  # not finished yet
    await repo.finish_turn(t1.id, {"text": "hi"})
    claims = await asyncio.gather(*(repo.claim_delivery(t1.id) for _ in range(4)))
    assert sum(claims) == 1
    await repo.mark_delivered(t1.id)
    assert not await repo.undelivered_turns()


async def test_settings_per_workspace(repo: Repository) -> None:
    await repo.set_setting("discord:guild:1", "disabled_tools", ["talking_head"])
    await repo.set_setting("discord:guild:1", "disabled_tools", ["text_to_music"])
    await repo.set_setting("slack:T1", "voice", "joe")
    assert await repo.get_setting("discord:guild:1", "disabled_tools") == ["text_to_music"]
    assert await repo.settings_for("slack:T1") == {"voice": "joe"}
    assert await repo.get_setting("nope", "x", 5) == 5


async def test_unreachable_database_is_one_clear_sentence() -> None:
    db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    with pytest.raises(DatabaseUnavailable) as err:
        await db.connect(retries=2, backoff=0.01)
    assert "could not be reached after 2 attempts" in str(err.value)
    assert str(err.value).endswith(".") and "\n" not in str(err.value)
    await db.close()


async def test_database_briefly_unavailable_at_start_is_retried(pg_database: str) -> None:
    """Nothing listens on the port at first; a proxy to PostgreSQL comes up 0.4 s later."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            w.close()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        sr, sw = await asyncio.open_connection("127.0.0.1", 5432)
        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

    async def start_later() -> asyncio.Server:
        await asyncio.sleep(0.4)
        return await asyncio.start_server(handle, "127.0.0.1", port)

    url = pg_database.replace("127.0.0.1:5432", f"127.0.0.1:{port}")
    db = Database(url)
    server_task = asyncio.create_task(start_later())
    await db.connect(retries=6, backoff=0.1)  # 0.1 + 0.2 + 0.4 ... covers the 0.4 s outage
    server = await server_task
    await db.close()
    server.close()
