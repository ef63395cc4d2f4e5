"""The turn gate: what every platform needs around a turn, once, in core.

An adapter translates a platform event into an :class:`~audiogpt.core.events.Incoming`
and a ``deliver`` callback (its posting); everything between is here, so Discord,
Slack and whatever comes next cannot drift apart again:

- **in-flight dedup**: the same platform message delivered twice while its turn runs
  (a gateway resume, Slack's retries, a mention that is also a DM) is admitted once.
  Across processes and after a restart the SQL turn row (``Repository.create_turn``)
  and the delivery claim (``Dialogue.deliver``) take over.
- **rate limits** (:class:`~audiogpt.core.ratelimit.RateLimiter`), with the workspace's
  own limits from its settings; a user is told at most once a minute.
- **the settings cache**: per scope (a guild, a workspace, a channel's ``/reset``
  counter), one TTL for all (``settings_cache_seconds``), written through on change.
- **the voice reply**: which artifact is spoken (:func:`voice_artifact`), by catalogue role.
- **deliver-once**: the turn row is the outbox; the gate reports whether the answer
  was posted here, by another delivery, or refused by the platform.
- **multi-part replies** (:class:`ReplyParts`): a reply is several platform calls; each
  part is recorded in SQL once posted, a retry resumes at the first unsent one, and the
  last allowed attempt (``delivery_max_attempts``) ends with one sentence instead of a retry.
- **tracked tasks and graceful stop**: turns in flight finish within a grace period,
  the rest are cancelled (and resumed by the next process's recovery).

One gate per :class:`~audiogpt.core.app.App` (``app.gate``), shared by every adapter
in the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from audiogpt.core.events import ArtifactOut, Incoming, Outgoing, Progress
from audiogpt.core.ratelimit import RateLimiter
from audiogpt.core.tools import TOOLS

if TYPE_CHECKING:  # the posting modules import the pure choices below; they need no dialogue
    from audiogpt.core.dialogue import Dialogue, ProgressFn
    from audiogpt.storage.repos import Repository

log = logging.getLogger(__name__)

Deliver = Callable[[Outgoing], Awaitable[str | int | None]]  # posts one answer; returns the platform's id
TurnStatus = Literal["answered", "skipped", "not_posted", "failed"]
MessageId = str | int | None
# posts one plain sentence (the give-up notice); gets the notice's stable key
Notice = Callable[[str, str | None], Awaitable[MessageId]]

# catalogue roles whose audio output is "the answer, spoken" (see ``catalogue.spec.Role``)
VOICE_ROLES = frozenset({"speak", "clone_voice"})
NOTICE_EVERY_S = 60.0  # a rate-limited user is told again at most this often
_MAX_SCOPES = 10_000  # settings cache entries before it is dropped (memory stays flat)


# --- pure choices every platform shares ----------------------------------------------------


def voice_artifact(out: Outgoing) -> ArtifactOut | None:
    """The artifact to post as a voice reply, or None.

    The audio of the turn's last successful call of a tool that *speaks* (a catalogue
    role in :data:`VOICE_ROLES`), which is the spoken answer the dialogue adds to a voice
    message; failing that, the first audio artifact. Read from the catalogue, so a new
    speaking tool needs no change here.
    """
    if not out.as_voice:
        return None
    audio = {a.id: a for a in out.artifacts if a.kind == "audio"}
    for call in reversed(out.tool_calls):
        if call.ok and TOOLS.role_of(call.tool) & VOICE_ROLES:
            found = [audio[i] for i in call.artifacts if i in audio]
            if found:
                return found[-1]
    return next(iter(audio.values()), None)


def progress_wording(tool: str) -> str:
    """What a running tool is doing, in the catalogue's words ("transcribing"); "running X" for a stranger."""
    spec = TOOLS.get(tool) if tool in TOOLS else None
    return spec.progress if spec is not None and spec.progress else f"running {tool}"


def progress_label(ev: Progress) -> str:
    """One short status line for a job event, the same on every platform ("transcribing… 40%")."""
    wording = progress_wording(ev.tool)
    if ev.kind == "failed":
        return f"{wording} failed"
    if ev.kind == "done":
        return "thinking…"  # the job is done; the LLM reads its result next
    base = (ev.message.strip() if ev.kind == "step" and ev.message.strip() else wording).rstrip(".…") + "…"
    if ev.fraction is not None and ev.kind == "step":
        base += f" {round(max(0.0, min(1.0, ev.fraction)) * 100)}%"
    return base


