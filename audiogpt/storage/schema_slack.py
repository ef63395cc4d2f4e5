"""Slack OAuth tables: one row per app installation in a workspace, and one-time OAuth states.

They live in their own module so the Slack adapter's storage can grow without touching the
core schema; they share ``Base.metadata`` so Alembic sees one schema.

The token columns hold ``enc:v1:`` Fernet ciphertext under ``AUDIOGPT_SECRET_KEY``
(``secretbox.py``; plaintext only in rows written before, or without, a key): the database
is still the secret store of a multi-workspace deployment, protect it like one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from audiogpt.storage.schema import Base, utcnow


class SlackInstallation(Base):
    """The latest installation of our app by one installer in one workspace (or org).

    ``enterprise_id`` / ``team_id`` are ``""`` rather than NULL so the unique key works on
    SQLite and PostgreSQL alike. ``data`` keeps every field Slack returned (scopes, webhook,
    custom values) so the store can rebuild an ``Installation`` without loss.
    """

    __tablename__ = "slack_installations"
    __table_args__ = (
        UniqueConstraint("client_id", "enterprise_id", "team_id", "user_id", name="uq_slack_installation"),
        Index("ix_slack_installation_team", "client_id", "enterprise_id", "team_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), default="")
    app_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    enterprise_id: Mapped[str] = mapped_column(String(32), default="")
    team_id: Mapped[str] = mapped_column(String(32), default="")
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[str] = mapped_column(String(32), default="")
    bot_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    bot_refresh_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    bot_token_expires_at: Mapped[int | None] = mapped_column(Integer, nullable=True)  # unix seconds
    user_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_refresh_token: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_token_expires_at: Mapped[int | None] = mapped_column(Integer, nullable=True)  # unix seconds
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SlackOAuthState(Base):
    """A one-time ``state`` value of an OAuth flow; consumed (deleted) on the redirect."""

    __tablename__ = "slack_oauth_states"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(128), unique=True)
    expire_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlackThread(Base):
    """A Slack thread that continues an existing conversation (an ephemeral slash-command answer
    moved into a thread by its "Continue in a thread" button)."""

    __tablename__ = "slack_threads"
    __table_args__ = (UniqueConstraint("team_id", "channel", "thread_ts", name="uq_slack_thread"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str] = mapped_column(String(32))
    conversation: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
