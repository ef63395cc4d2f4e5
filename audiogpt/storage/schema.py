"""The SQL schema. Alembic (``audiogpt/migrations``) owns how it is created and changed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    platform: Mapped[str] = mapped_column(String(32))
    workspace: Mapped[str | None] = mapped_column(String(128), nullable=True)
    artifact_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Turn(Base):
    """One user message and the bot's answer to it; the unit of recovery and delivery."""

    __tablename__ = "turns"
    __table_args__ = (
        UniqueConstraint("conversation_id", "platform_message_id", name="uq_turn_platform_msg"),
        Index("ix_turn_status", "status"),
        Index("ix_turn_delivery", "delivery"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    platform_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    author: Mapped[str] = mapped_column(String(128), default="")
    reply_to: Mapped[str | None] = mapped_column(String(128), nullable=True)
    is_voice: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # Outgoing.to_dict() + extras
    delivery: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivering | delivered
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Several bot processes share one database: the process running a turn holds a lease on it
    # (owner + lease_at, renewed by its heartbeat); another process takes over a turn whose lease
    # went stale. The reply is an outbox entry on the same row: whoever claims the delivery holds
    # a lease on that too, and marks it delivered in the same UPDATE that records the platform's
    # message id of the posted reply.
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivery_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    delivery_lease_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reply_message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Set when the delivery gave up after ``delivery_max_attempts`` claims: the reply is marked
    # delivered (no sweep retries it again) with the reason; the user got one sentence saying so.
    delivery_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class ReplyPartRow(Base):
    """One posted part of a reply (a text chunk, a file group, an upload): what a retry skips.

    A reply is several platform calls. Each part is recorded here right after the platform
    accepted it, so a delivery that failed half-way resumes at the first unrecorded part
    instead of posting the whole reply again. Part -1 is the give-up sentence.
    """

    __tablename__ = "reply_parts"

    turn_id: Mapped[int] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))  # text | files | voice | upload | notice
    message_id: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the platform's id, where it gives one
    posted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Message(Base):
    """Every message of a turn as the LLM saw it: user, assistant (with tool calls), tool results."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant | tool
    content: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("conversation_id", "short_id", name="uq_artifact_short_id"),
        Index("ix_artifact_conv_sha", "conversation_id", "sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    short_id: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    blob: Mapped[str] = mapped_column(String(255))  # key in the blob store
    kind: Mapped[str] = mapped_column(String(16))  # audio | image | video | text | other
    mime: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(64), default="user")  # "user" or the tool that made it
    parent: Mapped[str | None] = mapped_column(String(16), nullable=True)  # short id it was made from
    turn_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_job_status", "status"),
        UniqueConstraint("turn_id", "tool_call_id", name="uq_job_tool_call"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"), nullable=True)
    tool_call_id: Mapped[str] = mapped_column(String(128))
    tool: Mapped[str] = mapped_column(String(64))
    args: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    backend: Mapped[str | None] = mapped_column(String(128), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    runner: Mapped[str | None] = mapped_column(String(32), nullable=True)  # local | ray
    replica: Mapped[str | None] = mapped_column(String(128), nullable=True)  # where the model ran
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Setting(Base):
    """Per-workspace (Discord guild / Slack team) settings."""

    __tablename__ = "settings"
    __table_args__ = (UniqueConstraint("scope", "key", name="uq_setting_scope_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[dict[str, Any] | list[Any] | str | int | float | bool | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
