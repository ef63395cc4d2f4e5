"""Repositories: small async interfaces over the schema (``save``/``find_*`` style).

Each method opens its own short transaction, so a crash never leaves a turn
half-written in a way recovery cannot read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from audiogpt.storage.db import Database
from audiogpt.storage.schema import Artifact, Conversation, Job, Message, Setting, Turn, utcnow


class Repository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- conversations ---------------------------------------------------------------

    async def get_or_create_conversation(self, key: str, platform: str, workspace: str | None = None) -> Conversation:
        async with self.db.sessions() as s:
            conv = (await s.execute(select(Conversation).where(Conversation.key == key))).scalar_one_or_none()
            if conv is not None:
                return conv
            conv = Conversation(key=key, platform=platform, workspace=workspace)
            s.add(conv)
            try:
                await s.commit()
            except IntegrityError:  # created concurrently
                await s.rollback()
                return (await s.execute(select(Conversation).where(Conversation.key == key))).scalar_one()
            return conv

    async def find_conversation(self, key: str) -> Conversation | None:
        async with self.db.sessions() as s:
            return (await s.execute(select(Conversation).where(Conversation.key == key))).scalar_one_or_none()

    async def conversation_by_id(self, conversation_id: int) -> Conversation:
        async with self.db.sessions() as s:
            return (await s.execute(select(Conversation).where(Conversation.id == conversation_id))).scalar_one()

    # --- turns -----------------------------------------------------------------------

    async def create_turn(self, conversation_id: int, *, author: str, platform_message_id: str | None,
                          reply_to: str | None, is_voice: bool) -> tuple[Turn, bool]:
        """Create a turn; returns ``(turn, created)``. A redelivered platform message gets the old turn."""
        async with self.db.sessions() as s:
            if platform_message_id:
                old = (await s.execute(select(Turn).where(
                    Turn.conversation_id == conversation_id, Turn.platform_message_id == platform_message_id
                ))).scalar_one_or_none()
                if old is not None:
                    return old, False
            turn = Turn(conversation_id=conversation_id, author=author, platform_message_id=platform_message_id,
                        reply_to=reply_to, is_voice=is_voice)
            s.add(turn)
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                old = (await s.execute(select(Turn).where(
                    Turn.conversation_id == conversation_id, Turn.platform_message_id == platform_message_id
                ))).scalar_one()
                return old, False
            return turn, True

    async def get_turn(self, turn_id: int) -> Turn:
        async with self.db.sessions() as s:
            return (await s.execute(select(Turn).where(Turn.id == turn_id))).scalar_one()

    async def finish_turn(self, turn_id: int, reply: dict[str, Any], *, status: str = "done") -> None:
        now = utcnow()
        async with self.db.sessions() as s:
            conv_id = (await s.execute(update(Turn).where(Turn.id == turn_id)
                                       .values(status=status, reply=reply, finished_at=now)
                                       .returning(Turn.conversation_id))).scalar_one()
            await s.execute(update(Conversation).where(Conversation.id == conv_id).values(updated_at=now))
            await s.commit()

    async def claim_delivery(self, turn_id: int) -> bool:
        """Move a finished turn to ``delivering``; False when someone else has it or it was delivered."""
        async with self.db.sessions() as s:
            res = await s.execute(update(Turn).where(Turn.id == turn_id, Turn.delivery == "pending",
                                                     Turn.status.in_(("done", "failed"))).values(delivery="delivering"))
            await s.commit()
            return (res.rowcount or 0) == 1

    async def mark_delivered(self, turn_id: int) -> None:
        async with self.db.sessions() as s:
            await s.execute(update(Turn).where(Turn.id == turn_id).values(delivery="delivered", delivered_at=utcnow()))
            await s.commit()

    async def release_delivery(self, turn_id: int) -> None:
        async with self.db.sessions() as s:
            await s.execute(update(Turn).where(Turn.id == turn_id, Turn.delivery == "delivering").values(delivery="pending"))
            await s.commit()

    async def unfinished_turns(self) -> Sequence[Turn]:
        async with self.db.sessions() as s:
            return (await s.execute(select(Turn).where(Turn.status == "running").order_by(Turn.id))).scalars().all()

    async def undelivered_turns(self) -> Sequence[Turn]:
        async with self.db.sessions() as s:
            return (await s.execute(select(Turn).where(Turn.status.in_(("done", "failed")),
                                                       Turn.delivery.in_(("pending", "delivering"))).order_by(Turn.id))).scalars().all()

    async def recent_turns(self, conversation_id: int, limit: int, before_turn: int | None = None) -> Sequence[Turn]:
        async with self.db.sessions() as s:
            q = select(Turn).where(Turn.conversation_id == conversation_id)
            if before_turn is not None:
                q = q.where(Turn.id < before_turn)
            rows = (await s.execute(q.order_by(Turn.id.desc()).limit(limit))).scalars().all()
            return list(reversed(rows))

    # --- messages --------------------------------------------------------------------

    async def add_message(self, conversation_id: int, turn_id: int | None, role: str, content: str,
                          payload: dict[str, Any] | None = None) -> Message:
        async with self.db.sessions() as s:
            msg = Message(conversation_id=conversation_id, turn_id=turn_id, role=role, content=content, payload=payload or {})
            s.add(msg)
            await s.commit()
            return msg

    async def turn_messages(self, turn_ids: Sequence[int]) -> Sequence[Message]:
        if not turn_ids:
            return []
        async with self.db.sessions() as s:
            return (await s.execute(select(Message).where(Message.turn_id.in_(list(turn_ids))).order_by(Message.id))).scalars().all()

    async def conversation_messages(self, conversation_id: int) -> Sequence[Message]:
        async with self.db.sessions() as s:
            return (await s.execute(select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id))).scalars().all()

    # --- artifacts -------------------------------------------------------------------

    async def add_artifact(self, conversation_id: int, *, sha256: str, blob: str, kind: str, mime: str, name: str,
                           size: int, duration: float | None, source: str, parent: str | None,
                           turn_id: int | None, reuse: bool = True) -> tuple[Artifact, bool]:
        """Add an artifact with the next short id; reuse an identical one of the conversation.

        Returns ``(artifact, created)``.
        """
        async with self.db.sessions() as s:
            if reuse:
                same = (await s.execute(select(Artifact).where(
                    Artifact.conversation_id == conversation_id, Artifact.sha256 == sha256
                ).order_by(Artifact.id).limit(1))).scalar_one_or_none()
                if same is not None:
                    return same, False
            seq = (await s.execute(
                update(Conversation).where(Conversation.id == conversation_id)
                .values(artifact_seq=Conversation.artifact_seq + 1).returning(Conversation.artifact_seq)
            )).scalar_one()
            art = Artifact(conversation_id=conversation_id, short_id=f"a{seq}", sha256=sha256, blob=blob, kind=kind,
                           mime=mime, name=name, size=size, duration=duration, source=source, parent=parent, turn_id=turn_id)
            s.add(art)
            await s.commit()
            return art, True

    async def find_artifact(self, conversation_id: int, short_id: str) -> Artifact | None:
        async with self.db.sessions() as s:
            return (await s.execute(select(Artifact).where(
                Artifact.conversation_id == conversation_id, Artifact.short_id == short_id
            ))).scalar_one_or_none()

    async def list_artifacts(self, conversation_id: int) -> Sequence[Artifact]:
        async with self.db.sessions() as s:
            return (await s.execute(select(Artifact).where(Artifact.conversation_id == conversation_id)
                                    .order_by(Artifact.id))).scalars().all()

    # --- jobs ------------------------------------------------------------------------

    async def create_job(self, conversation_id: int, turn_id: int | None, tool_call_id: str, tool: str,
                         args: dict[str, Any], *, claim_as: str | None = None) -> tuple[Job, bool]:
        """Create the job of a tool call, or return the existing one (a resumed turn).

        With ``claim_as`` a new job is created already ``running`` for that worker (one
        round trip instead of insert + claim); an existing job is returned untouched.
        """
        async with self.db.sessions() as s:
            if turn_id is not None:
                old = (await s.execute(select(Job).where(Job.turn_id == turn_id, Job.tool_call_id == tool_call_id))).scalar_one_or_none()
                if old is not None:
                    return old, False
            job = Job(conversation_id=conversation_id, turn_id=turn_id, tool_call_id=tool_call_id, tool=tool, args=args)
            if claim_as is not None:
                now = utcnow()
                job.status, job.worker, job.attempts, job.started_at, job.heartbeat_at = "running", claim_as, 1, now, now
            s.add(job)
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                old = (await s.execute(select(Job).where(Job.turn_id == turn_id, Job.tool_call_id == tool_call_id))).scalar_one()
                return old, False
            return job, True

    async def get_job(self, job_id: int) -> Job:
        async with self.db.sessions() as s:
            return (await s.execute(select(Job).where(Job.id == job_id))).scalar_one()

    async def claim_job(self, job_id: int, worker: str, *, stale_before: datetime) -> bool:
        """Atomically take a queued job, or a running one whose lease expired."""
        now = utcnow()
        async with self.db.sessions() as s:
            res = await s.execute(
                update(Job).where(Job.id == job_id, or_(
                    Job.status == "queued",
                    and_(Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)),
                )).values(status="running", worker=worker, attempts=Job.attempts + 1, started_at=now, heartbeat_at=now)
            )
            await s.commit()
            return (res.rowcount or 0) == 1

    async def heartbeat(self, job_ids: Sequence[int], worker: str) -> None:
        if not job_ids:
            return
        async with self.db.sessions() as s:
            await s.execute(update(Job).where(Job.id.in_(list(job_ids)), Job.worker == worker, Job.status == "running")
                            .values(heartbeat_at=utcnow()))
            await s.commit()

    async def finish_job(self, job_id: int, *, status: str, backend: str | None, result: dict[str, Any] | None,
                         error: str | None, seconds: float) -> None:
        async with self.db.sessions() as s:
            await s.execute(update(Job).where(Job.id == job_id).values(
                status=status, backend=backend, result=result, error=error, seconds=seconds, finished_at=utcnow()))
            await s.commit()

    async def requeue_job(self, job_id: int) -> None:
        async with self.db.sessions() as s:
            await s.execute(update(Job).where(Job.id == job_id).values(status="queued"))
            await s.commit()

    async def orphaned_jobs(self, *, stale_before: datetime, dead_workers: Sequence[str] = ()) -> Sequence[Job]:
        """Queued jobs, and running jobs whose lease expired or whose worker is known dead."""
        async with self.db.sessions() as s:
            conds = [Job.status == "queued",
                     and_(Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before))]
            if dead_workers:
                conds.append(and_(Job.status == "running", Job.worker.in_(list(dead_workers))))
            return (await s.execute(select(Job).where(or_(*conds)).order_by(Job.id))).scalars().all()

    async def running_workers(self) -> Sequence[str]:
        async with self.db.sessions() as s:
            rows = (await s.execute(select(Job.worker).where(Job.status == "running").distinct())).scalars().all()
            return [w for w in rows if w]

    async def jobs_for_turn(self, turn_id: int) -> Sequence[Job]:
        async with self.db.sessions() as s:
            return (await s.execute(select(Job).where(Job.turn_id == turn_id).order_by(Job.id))).scalars().all()

    # --- settings --------------------------------------------------------------------

    async def get_setting(self, scope: str, key: str, default: Any = None) -> Any:
        async with self.db.sessions() as s:
            row = (await s.execute(select(Setting).where(Setting.scope == scope, Setting.key == key))).scalar_one_or_none()
            return default if row is None else row.value

    async def set_setting(self, scope: str, key: str, value: Any) -> None:
        async with self.db.sessions() as s:
            row = (await s.execute(select(Setting).where(Setting.scope == scope, Setting.key == key))).scalar_one_or_none()
            if row is None:
                s.add(Setting(scope=scope, key=key, value=value))
            else:
                row.value = value
                row.updated_at = utcnow()
            with contextlib.suppress(IntegrityError):
                await s.commit()

    async def settings_for(self, scope: str) -> dict[str, Any]:
        async with self.db.sessions() as s:
            rows = (await s.execute(select(Setting).where(Setting.scope == scope))).scalars().all()
            return {r.key: r.value for r in rows}


def stale_cutoff(lease_seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=lease_seconds)
