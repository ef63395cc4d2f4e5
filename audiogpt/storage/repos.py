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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    TextualSelect,
    and_,
    bindparam,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from audiogpt.storage.db import Database
from audiogpt.storage.schema import (
    Artifact,
    Conversation,
    Job,
    Message,
    ReplyPartRow,
    Setting,
    Turn,
    utcnow,
)


class StoredMessage(Protocol):
    """What the dialogue reads of a stored message (a :class:`Message` or a plain row of one)."""

    id: int
    turn_id: int | None
    role: str
    content: str
    payload: dict[str, Any]


@dataclass
class TurnStart:
    """What the start of a turn wrote and read in its one transaction: the rows the turn runs on.

    The dialogue keeps these in its turn context instead of asking the database again
    for each of them (``created`` False: a redelivered message; only ``conversation``
    and ``turn``, the earlier turn, are set).
    """

    conversation: Conversation
    turn: Turn
    created: bool
    user_message: Message | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    history: list[StoredMessage] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class TurnHistory:
    """What a resumed turn needs to rebuild its messages: read in one session."""

    artifacts: list[Artifact]
    history: list[StoredMessage]  # earlier finished turns' messages, oldest first
    current: list[Message]  # this turn's stored messages
    settings: dict[str, Any]


# the columns the hot path's inserts set (the rest take their defaults)
CONV_COLUMNS = ("key", "platform", "workspace", "artifact_seq", "created_at", "updated_at")
TURN_COLUMNS = ("conversation_id", "author", "platform_message_id", "reply_to", "is_voice", "status", "delivery",
                "delivery_attempts", "owner", "lease_at", "created_at")
