"""Database engine, sessions and migrations.

The app runs Alembic's ``upgrade head`` at start on the same async engine, so
SQLite (default) and PostgreSQL go through one path. A database that is briefly
unavailable at start is retried with backoff before giving up with one sentence.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached; ``str()`` is one sentence for the operator."""


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # no pre-ping (a round trip per checkout); stale connections are recycled instead
    return create_async_engine(url, pool_recycle=1800, pool_size=20, max_overflow=30)


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(conn: Connection) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


class Database:
    """Owns the async engine and the session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, class_=AsyncSession)
        # One statement that is its own unit of work (a job's result) needs no BEGIN and COMMIT
        # round trips around it on PostgreSQL. SQLite keeps its transaction: there the switch
        # itself would cost as much as the two statements it saves.
        self._single = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                        if self.engine.dialect.name == "postgresql" else None)

    def single(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for one statement that commits by itself (autocommit on PostgreSQL)."""
        if self._single is not None:
            return self._single.connect()
        return self.engine.begin()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def connect(self, *, retries: int = 5, backoff: float = 0.5) -> None:
        """Wait for the server (with backoff), then migrate to head."""
        delay = backoff
        for attempt in range(1, retries + 1):
            try:
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                break
            except Exception as exc:  # driver errors differ per backend
                if attempt == retries:
                    log.error("database unreachable after %d attempts: %r", attempt, exc)
                    raise DatabaseUnavailable(
                        f"The database at {self.safe_url} could not be reached after {attempt} attempts ({type(exc).__name__})."
                    ) from exc
                log.warning("database not reachable (attempt %d/%d): %r; retrying in %.1fs", attempt, retries, exc, delay)
                await asyncio.sleep(delay)
                delay *= 2
        await self.migrate()

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade)

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    async def close(self) -> None:
        await self.engine.dispose()
