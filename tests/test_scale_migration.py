"""Migration 0003 (turn leases, reply outbox, job runner/replica) goes up and down on both databases."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from audiogpt.storage.db import Database, alembic_config


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _to(revision: str):  # type: ignore[no-untyped-def]
    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        if revision == "head":
            command.upgrade(cfg, "head")
        else:
            command.downgrade(cfg, revision)

    return run


async def test_0003_up_and_down(db_url: str) -> None:
    db = Database(db_url)
    await db.connect(retries=2, backoff=0.05)
    try:
        scale = {"owner", "lease_at", "delivery_owner", "delivery_lease_at", "delivery_attempts", "reply_message_id"}
        async with db.engine.connect() as conn:
            assert scale <= await conn.run_sync(_columns, "turns")
            assert {"runner", "replica"} <= await conn.run_sync(_columns, "jobs")
        async with db.engine.begin() as conn:
            await conn.run_sync(_to("0002"))
        async with db.engine.connect() as conn:
            assert not scale & await conn.run_sync(_columns, "turns")
            assert not {"runner", "replica"} & await conn.run_sync(_columns, "jobs")
        await db.migrate()
        async with db.engine.connect() as conn:
            assert scale <= await conn.run_sync(_columns, "turns")
    finally:
        await db.close()