# --- multi-part replies ----------------------------------------------------------------------

NOTICE_PART = -1  # the part index of the give-up sentence


@dataclass(frozen=True)
class ReplyPart:
    """One platform call of a reply (a text chunk, a file group, an upload), in posting order.

    ``post`` gets the part's stable key (the same on every attempt: Discord's ``nonce``, so a
    post Discord accepted before the response was lost is not created again), or None for a
    reply with no turn row. ``label`` names the part in the give-up sentence.
    """

    kind: str  # text | files | voice | upload (what the record says)
    post: Callable[[str | None], Awaitable[MessageId]]
    label: str = "a part of it"


class ReplyParts:
    """The posted parts of one reply, for one delivery attempt (from :meth:`TurnGate.reply_parts`).

    Platforms take a long reply as several calls, and any of them may fail after earlier
    ones were posted; re-posting the whole reply on every retry repeated its first parts
    (once per 15-s sweep, without end). So each part is recorded in SQL right after it was
    posted, a retry skips what is recorded, and the attempt that reaches the cap posts one
    sentence about what is missing instead of failing again: the outbox then marks the
    reply delivered, with the reason on the turn row.
    """

    def __init__(self, repo: Repository | None = None, turn_id: int | None = None, *,
                 posted: dict[int, str | None] | None = None, attempt: int = 1, max_attempts: int = 0) -> None:
        self.repo = repo
        self.turn_id = turn_id
        self.posted: dict[int, MessageId] = dict(posted or {})
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.gave_up: str | None = None  # the reason, once this attempt gave up

    @property
    def tracked(self) -> bool:
        return self.repo is not None and self.turn_id is not None

    @property
    def final(self) -> bool:
        """This is the last attempt the cap allows: a failure now ends in the give-up sentence."""
        return self.tracked and self.max_attempts > 0 and self.attempt >= self.max_attempts

    @property
    def first(self) -> MessageId:
        """The platform's id of the reply's first message, posted now or by an earlier attempt."""
        return self.posted.get(0)

    def key(self, index: int) -> str | None:
        """A part's stable key, at most 25 characters (Discord's nonce limit); None when untracked."""
        if self.turn_id is None:
            return None
        return f"ag{self.turn_id}.{'x' if index == NOTICE_PART else index}"

    async def _record(self, index: int, kind: str, message_id: MessageId) -> None:
        self.posted[index] = message_id
        if self.repo is not None and self.turn_id is not None:
            mid = None if message_id is None or message_id == "" else str(message_id)
            await self.repo.record_reply_part(self.turn_id, index, kind, mid)

    async def post(self, parts: Sequence[ReplyPart], notice: Notice,
                   explain: Callable[[BaseException], str] | None = None) -> MessageId:
        """Post the parts not posted yet, in order; returns the id of the reply's first message.

        A failure raises (the outbox gives the claim back for a later retry), except on the
        final attempt: then ``notice`` posts one sentence naming the part and the reason
        (``explain`` turns the platform's error into words), and this returns normally.
        """
        for index, part in enumerate(parts):
            if index in self.posted:
                continue
            try:
                mid = await part.post(self.key(index))
            except Exception as exc:
                if not self.final:
                    raise
                return await self._give_up(index, part, exc, notice, explain)
            await self._record(index, part.kind, mid)
        return self.first

    async def _give_up(self, index: int, part: ReplyPart, exc: Exception, notice: Notice,
                       explain: Callable[[BaseException], str] | None) -> MessageId:
        reason = (explain(exc) if explain is not None else "") or type(exc).__name__
        self.gave_up = reason
        rest = "the rest of this answer" if self.posted else "this answer"
        sentence = (f"I could not post {rest}: {part.label} failed {self.attempt} "
                    f"time{'s' if self.attempt != 1 else ''} ({reason}).")
        log.error("turn %s: giving up on part %d (%s) after %d attempts: %s", self.turn_id, index, part.kind,
                  self.attempt, reason, exc_info=exc)
        mid: MessageId = None
        if NOTICE_PART not in self.posted:
            try:
                mid = await notice(sentence, self.key(NOTICE_PART))
                await self._record(NOTICE_PART, "notice", mid)
            except Exception:
                log.exception("turn %s: could not post the give-up sentence either", self.turn_id)
        if self.repo is not None and self.turn_id is not None:
            await self.repo.give_up_delivery(self.turn_id, f"part {index} ({part.kind}): {reason}")
        return self.first if self.first is not None else mid


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TurnResult:
    """How a turn ended, for the adapter to show (a status message, a placeholder to clean up).

    ``answered``: posted here (``message_id`` is the platform's id of its first message).
    ``skipped``: another delivery (a duplicate, another process) owns or posted it.
    ``not_posted``: the platform refused the post; the reply stays in the outbox for recovery.
    ``failed``: the turn itself raised; nothing was posted.
    """

    status: TurnStatus
    out: Outgoing | None = None
    message_id: str | int | None = None
    error: BaseException | None = field(default=None, compare=False)


