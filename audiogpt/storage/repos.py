"""Repositories: small async interfaces over the schema (``save``/``find_*`` style).

Each method opens its own short transaction, so a crash never leaves a turn
half-written in a way recovery cannot read.

Several bot processes may share one PostgreSQL database. Every claim (a job, an
orphaned turn, a reply to deliver) is one ``UPDATE ... WHERE id IN (SELECT ...
FOR UPDATE SKIP LOCKED) RETURNING``: PostgreSQL locks the candidate rows, a
concurrent claimer skips them instead of waiting, and the outer ``WHERE``
re-checks the claim condition, so exactly one process wins. SQLite ignores the
locking clause; its single writer makes the same statement atomic.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from audiogpt.storage.db import Database
from audiogpt.storage.schema import Artifact, Conversation, Job, Message, Setting, Turn, utcnow


def new_worker_id() -> str:
    """``host:pid:nonce``: names the process holding a lease (the pid lets a host spot dead ones)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Repository:
    def __init__(self, db: Database, *, worker: str | None = None, delivery_lease_seconds: float = 120.0) -> None:
        self.db = db
        self.worker = worker or new_worker_id()
        # A claimed delivery whose sender died is offered again after this long. Long enough that
        # a slow but live upload is never sent twice; short enough that a reply is not lost.
        self.delivery_lease_seconds = delivery_lease_seconds

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
            now = utcnow()
            turn = Turn(conversation_id=conversation_id, author=author, platform_message_id=platform_message_id,
                        reply_to=reply_to, is_voice=is_voice, owner=self.worker, lease_at=now)
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

    # --- the reply outbox (on the turn row) ---------------------------------------------

    def _deliverable(self, stale_before: datetime) -> ColumnElement[bool]:
        return and_(Turn.status.in_(("done", "failed")), or_(
            Turn.delivery == "pending",
            and_(Turn.delivery == "delivering",
                 or_(Turn.delivery_lease_at.is_(None), Turn.delivery_lease_at < stale_before)),
        ))

    async def claim_delivery(self, turn_id: int) -> bool:
        """Take the delivery of a finished turn; False when another process holds it or it was delivered.

        A claim whose holder died mid-send expires after ``delivery_lease_seconds``.
        """
        cond = self._deliverable(stale_cutoff(self.delivery_lease_seconds))
        inner = select(Turn.id).where(Turn.id == turn_id, cond).with_for_update(skip_locked=True)
        async with self.db.sessions() as s:
            rows = (await s.execute(
                update(Turn).where(Turn.id.in_(inner), cond)
                .values(delivery="delivering", delivery_owner=self.worker, delivery_lease_at=utcnow(),
                        delivery_attempts=Turn.delivery_attempts + 1)
                .returning(Turn.id))).scalars().all()
            await s.commit()
            return len(rows) == 1

    async def mark_delivered(self, turn_id: int, message_id: str | None = None) -> bool:
        """Mark our claimed delivery sent and record the platform's message id, in one UPDATE.

        False when our claim was lost (it expired and another process took it): the caller logs
        it, since the reply may then have been posted twice.
        """
        async with self.db.sessions() as s:
            rows = (await s.execute(
                update(Turn).where(Turn.id == turn_id, Turn.delivery == "delivering", Turn.delivery_owner == self.worker)
                .values(delivery="delivered", delivered_at=utcnow(), reply_message_id=message_id)
                .returning(Turn.id))).scalars().all()
            await s.commit()
            return len(rows) == 1

    async def release_delivery(self, turn_id: int) -> None:
        """Give a claimed delivery back after a failed send, for a later retry."""
        async with self.db.sessions() as s:
            await s.execute(update(Turn).where(Turn.id == turn_id, Turn.delivery == "delivering",
                                               Turn.delivery_owner == self.worker)
                            .values(delivery="pending", delivery_owner=None, delivery_lease_at=None))
            await s.commit()

    async def unfinished_turns(self) -> Sequence[Turn]:
        async with self.db.sessions() as s:
            return (await s.execute(select(Turn).where(Turn.status == "running").order_by(Turn.id))).scalars().all()

    async def undelivered_turns(self, *, finished_before: datetime | None = None,
                                owners: Sequence[str] = ()) -> Sequence[Turn]:
        """Finished turns whose reply is not posted (pending, or claimed by a sender that went quiet).

        With ``finished_before``, a pending reply finished later is left to its own process, which
        is about to post it, unless its owner is one of ``owners`` (this process, or dead ones).
        """
        cond = self._deliverable(stale_cutoff(self.delivery_lease_seconds))
        q = select(Turn).where(cond)
        if finished_before is not None:
            q = q.where(or_(Turn.finished_at.is_(None), Turn.finished_at < finished_before,
                            Turn.delivery == "delivering", Turn.owner.in_(list(owners) or [""])))
        async with self.db.sessions() as s:
            return (await s.execute(q.order_by(Turn.id))).scalars().all()

    # --- turn leases (several processes) --------------------------------------------------

    async def heartbeat_turns(self) -> None:
        """Renew the lease of every turn this process is running."""
        async with self.db.sessions() as s:
            await s.execute(update(Turn).where(Turn.owner == self.worker, Turn.status == "running")
                            .values(lease_at=utcnow()))
            await s.commit()

    async def claim_orphan_turns(self, *, stale_before: datetime, dead_owners: Sequence[str] = (),
                                 limit: int = 20) -> Sequence[Turn]:
        """Take over running turns whose process stopped renewing their lease (or is known dead)."""
        orphan = or_(Turn.owner.is_(None), Turn.lease_at.is_(None), Turn.lease_at < stale_before)
        if dead_owners:
            orphan = or_(orphan, Turn.owner.in_(list(dead_owners)))
        cond = and_(Turn.status == "running", orphan, or_(Turn.owner.is_(None), Turn.owner != self.worker))
        inner = select(Turn.id).where(cond).order_by(Turn.id).limit(limit).with_for_update(skip_locked=True)
        async with self.db.sessions() as s:
            rows = (await s.execute(
                update(Turn).where(Turn.id.in_(inner), cond).values(owner=self.worker, lease_at=utcnow())
                .returning(Turn), execution_options={"synchronize_session": False})).scalars().all()
            await s.commit()
            return sorted(rows, key=lambda t: t.id)

    async def turn_owners(self) -> Sequence[str]:
        """Owners of running turns (to spot dead processes on this host)."""
        async with self.db.sessions() as s:
            rows = (await s.execute(select(Turn.owner).where(Turn.status == "running").distinct())).scalars().all()
            return [w for w in rows if w]

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
                         args: dict[str, Any], *, claim_as: str | None = None, runner: str | None = None) -> tuple[Job, bool]:
        """Create the job of a tool call, or return the existing one (a resumed turn).

        With ``claim_as`` a new job is created already ``running`` for that worker (one
        round trip instead of insert + claim); an existing job is returned untouched.
        """
        async with self.db.sessions() as s:
            if turn_id is not None:
                old = (await s.execute(select(Job).where(Job.turn_id == turn_id, Job.tool_call_id == tool_call_id))).scalar_one_or_none()
                if old is not None:
                    return old, False
            job = Job(conversation_id=conversation_id, turn_id=turn_id, tool_call_id=tool_call_id, tool=tool, args=args,
                      runner=runner)
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

    @staticmethod
    def _claimable(stale_before: datetime) -> ColumnElement[bool]:
        return or_(Job.status == "queued",
                   and_(Job.status == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)))

    async def claim_job(self, job_id: int, worker: str, *, stale_before: datetime, runner: str | None = None) -> bool:
        """Atomically take a queued job, or a running one whose lease expired (``SKIP LOCKED``)."""
        now = utcnow()
        cond = self._claimable(stale_before)
        inner = select(Job.id).where(Job.id == job_id, cond).with_for_update(skip_locked=True)
        values: dict[str, Any] = dict(status="running", worker=worker, attempts=Job.attempts + 1, started_at=now,
                                      heartbeat_at=now)
        if runner is not None:
            values["runner"] = runner
        async with self.db.sessions() as s:
            rows = (await s.execute(update(Job).where(Job.id.in_(inner), cond).values(**values)
                                    .returning(Job.id))).scalars().all()
            await s.commit()
            return len(rows) == 1

    async def claim_next_jobs(self, worker: str, *, stale_before: datetime, tools: Sequence[str] | None = None,
                              limit: int = 1, runner: str | None = None) -> Sequence[Job]:
        """Queue-style claim: the oldest claimable jobs (optionally of some tools), skipping locked rows."""
        now = utcnow()
        cond = self._claimable(stale_before)
        if tools:
            cond = and_(cond, Job.tool.in_(list(tools)))
        inner = select(Job.id).where(cond).order_by(Job.id).limit(limit).with_for_update(skip_locked=True)
        values: dict[str, Any] = dict(status="running", worker=worker, attempts=Job.attempts + 1, started_at=now,
                                      heartbeat_at=now)
        if runner is not None:
            values["runner"] = runner
        async with self.db.sessions() as s:
            rows = (await s.execute(update(Job).where(Job.id.in_(inner), cond).values(**values).returning(Job),
                                    execution_options={"synchronize_session": False})).scalars().all()
            await s.commit()
            return sorted(rows, key=lambda j: j.id)

    async def retry_job(self, job_id: int, worker: str) -> None:
        """Count a new attempt of a job this worker holds (its model worker died mid-run)."""
        async with self.db.sessions() as s:
            await s.execute(update(Job).where(Job.id == job_id, Job.worker == worker, Job.status == "running")
                            .values(attempts=Job.attempts + 1, replica=None, started_at=utcnow(), heartbeat_at=utcnow()))
            await s.commit()

    async def set_job_replica(self, job_id: int, worker: str, replica: str) -> None:
        """Record where a job runs (a Ray replica), while this worker still holds it."""
        async with self.db.sessions() as s:
            await s.execute(update(Job).where(Job.id == job_id, Job.worker == worker).values(replica=replica))
            await s.commit()

    async def heartbeat(self, job_ids: Sequence[int], worker: str) -> None:
        if not job_ids:
            return
        async with self.db.sessions() as s:
            await s.execute(update(Job).where(Job.id.in_(list(job_ids)), Job.worker == worker, Job.status == "running")
                            .values(heartbeat_at=utcnow()))
            await s.commit()

    async def finish_job(self, job_id: int, *, status: str, backend: str | None, result: dict[str, Any] | None,
                         error: str | None, seconds: float, worker: str | None = None,
                         replica: str | None = None) -> bool:
        """Store a job's result. With ``worker`` only while that worker still holds the job (fencing:
        a worker whose lease was taken over must not overwrite the new holder's run); False then."""
        values: dict[str, Any] = dict(status=status, backend=backend, result=result, error=error, seconds=seconds,
                                      finished_at=utcnow())
        if replica is not None:
            values["replica"] = replica
        q = update(Job).where(Job.id == job_id)
        if worker is not None:
            q = q.where(Job.worker == worker, Job.status == "running")
        async with self.db.sessions() as s:
            rows = (await s.execute(q.values(**values).returning(Job.id))).scalars().all()
            await s.commit()
            return len(rows) == 1

    async def requeue_job(self, job_id: int, *, stale_before: datetime | None = None,
                          dead_workers: Sequence[str] = (), worker: str | None = None) -> bool:
        """Put a running job back in the queue: our own (``worker``), or one that is still orphaned
        (its lease older than ``stale_before`` or its worker dead) when we look again."""
        q = update(Job).where(Job.id == job_id, Job.status.in_(("queued", "running")))
        if worker is not None:
            q = q.where(Job.worker == worker)
        elif stale_before is not None:
            orphan = or_(Job.status == "queued", Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)
            if dead_workers:
                orphan = or_(orphan, Job.worker.in_(list(dead_workers)))
            q = q.where(orphan)
        async with self.db.sessions() as s:
            rows = (await s.execute(q.values(status="queued").returning(Job.id))).scalars().all()
            await s.commit()
            return len(rows) == 1

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

    async def job_counts(self) -> dict[str, int]:
        """Jobs by state, across every process (for ``/metrics``)."""
        from sqlalchemy import func

        async with self.db.sessions() as s:
            rows = (await s.execute(select(Job.status, func.count()).group_by(Job.status))).all()
            return {str(status): int(n) for status, n in rows}

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
