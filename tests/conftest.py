"""Fixtures: settings in a temp folder, databases (SQLite and the PostgreSQL on 127.0.0.1:5432)."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from audiogpt.config import Settings

PG_ADMIN_URL = os.environ.get("AUDIOGPT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


PG_AVAILABLE = _pg_up()


def _run_sync(coro) -> None:  # type: ignore[no-untyped-def]
    """Run a coroutine to completion from sync code, even inside a running loop."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as ex:
        ex.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; dropped at the end."""
    if not PG_AVAILABLE:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not running on 127.0.0.1:5432 (CI must start it in .ci/run)")
        pytest.skip("!!! PostgreSQL is not running on 127.0.0.1:5432: PostgreSQL tests SKIPPED !!!")
    import asyncpg

    name = f"audiogpt_t_{uuid.uuid4().hex[:8]}"
    admin = PG_ADMIN_URL

    async def create() -> None:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    _run_sync(create())
    base = admin.rsplit("/", 1)[0]
    yield f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://")
    _run_sync(drop())


async def _reset_pg(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url = request.getfixturevalue("pg_database")
    await _reset_pg(url)
    yield url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm="offline", database_url=None, job_lease_seconds=2.0,
                    db_connect_retries=2, db_connect_backoff=0.05, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def app_factory(settings: Settings):  # type: ignore[no-untyped-def]
    """Open Apps on ``settings`` (optionally overridden); all closed at teardown."""
    from audiogpt.core.app import App

    opened: list[App] = []

    async def make(**kw):  # type: ignore[no-untyped-def]
        s = kw.pop("settings", settings)
        app = await App.open(s, **kw)
        opened.append(app)
        return app

    yield make
    for a in opened:
        await a.close()