@dataclass
class Admission:
    """A message let through the gate's first checks; :meth:`run` runs its turn."""

    gate: TurnGate
    duplicate: bool = False  # the same message is already being handled here: do nothing
    refusal: str | None = None  # rate-limited: the sentence to show ("" = told already, stay quiet)
    settings: dict[str, Any] = field(default_factory=dict)  # the workspace's settings (cached)

    @property
    def go(self) -> bool:
        return not self.duplicate and self.refusal is None

    async def run(self, incoming: Incoming, deliver: Deliver, *, progress: ProgressFn | None = None) -> TurnResult:
        return await self.gate.run(incoming, deliver, progress=progress)


# --- the gate ---------------------------------------------------------------------------------


class TurnGate:
    def __init__(self, dialogue: Dialogue, repo: Repository, *, settings_ttl: float = 5.0,
                 user_per_minute: int = 10, workspace_per_minute: int = 60, grace: float = 10.0,
                 delivery_max_attempts: int = 5, clock: Callable[[], float] = time.monotonic) -> None:
        self.dialogue = dialogue
        self.repo = repo
        self.delivery_max_attempts = delivery_max_attempts
        self.settings_ttl = settings_ttl
        self.grace = grace
        self.clock = clock
        self.limiter = RateLimiter(user_per_minute, workspace_per_minute, clock=clock)
        self.tasks: set[asyncio.Task[Any]] = set()
        self._inflight: set[str] = set()
        self._noticed: dict[str, float] = {}
        self._scopes: dict[str, tuple[float, dict[str, Any]]] = {}

    @classmethod
    def from_settings(cls, dialogue: Dialogue, repo: Repository, settings: Any) -> TurnGate:
        return cls(dialogue, repo, settings_ttl=settings.settings_cache_seconds,
                   user_per_minute=settings.rate_user_per_minute,
                   workspace_per_minute=settings.rate_workspace_per_minute,
                   grace=settings.shutdown_grace_seconds, delivery_max_attempts=settings.delivery_max_attempts)

    # --- settings cache -------------------------------------------------------------------

    async def settings_of(self, scope: str | None) -> dict[str, Any]:
        """A scope's settings, re-read from SQL at most every ``settings_ttl`` seconds.

        Saves SQL reads on every message; a change made by another process (a
        ``/settings`` or ``/reset`` handled there) is seen within the TTL.
        """
        if not scope:
            return {}
        now = self.clock()
        hit = self._scopes.get(scope)
        if hit is not None and now - hit[0] < self.settings_ttl:
            return hit[1]
        value = await self.repo.settings_for(scope)
        if len(self._scopes) > _MAX_SCOPES:
            self._scopes.clear()
        self._scopes[scope] = (now, value)
        return value

    async def set_setting(self, scope: str, key: str, value: Any) -> None:
        """Write through: this process sees the change at once."""
        await self.repo.set_setting(scope, key, value)
        self.forget(scope)

    def forget(self, scope: str) -> None:
        self._scopes.pop(scope, None)

    # --- admission ------------------------------------------------------------------------

    def rate_refusal(self, platform: str, author: str, workspace: str | None,
                     settings: dict[str, Any]) -> str | None:
        """None to go ahead, else the sentence to show ("" when this user was told within the minute)."""
        u, w = settings.get("rate_user_per_minute"), settings.get("rate_workspace_per_minute")
        user = f"{platform}:{author}"
        note = self.limiter.check(user, workspace, user_limit=None if u is None else int(u),
                                  workspace_limit=None if w is None else int(w))
        if note is None:
            return None
        now = self.clock()
        if now - self._noticed.get(user, -1e9) < NOTICE_EVERY_S:
            return ""
        if len(self._noticed) > _MAX_SCOPES:
            self._noticed = {k: t for k, t in self._noticed.items() if now - t < NOTICE_EVERY_S}
        self._noticed[user] = now
        return note

    @contextlib.asynccontextmanager
    async def admit(self, platform: str, message_id: str, *, author: str, workspace: str | None,
                    count: bool = True) -> AsyncIterator[Admission]:
        """Let one platform message in: dedup, then (``count``) the rate limit, with its settings.

        ``message_id`` must be unique on the platform (Slack: team, channel and ts). The
        message stays "in flight", and the calling task tracked for :meth:`stop`, until
        the block ends.
        """
        key = f"{platform}:{message_id}"
        if key in self._inflight:
            log.info("%s is already being answered here; ignoring the redelivery", key)
            yield Admission(self, duplicate=True)
            return
        self._inflight.add(key)
        task = asyncio.current_task()
        tracked = task is not None and task not in self.tasks
        if tracked:
            self.tasks.add(task)  # type: ignore[arg-type]
        try:
            settings = await self.settings_of(workspace)
            refusal = self.rate_refusal(platform, author, workspace, settings) if count else None
            yield Admission(self, refusal=refusal, settings=settings)
        finally:
            self._inflight.discard(key)
            if tracked:
                self.tasks.discard(task)  # type: ignore[arg-type]

    # --- the turn -------------------------------------------------------------------------

    async def run(self, incoming: Incoming, deliver: Deliver, *, progress: ProgressFn | None = None) -> TurnResult:
        """``Dialogue.handle``, then :meth:`deliver`. Never raises for a failed turn or post."""
        try:
            out = await self.dialogue.handle(incoming, progress=progress)
        except Exception as exc:
            log.exception("turn for %s failed", incoming.conversation)
            return TurnResult("failed", error=exc)
        return await self.deliver(out, deliver)

    async def deliver(self, out: Outgoing, deliver: Deliver) -> TurnResult:
        """Post ``out`` through the outbox claim, once across every process."""
        posted: list[str | int | None] = []
        errors: list[BaseException] = []

        async def send(o: Outgoing) -> str | int | None:
            try:
                mid = await deliver(o)
            except Exception as exc:
                errors.append(exc)
                raise
            posted.append(mid)
            return mid

        delivered = await self.dialogue.deliver(out, send)
        if errors:
            return TurnResult("not_posted", out, error=errors[0])
        if not delivered:
            return TurnResult("skipped", out)
        return TurnResult("answered", out, message_id=posted[0] if posted else None)

    async def reply_parts(self, turn_id: int | None) -> ReplyParts:
        """What of turn ``turn_id``'s reply is posted already, for the delivery that claimed it now.

        Called by an adapter's send, inside the outbox claim (which counted this attempt). A
        reply without a turn row (a notice) is untracked: posted whole, never capped.
        """
        if turn_id is None:
            return ReplyParts()
        attempt, posted = await self.repo.delivery_progress(turn_id)
        return ReplyParts(self.repo, turn_id, posted=posted, attempt=max(attempt, 1),
                          max_attempts=self.delivery_max_attempts)

    # --- tasks ----------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a tracked task (ack now, work later), so :meth:`stop` can await or cancel it."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def idle(self, timeout: float | None = None) -> None:
        """Wait until no tracked turn is running (tests, and a drain before stopping)."""
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        me = asyncio.current_task()
        while True:
            running = [t for t in self.tasks if t is not me and not t.done()]
            if not running:
                return
            left = None if end is None else end - loop.time()
            if left is not None and left <= 0:
                return
            await asyncio.wait(running, timeout=left)

    async def stop(self, grace: float | None = None) -> None:
        """Let turns in flight finish (up to ``grace`` s), then cancel the rest.

        A cancelled turn's row stays "running" in SQL; the next process's recovery
        finishes it and posts its answer once.
        """
        grace = self.grace if grace is None else grace
        me = asyncio.current_task()
        running = [t for t in self.tasks if t is not me and not t.done()]
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=grace)
        for t in pending:
            log.warning("turn task %s still running after %.0f s; cancelled (recovery resumes it)",
                        t.get_name(), grace)
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