PART_COLUMNS = ("turn_id", "part", "kind", "message_id", "posted_at")
JOB_COLUMNS = ("conversation_id", "turn_id", "tool_call_id", "tool", "args", "status", "attempts", "worker", "runner",
               "created_at", "started_at", "heartbeat_at")


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
        self._stmts: dict[str, Any] = {}

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

    # --- a turn's storage, one unit of work per step -------------------------------------
    #
    # A turn used to go to the database about fifteen times, each in its own session. Now
    # the start of a turn is one transaction (conversation, turn row, user message, and the
    # artifacts, history and settings the turn reads), each engine step that calls tools is
    # one (the step's messages and its job rows), each job's result is one, and the end is
    # one (the remaining messages and the reply). Each commit leaves the turn in a state
    # :meth:`Dialogue.recover` can resume from: tool results not yet written are rebuilt
    # from their finished job rows.
    #
    # These run on a plain connection with statements built once (``_stmt``): building a
    # statement, its cache key and the ORM's bookkeeping around it cost more CPU than the
    # database's own work for rows this small. Rows come back as detached ORM objects.

    @staticmethod
    def _insert_or_nothing(table: Table, columns: Sequence[str], conflict: Sequence[str],
                           returning: Sequence[str] | None = None) -> TextualSelect:
        """``INSERT ... ON CONFLICT (conflict) DO NOTHING RETURNING *`` (PostgreSQL and SQLite say it alike).

        Written as typed text because SQLAlchemy does not cache the compiled form of its
        dialect ``on_conflict_do_nothing()`` inserts, and compiling one costs more than the
        round trip; a concurrent duplicate then returns no row instead of aborting the
        transaction the rest of the step is in.
        """
        cols = [table.c[n] for n in columns]
        back = list(table.c) if returning is None else [table.c[n] for n in returning]
        sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(':' + n for n in columns)}) "
               f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING RETURNING {', '.join(c.name for c in back)}")
        return text(sql).bindparams(*[bindparam(c.name, type_=c.type) for c in cols]).columns(*back)

    def _stmt(self, name: str) -> Any:
        """The hot path's statements, built once per repository (they depend on the dialect)."""
        stmt = self._stmts.get(name)
        if stmt is None:
            stmt = self._stmts[name] = self._build(name)
        return stmt

    def _build(self, name: str) -> Any:
        conv, turn, msg, art, job, setting = (Conversation.__table__, Turn.__table__, Message.__table__,
                                              Artifact.__table__, Job.__table__, Setting.__table__)
        if name == "conv":
            return select(conv).where(conv.c.key == bindparam("b_key"))
        if name == "conv_touch_key":
            return (update(conv).where(conv.c.key == bindparam("b_key")).values(updated_at=bindparam("b_now"))
                    .returning(*conv.c))
        if name == "conv_new":
            return self._insert_or_nothing(conv, CONV_COLUMNS, ["key"])
        # a new row comes back as its id only: the rest is what was written
        if name == "turn_new":
            return insert(turn).returning(turn.c.id)
        if name == "turn_new_dedup":
            return self._insert_or_nothing(turn, TURN_COLUMNS, ["conversation_id", "platform_message_id"], ["id"])
        if name == "turn_by_msg":
            return select(turn).where(turn.c.conversation_id == bindparam("b_conv"),
                                      turn.c.platform_message_id == bindparam("b_msg"))
        if name == "msg_new":
            return insert(msg)
        if name == "msg_new_id":
            return insert(msg).returning(msg.c.id)
        if name == "arts":
            return select(art).where(art.c.conversation_id == bindparam("b_conv")).order_by(art.c.id)
        if name.startswith("history:"):
            recent = (select(turn.c.id).where(turn.c.conversation_id == bindparam("b_conv"),
                                              turn.c.id < bindparam("b_turn"))
                      .order_by(turn.c.id.desc()).limit(int(name.split(":", 1)[1])))
            return (select(msg.c.id, msg.c.turn_id, msg.c.role, msg.c.content, msg.c.payload)
                    .join(turn, msg.c.turn_id == turn.c.id)
                    .where(turn.c.id.in_(recent), turn.c.status == "done").order_by(msg.c.id))
        if name == "turn_msgs":
            return select(msg).where(msg.c.turn_id == bindparam("b_turn")).order_by(msg.c.id)
        if name == "settings":
            return select(setting.c.key, setting.c.value).where(
                setting.c.scope == bindparam("b_scope"), setting.c.key.in_(bindparam("b_keys", expanding=True)))
        if name == "jobs_new":
            return self._insert_or_nothing(job, JOB_COLUMNS, ["turn_id", "tool_call_id"], ["id"])
        if name == "part_new":
            return self._insert_or_nothing(ReplyPartRow.__table__, PART_COLUMNS,
                                           ["turn_id", "part"], ["turn_id"])
        if name == "turn_finish":
            return (update(turn).where(turn.c.id == bindparam("b_turn"))
                    .values(status=bindparam("b_status"), reply=bindparam("b_reply"), finished_at=bindparam("b_now"))
                    .returning(turn.c.conversation_id))
        raise KeyError(name)

    async def _conversation_in(self, c: AsyncConnection, key: str, platform: str,
                               workspace: str | None) -> tuple[Conversation, bool]:
        """The conversation of ``key`` inside ``c``'s transaction, created if missing: ``(row, created)``.

        ``ON CONFLICT DO NOTHING`` instead of catching the unique violation, so a concurrent
        creator does not abort the transaction the rest of the turn's start is in.
        """
        now = utcnow()
        # reading it and marking it active (``updated_at``) are one statement
        row = (await c.execute(self._stmt("conv_touch_key"), {"b_key": key, "b_now": now})).first()
        if row is not None:
            return Conversation(**row._mapping), False
        row = (await c.execute(self._stmt("conv_new"), dict(key=key, platform=platform, workspace=workspace,
                                                             artifact_seq=0, created_at=now, updated_at=now))).first()
        if row is not None:
            return Conversation(**row._mapping), True
        return Conversation(**(await c.execute(self._stmt("conv"), {"b_key": key})).one()._mapping), False

    async def start_turn(self, key: str, platform: str, workspace: str | None, *, author: str,
                         platform_message_id: str | None, reply_to: str | None, is_voice: bool,
                         user_message: tuple[str, dict[str, Any]] | None = None, history_turns: int = 8,
                         setting_keys: Sequence[str] = ()) -> TurnStart:
        """Start a turn in one transaction, and read what it runs on.

        Gets or creates the conversation, creates the turn (a redelivered platform message
        gets its earlier turn, ``created`` False, and nothing else), writes the user message
        when it is already known (``(content, payload)``; a message with attachments writes
        it after they are stored), and reads the conversation's artifacts, the messages of
        its last ``history_turns`` turns that finished, and the workspace's settings named in
        ``setting_keys``. A conversation created here has no artifacts or history to read.
        """
        async with self.db.engine.begin() as c:
            conv, new_conv = await self._conversation_in(c, key, platform, workspace)
            now = utcnow()
            values = dict(conversation_id=conv.id, author=author, platform_message_id=platform_message_id,
                          reply_to=reply_to, is_voice=is_voice, status="running", delivery="pending",
                          delivery_attempts=0, owner=self.worker, lease_at=now, created_at=now)
            turn_id = (await c.execute(self._stmt("turn_new_dedup" if platform_message_id else "turn_new"),
                                       values)).scalar_one_or_none()
            if turn_id is None:  # the platform delivered this message again: its turn exists
                old = (await c.execute(self._stmt("turn_by_msg"),
                                       {"b_conv": conv.id, "b_msg": platform_message_id})).one()
                return TurnStart(conv, Turn(**old._mapping), False)
            turn = Turn(id=turn_id, **values)
            start = TurnStart(conv, turn, True)
            if user_message is not None:
                content, payload = user_message
                m = dict(conversation_id=conv.id, turn_id=turn.id, role="user", content=content, payload=payload,
                         created_at=now)
                m["id"] = (await c.execute(self._stmt("msg_new_id"), m)).scalar_one()
                start.user_message = Message(**m)
            if not new_conv:
                if conv.artifact_seq:  # the counter of its short ids: 0 means it has none yet
                    start.artifacts = await self._artifacts_in(c, conv.id)
                start.history = await self._history_in(c, conv.id, turn.id, history_turns)
            if workspace and setting_keys:
                start.settings = await self._settings_in(c, workspace, setting_keys)
            return start

    async def turn_history(self, conversation_id: int, turn_id: int, history_turns: int, *,
                           workspace: str | None = None, setting_keys: Sequence[str] = ()) -> TurnHistory:
        """Everything a resumed turn rebuilds its messages from, in one transaction."""
        async with self.db.engine.begin() as c:
            arts = await self._artifacts_in(c, conversation_id)
            hist = await self._history_in(c, conversation_id, turn_id, history_turns)
            current = [Message(**r._mapping) for r in await c.execute(self._stmt("turn_msgs"), {"b_turn": turn_id})]
            settings = await self._settings_in(c, workspace, setting_keys) if workspace and setting_keys else {}
            return TurnHistory(arts, hist, current, settings)

    async def _artifacts_in(self, c: AsyncConnection, conversation_id: int) -> list[Artifact]:
        return [Artifact(**r._mapping) for r in await c.execute(self._stmt("arts"), {"b_conv": conversation_id})]

    async def _history_in(self, c: AsyncConnection, conversation_id: int, turn_id: int,
                          n: int) -> list[StoredMessage]:
        """Messages of the turns that finished ("done") among the last ``n`` before ``turn_id``, in one query.

        Plain rows, not ORM objects: a long history is dozens of them a turn, read and dropped.
        """
        if n <= 0:
            return []
        rows = await c.execute(self._stmt(f"history:{n}"), {"b_conv": conversation_id, "b_turn": turn_id})
        return cast(list[StoredMessage], rows.all())

    async def _settings_in(self, c: AsyncConnection, scope: str, keys: Sequence[str]) -> dict[str, Any]:
        rows = await c.execute(self._stmt("settings"), {"b_scope": scope, "b_keys": list(keys)})
        return {str(k): v for k, v in rows}

    @staticmethod
    def _message_rows(conversation_id: int, turn_id: int,
                      messages: Sequence[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
        now = utcnow()
        return [dict(conversation_id=conversation_id, turn_id=turn_id, role=role, content=content, payload=payload,
                     created_at=now) for role, content, payload in messages]

    async def record_step(self, conversation_id: int, turn_id: int,
                          messages: Sequence[tuple[str, str, dict[str, Any]]],
                          jobs: Sequence[dict[str, Any]] = ()) -> dict[str, Job]:
        """Write one engine step in one transaction: its messages (``(role, content, payload)``) and
        the job rows of the tool calls it made (``jobs``: column values, see
        :meth:`LocalRunner.job_row <audiogpt.core.jobs.LocalRunner.job_row>`).

        Returns the jobs created here by ``tool_call_id``; a call whose job already exists (a
        resumed turn) is left out, and its runner finds the existing row as before.
        """
        created: dict[str, Job] = {}
        async with self.db.engine.begin() as c:
            if messages:
                await c.execute(self._stmt("msg_new"), self._message_rows(conversation_id, turn_id, messages))
            for params in jobs:  # usually one call a step; RETURNING per row keeps it portable
                job_id = (await c.execute(self._stmt("jobs_new"), params)).scalar_one_or_none()
                if job_id is not None:
                    created[params["tool_call_id"]] = Job(id=job_id, **params)
        return created

    async def find_artifacts(self, conversation_id: int, short_ids: Sequence[str]) -> dict[str, Artifact]:
        """The artifacts of ``short_ids`` in this conversation, by short id (one query)."""
        if not short_ids:
            return {}
        async with self.db.sessions() as s:
            rows = (await s.execute(select(Artifact).where(Artifact.conversation_id == conversation_id,
                                                           Artifact.short_id.in_(list(short_ids))))).scalars().all()
            return {a.short_id: a for a in rows}

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

    async def finish_turn(self, turn_id: int, reply: dict[str, Any], *, status: str = "done",
                          messages: Sequence[tuple[str, str, dict[str, Any]]] = ()) -> None:
        """Store the reply (the outbox entry) and the turn's last ``messages`` in one transaction.

        The conversation's ``updated_at`` was set when the turn started (:meth:`start_turn`).
        """
        params = {"b_turn": turn_id, "b_status": status, "b_reply": reply, "b_now": utcnow()}
        async with (self.db.engine.begin() if messages else self.db.single()) as c:
            conversation_id = (await c.execute(self._stmt("turn_finish"), params)).scalar_one()
            if messages:
                await c.execute(self._stmt("msg_new"), self._message_rows(conversation_id, turn_id, messages))

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

    async def delivery_progress(self, turn_id: int) -> tuple[int, dict[int, str | None]]:
        """A reply's delivery attempts so far (this claim included) and its parts already posted
        (part index -> the platform's message id), read in one session before a delivery posts."""
        async with self.db.sessions() as s:
            attempts = (await s.execute(select(Turn.delivery_attempts).where(Turn.id == turn_id))).scalar_one_or_none()
            rows = (await s.execute(select(ReplyPartRow.part, ReplyPartRow.message_id)
                                    .where(ReplyPartRow.turn_id == turn_id))).all()
        return int(attempts or 0), {int(part): mid for part, mid in rows}

    async def record_reply_part(self, turn_id: int, part: int, kind: str, message_id: str | None) -> None:
        """Record that part ``part`` of a reply was posted (right after the platform accepted it).

        A second record of the same part (two senders after a lease expired) keeps the first.
        """
        params = {"turn_id": turn_id, "part": part, "kind": kind, "message_id": message_id, "posted_at": utcnow()}
        async with self.db.engine.begin() as c:
            await c.execute(self._stmt("part_new"), params)

    async def give_up_delivery(self, turn_id: int, error: str) -> None:
        """Say why a reply's delivery stopped after its last allowed attempt; the sender then marks it
        delivered (the user was told in one sentence), so no sweep posts it again."""
        async with self.db.sessions() as s:
            await s.execute(update(Turn).where(Turn.id == turn_id).values(delivery_error=error[:2000]))
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

    async def heartbeat_turns(self, turn_ids: Sequence[int] | None = None) -> None:
        """Renew the lease of the turns this process is running: ``turn_ids`` (the ones really in
        flight), or with None every running turn it owns."""
        if turn_ids is not None and not turn_ids:
            return
        q = update(Turn).where(Turn.owner == self.worker, Turn.status == "running")
        if turn_ids is not None:
            q = q.where(Turn.id.in_(list(turn_ids)))
        async with self.db.sessions() as s:
            await s.execute(q.values(lease_at=utcnow()))
            await s.commit()

    async def claim_orphan_turns(self, *, stale_before: datetime, dead_owners: Sequence[str] = (),
                                 limit: int = 20, in_flight: Sequence[int] | None = None) -> Sequence[Turn]:
        """Take over running turns whose process stopped renewing their lease (or is known dead).

        With ``in_flight`` (the turns this process is running now) this process's own stale
        turns that are not among them are orphans too: their task ended without finishing them.
        """
        orphan = or_(Turn.owner.is_(None), Turn.lease_at.is_(None), Turn.lease_at < stale_before)
        if dead_owners:
            orphan = or_(orphan, Turn.owner.in_(list(dead_owners)))
        others = or_(Turn.owner.is_(None), Turn.owner != self.worker)
        if in_flight is not None:
            others = or_(others, Turn.id.not_in(list(in_flight)) if in_flight else true())
        cond = and_(Turn.status == "running", orphan, others)
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
        params: dict[str, Any] = dict(b_job=job_id, b_status=status, b_backend=backend, b_result=result,
                                      b_error=error, b_seconds=seconds, b_now=utcnow())
        name = f"job_finish:{worker is not None}:{replica is not None}"
        stmt = self._stmts.get(name)
        if stmt is None:  # one statement per shape, built once (this runs once per job)
            t = Job.__table__
            values: dict[str, Any] = dict(status=bindparam("b_status"), backend=bindparam("b_backend"),
                                          result=bindparam("b_result"), error=bindparam("b_error"),
                                          seconds=bindparam("b_seconds"), finished_at=bindparam("b_now"))
            if replica is not None:
                values["replica"] = bindparam("b_replica")
            stmt = update(t).where(t.c.id == bindparam("b_job"))
            if worker is not None:
                stmt = stmt.where(t.c.worker == bindparam("b_worker"), t.c.status == "running")
            stmt = self._stmts[name] = stmt.values(**values).returning(t.c.id)
        if worker is not None:
            params["b_worker"] = worker
        if replica is not None:
            params["b_replica"] = replica
        async with self.db.single() as c:
            return (await c.execute(stmt, params)).first() is not None

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
