"""The turn: the one path every message takes, whatever platform it came from.

adapter -> :meth:`Dialogue.handle` -> engine steps -> jobs -> :class:`Outgoing`.
Everything is persisted as it happens (user message, each LLM step, each tool
result, the reply), so a process killed mid-turn is resumed by
:meth:`Dialogue.recover` and its reply is delivered exactly once through the
claim in :meth:`Dialogue.deliver`.

A turn whose handling raised is finished as ``failed`` with one sentence as its reply,
which goes out through the same outbox: the user gets that one answer, never a second
one from a later resumption. While a turn runs its id is in the runner's
``turns_in_flight``, the only turns whose lease this process renews.

One message may fan out into many model jobs, so tool calls are capped per step and per
turn, and each call after a turn's first counts against the user's rate limit.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from audiogpt.core.artifacts import ArtifactError, ArtifactService, safe_name
from audiogpt.core.engine.loop import Call, EngineError, EngineTimeout, calls_of, run_loop
from audiogpt.core.events import ArtifactOut, Incoming, Outgoing, Progress, ToolCallRecord
from audiogpt.core.execute import ToolOutcome
from audiogpt.core.jobs import JobRunner
from audiogpt.core.ratelimit import RateLimiter
from audiogpt.core.tools import TOOLS
from audiogpt.logsafe import safe_error
from audiogpt.models.registry import Registry
from audiogpt.storage.repos import Repository, StoredMessage
from audiogpt.storage.schema import Artifact, Conversation, Job, Turn

log = logging.getLogger(__name__)

ProgressFn = Callable[[Progress], Awaitable[None]]
SendFn = Callable[[Outgoing], Awaitable[str | int | None]]  # returns the platform's message id

SYSTEM_PROMPT = """You are AudioGPT, an assistant in a team chat that understands speech, music and sound \
and answers with generated audio, images and video. You have tools for audio tasks. Files in the \
conversation are artifacts with short ids (a1, a2, ...): pass these ids as tool arguments, never paths \
or URLs. Call a tool only when the user asks for that task; for chit-chat or questions answer in text. \
If a task needs a file and there is none, ask the user to attach one. Chain tools when a request has \
several steps, passing the artifact id a tool returned to the next tool; independent calls can go in \
one step. If a tool is unavailable or fails, tell the user its error in one sentence. Keep answers \
short; mention the ids of files you produced. When you quote a transcript, quote it exactly."""


# the workspace settings a turn reads, fetched with the turn's start
TURN_SETTINGS = ("disabled_tools", "voice_replies", "rate_user_per_minute", "rate_workspace_per_minute")


@dataclass
class TurnContext:
    """One turn's state, and the rows it read at its start, so no step asks the database again.

    ``artifacts``, ``history`` and ``settings`` are filled by the turn's first transaction
    (:meth:`Repository.start_turn`) or, for a resumed turn, by :meth:`Repository.turn_history`;
    ``unwritten`` holds messages whose write waits for the next step's transaction.
    """

    conversation: Conversation
    turn: Turn
    incoming_text: str
    attachments: list[str]
    progress: ProgressFn | None
    records: list[ToolCallRecord]
    new_artifacts: list[Artifact]
    voice_problem: str = ""
    voice_language: str | None = None
    workspace: str | None = None
    artifacts: dict[str, Artifact] = field(default_factory=dict)  # the conversation's, by short id
    history: list[StoredMessage] = field(default_factory=list)  # earlier turns' and this turn's stored messages
    settings: dict[str, Any] | None = None  # the workspace's per-turn settings; None: not read
    unwritten: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)  # job rows this step created, by tool call id
    calls_run: int = 0  # tool calls of the engine admitted so far in this turn (the per-turn cap)
    refused: set[str] = field(default_factory=set)  # ids of calls refused by the caps: they get no job row

    def know(self, arts: Sequence[Artifact]) -> None:
        for a in arts:
            self.artifacts.setdefault(a.short_id, a)


class Dialogue:
    def __init__(self, repo: Repository, artifacts: ArtifactService, runner: JobRunner, model: BaseChatModel,
                 registry: Registry, *, max_steps: int = 6, llm_timeout: float = 60.0, history_turns: int = 8,
                 disabled_tools: Sequence[str] = (), voice_replies: bool = True, max_calls_per_step: int = 4,
                 max_calls_per_turn: int = 12, limiter: RateLimiter | None = None) -> None:
        self.repo = repo
        self.artifacts = artifacts
        self.runner = runner
        self.model = model
        self.registry = registry
        self.max_steps = max_steps
        self.llm_timeout = llm_timeout
        self.history_turns = history_turns
        self.disabled = set(disabled_tools)
        self.voice_replies = voice_replies
        self.max_calls_per_step = max_calls_per_step
        self.max_calls_per_turn = max_calls_per_turn
        self.limiter = limiter  # the turn gate's (App wires it): tool calls count as messages
        # shared with the runner, whose heartbeat renews the lease of these turns only
        shared = getattr(runner, "turns_in_flight", None)
        self.in_flight: set[int] = shared if isinstance(shared, set) else set()
        self._tool_schemas: list[dict[str, Any]] | None = None

    # --- tools as the LLM sees them --------------------------------------------------

    def tool_schemas(self) -> list[dict[str, Any]]:
        if self._tool_schemas is None:
            self._tool_schemas = [t.openai_schema(self.registry.availability(t.name))
                                  for t in TOOLS if t.name not in self.disabled]
        return self._tool_schemas

    # --- the turn --------------------------------------------------------------------

    async def handle(self, incoming: Incoming, progress: ProgressFn | None = None) -> Outgoing:
        """Answer one incoming message. Never raises for user-caused problems.

        Storage is one transaction per step: the start (conversation, turn, user message,
        and the artifacts, history and settings the turn reads), each engine step that
        calls tools (its messages and job rows), each job's result, and the end (the
        remaining messages and the reply).
        """
        t0 = time.perf_counter()
        text = incoming.text.strip()
        user: tuple[str, dict[str, Any]] | None = None
        if not incoming.attachments:
            # nothing to store or transcribe first: the user message goes in with the turn row
            user = (text, self._user_payload(incoming, text, [], [], None))
        start = await self.repo.start_turn(
            incoming.conversation, incoming.platform, incoming.workspace, author=incoming.author,
            platform_message_id=incoming.message_id, reply_to=incoming.reply_to, is_voice=incoming.is_voice,
            user_message=user, history_turns=self.history_turns, setting_keys=TURN_SETTINGS)
        conv, turn = start.conversation, start.turn
        if not start.created:
            log.info("message %s already handled as turn %d", incoming.message_id, turn.id)
            return await self._outgoing_of(turn, conv)
        self.in_flight.add(turn.id)
        try:
            return await self._handle_turn(incoming, start, text, progress, t0)
        except Exception as exc:
            return await self._fail(conv, turn, exc)
        finally:
            self.in_flight.discard(turn.id)

    async def _fail(self, conv: Conversation, turn: Turn, exc: Exception) -> Outgoing:
        """Finish a turn whose handling raised as ``failed``, with one sentence as its reply.

        The reply goes through the outbox like any other, so it is posted once and a later
        sweep never resumes the turn and posts a second answer. Should even that write fail,
        the error is raised: the turn, no longer renewed, is then taken over by a sweep.
        """
        log.error("turn %d in %s failed: %s", turn.id, conv.key, safe_error(exc), exc_info=exc)
        text = f"Sorry, something went wrong while I was answering ({type(exc).__name__}); please try again."
        out = Outgoing(conversation=conv.key, text=text, reply_to=turn.reply_to, turn_id=turn.id)
        try:
            await self.repo.finish_turn(turn.id, out.to_dict(), status="failed")
        except Exception:
            log.exception("could not mark turn %d failed", turn.id)
            raise exc from None
        return out

    async def _handle_turn(self, incoming: Incoming, start: Any, text: str, progress: ProgressFn | None,
                           t0: float) -> Outgoing:
        conv, turn = start.conversation, start.turn
        ctx = TurnContext(conv, turn, incoming.text, [], progress, [], [], workspace=incoming.workspace,
                          history=start.history, settings=start.settings)
        ctx.know(start.artifacts)
        problems: list[str] = []
        for att in incoming.attachments:
            try:
                row = await self._ingest_attachment(conv.id, turn.id, att)
                ctx.attachments.append(row.short_id)
                ctx.know([row])
            except ArtifactError as exc:
                problems.append(str(exc))
        if incoming.is_voice and ctx.attachments and not text:
            text = await self._transcribe_voice(ctx, ctx.attachments[0])
            if not text:
                problems.append(ctx.voice_problem or "I could not hear any speech in your voice message.")
        ctx.incoming_text = text
        if start.user_message is not None:
            ctx.history.append(start.user_message)
        else:
            payload = self._user_payload(incoming, text, ctx.attachments, problems, ctx.voice_language)
            ctx.history.append(await self.repo.add_message(conv.id, turn.id, "user", text, payload))
        if (problems and not (ctx.attachments and text)) or (incoming.is_voice and not text):
            reply = " ".join(problems)
            out = await self._finish(ctx, reply, status="done")
        elif not text and not ctx.attachments:
            out = await self._finish(ctx, "I got an empty message; tell me what you would like me to do.")
        else:
            out = await self._run_engine(ctx, prefix=" ".join(problems))
        log.info("turn %d in %s done in %.1f ms (%d tool calls)", turn.id, conv.key,
                 (time.perf_counter() - t0) * 1000, len(out.tool_calls))
        return out

    @staticmethod
    def _user_payload(incoming: Incoming, text: str, attachments: list[str], problems: list[str],
                      language: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": text, "attachments": attachments, "author": incoming.author,
                                   "problems": problems}
        if incoming.is_voice:
            payload["voice"] = {"transcript": text, "language": language}
        return payload

    async def _ingest_attachment(self, conversation_id: int, turn_id: int, att: Any) -> Artifact:
        name = safe_name(att.name)
        if att.size and att.size > self.artifacts.max_bytes:
            raise ArtifactError(f"'{name}' is {att.size / 1e6:.1f} MB; the limit is {self.artifacts.max_bytes / 1e6:.0f} MB.")
        try:
            data = await att.fetch()
        except Exception as exc:  # the type and a safe message: an HTTP error's repr carries its headers
            log.warning("could not fetch attachment %s: %s", name, safe_error(exc))
            sentence = getattr(exc, "user_message", None)  # an adapter's own sentence (a refused file host)
            if not (isinstance(sentence, str) and sentence):
                sentence = f"I could not download '{name}'; please send it again."
            raise ArtifactError(sentence) from exc
        return await self.artifacts.ingest(conversation_id, data, name=name, mime=att.mime, source="user", turn_id=turn_id)

    async def _transcribe_voice(self, ctx: TurnContext, art_id: str) -> str:
        outcome = await self._submit(ctx, "voice-in", "speech_recognition", {"audio": art_id})
        if not outcome.ok:
            ctx.voice_problem = outcome.error or "I could not transcribe your voice message."
            return ""
        text = str(outcome.data.get("transcript", outcome.text)).strip()
        ctx.voice_language = outcome.data.get("language") or None
        if not text:
            ctx.voice_problem = "I could not hear any speech in your voice message."
        return text

    async def _submit(self, ctx: TurnContext, call_id: str, tool: str, args: dict[str, Any]) -> ToolOutcome:
        outcome = await self.runner.submit(ctx.conversation.id, ctx.turn.id, call_id, tool, args,
                                           conversation_key=ctx.conversation.key, progress=ctx.progress,
                                           reply_to=ctx.turn.reply_to, job=ctx.jobs.pop(call_id, None))
        ctx.records.append(ToolCallRecord(tool=tool, args=args, backend=outcome.backend, seconds=outcome.seconds,
                                          ok=outcome.ok, error=outcome.error, data=outcome.data,
                                          artifacts=tuple(a.short_id for a in outcome.artifacts),
                                          runner=outcome.runner, replica=outcome.replica))
        ctx.new_artifacts.extend(outcome.artifacts)
        ctx.know(outcome.artifacts)
        return outcome

    async def _run_engine(self, ctx: TurnContext, *, prefix: str = "", resume: bool = False) -> Outgoing:
        messages, pending = await self._build_messages(ctx, resume=resume)

        off = await self._workspace_disabled(ctx)
        schemas = [t for t in self.tool_schemas() if t["function"]["name"] not in off]

        async def execute(call: Call) -> dict[str, Any]:
            if call.name in off:
                return ToolOutcome(call.name, False, error=f"The {call.name} tool is turned off in this workspace.").to_json()
            outcome = await self._submit(ctx, call.id, call.name, call.args)
            return outcome.to_json()

        async def screen(calls: Sequence[Call]) -> dict[str, str]:
            return self._screen(ctx, calls, off)

        async def record(msg: BaseMessage) -> None:
            """Queue ``msg`` for its step's transaction; a step that calls tools is written now.

            The step's AI message is written together with the job rows of its calls (and the
            previous step's tool results), before any job runs: a resumed turn then finds the
            calls and their jobs. Tool results wait for the next step's write: until then
            they are on their finished job rows, which a resumed turn reads them back from.
            """
            ctx.unwritten.append(_serialise(msg))
            if isinstance(msg, AIMessage) and msg.tool_calls:
                await self._write_step(ctx, calls_of(msg), off)

        try:
            ai = await run_loop(self.model, messages, schemas, execute, record,
                                max_steps=self.max_steps, timeout=self.llm_timeout, pending=pending, screen=screen)
            text = _text_of(ai)
        except (EngineTimeout, EngineError) as exc:
            return await self._finish(ctx, str(exc), status="failed")
        if prefix:
            text = f"{prefix} {text}".strip()
        return await self._finish(ctx, text or "Done.")

    def _screen(self, ctx: TurnContext, calls: Sequence[Call], off: set[str]) -> dict[str, str]:
        """The calls of a step that must not run, each with the sentence the model is told.

        Caps: ``max_calls_per_step`` in one step, ``max_calls_per_turn`` over the turn. Then the
        rate limit: the message itself was counted by the gate; every admitted call after the
        turn's first counts as one message more for its user and workspace, and the calls that
        no longer fit are refused. Calls of a tool turned off cost nothing (they do not run).
        """
        refused: dict[str, str] = {}
        admitted: list[Call] = []
        step_cap, turn_cap = self.max_calls_per_step, self.max_calls_per_turn
        for c in calls:
            if c.name in off:
                continue
            if step_cap > 0 and len(admitted) >= step_cap:
                refused[c.id] = (f"At most {step_cap} tool calls can run in one step, so this {c.name} call was not "
                                 f"run; call it again in a later step if it is still needed.")
            elif turn_cap > 0 and ctx.calls_run + len(admitted) >= turn_cap:
                refused[c.id] = (f"One message may run at most {turn_cap} tool calls, so this {c.name} call was not "
                                 f"run; answer with the results you have.")
            else:
                admitted.append(c)
        free = 1 if ctx.calls_run == 0 and admitted else 0
        if self.limiter is not None and len(admitted) > free:
            settings = ctx.settings or {}
            u, w = settings.get("rate_user_per_minute"), settings.get("rate_workspace_per_minute")
            fits = self.limiter.take(f"{ctx.conversation.platform}:{ctx.turn.author}", ctx.workspace,
                                     len(admitted) - free, user_limit=None if u is None else int(u),
                                     workspace_limit=None if w is None else int(w))
            for c in admitted[free + fits:]:
                refused[c.id] = (f"The rate limit of this user's requests per minute was reached, so this {c.name} "
                                 f"call was not run; tell the user to try again in a minute.")
            admitted = admitted[:free + fits]
        ctx.calls_run += len(admitted)
        ctx.refused.update(refused)
        return refused

    async def _write_step(self, ctx: TurnContext, calls: Sequence[Call], off: set[str]) -> None:
        """One transaction: the queued messages and a claimed job row for each call that will run."""
        rows: dict[str, dict[str, Any]] = {}
        for c in calls:
            if c.name not in off and c.id not in rows and c.id not in ctx.refused:
                rows[c.id] = self.runner.job_row(ctx.conversation.id, ctx.turn.id, c.id, c.name, c.args)
        msgs, ctx.unwritten = ctx.unwritten, []
        ctx.jobs = await self.repo.record_step(ctx.conversation.id, ctx.turn.id, msgs, list(rows.values()))

    async def _finish(self, ctx: TurnContext, text: str, *, status: str = "done") -> Outgoing:
        as_voice = bool(ctx.turn.is_voice) and await self._voice_replies_on(ctx)
        spoken = text
        if ctx.turn.is_voice and ctx.incoming_text and not ctx.voice_problem:
            text = f'You said: "{ctx.incoming_text}"\n{text}'
        if as_voice and status == "done" and not any(a.kind == "audio" for a in ctx.new_artifacts) and spoken:
            args: dict[str, Any] = {"text": spoken[:5000]}
            if ctx.voice_language and ctx.voice_language != "en":
                args["language"] = ctx.voice_language
            await self._submit(ctx, "voice-out", "text_to_speech", args)
        outs = tuple(self.artifacts.to_out(a) for a in ctx.new_artifacts)
        out = Outgoing(conversation=ctx.conversation.key, text=text, artifacts=outs, as_voice=as_voice,
                       reply_to=ctx.turn.reply_to, tool_calls=tuple(ctx.records), turn_id=ctx.turn.id)
        reply = out.to_dict()  # the outbox holds the Outgoing itself; _outgoing_of rebuilds it with from_dict
        msgs, ctx.unwritten = ctx.unwritten, []
        await self.repo.finish_turn(ctx.turn.id, reply, status=status, messages=msgs)
        return out

    async def _setting(self, ctx: TurnContext, key: str) -> Any:
        """A workspace setting the turn reads: from its start, or (never read yet) the database."""
        if not ctx.workspace:
            return None
        if ctx.settings is not None and key in TURN_SETTINGS:
            return ctx.settings.get(key)
        return await self.repo.get_setting(ctx.workspace, key)

    async def _voice_replies_on(self, ctx: TurnContext) -> bool:
        """The deployment setting, overridden per workspace by the ``voice_replies`` setting."""
        value = await self._setting(ctx, "voice_replies")
        return self.voice_replies if value is None else bool(value)

    async def _workspace_disabled(self, ctx: TurnContext) -> set[str]:
        """Tools a workspace turned off with its ``disabled_tools`` setting (on top of the deployment's)."""
        return set(await self._setting(ctx, "disabled_tools") or ())

    # --- messages for the LLM --------------------------------------------------------

    async def _build_messages(self, ctx: TurnContext, *, resume: bool) -> tuple[list[BaseMessage], list[Call]]:
        arts = sorted(ctx.artifacts.values(), key=lambda a: a.id)
        system = SystemMessage(content=SYSTEM_PROMPT + "\n\n" + _artifact_listing(arts),
                               additional_kwargs={"audiogpt": {"artifacts": [_art_dict(a) for a in arts]}})
        msgs = ctx.history
        by_id = {a.short_id: a for a in arts}
        history: list[BaseMessage] = [system]
        for m in msgs:
            history.append(_deserialise(m, by_id))
        pending: list[Call] = []
        if resume and isinstance(history[-1], AIMessage) and history[-1].tool_calls:
            pending = [Call(tc.get("id") or "", tc["name"], dict(tc.get("args") or {})) for tc in history[-1].tool_calls]
        elif resume and isinstance(history[-1], ToolMessage):
            # some results of the last step are missing: re-run the calls that have none
            last_ai = next((i for i in range(len(history) - 1, -1, -1) if isinstance(history[i], AIMessage)), None)
            if last_ai is not None:
                done = {m.tool_call_id for m in history[last_ai + 1:] if isinstance(m, ToolMessage)}
                pending = [Call(tc.get("id") or "", tc["name"], dict(tc.get("args") or {}))
                           for tc in history[last_ai].tool_calls if tc.get("id") not in done]
        return history, pending

    # --- recovery and delivery -------------------------------------------------------

    async def recover(self, send: SendFn | None = None, *, lease_seconds: float = 60.0) -> list[Outgoing]:
        """Finish turns whose process died, then deliver every reply left undelivered, once.

        Safe to call from several live processes at once and periodically: a turn is taken
        over only when its owner stopped renewing its lease (or is a dead pid on this host),
        and each take-over and each delivery is a claim only one process wins.
        """
        from datetime import timedelta

        from audiogpt.core.jobs import worker_is_dead
        from audiogpt.storage.repos import stale_cutoff
        from audiogpt.storage.schema import utcnow

        dead = [w for w in await self.repo.turn_owners() if worker_is_dead(w)]
        for turn in await self.repo.claim_orphan_turns(stale_before=stale_cutoff(lease_seconds), dead_owners=dead,
                                                       in_flight=list(self.in_flight)):
            if turn.id in self.in_flight:  # running here after all (its lease lapsed while a heartbeat failed)
                continue
            self.in_flight.add(turn.id)
            try:
                await self._resume(turn)
            finally:
                self.in_flight.discard(turn.id)
        delivered: list[Outgoing] = []
        # a reply finished moments ago is about to be posted by its own process: leave it a lease
        grace = utcnow() - timedelta(seconds=lease_seconds)
        for turn in await self.repo.undelivered_turns(finished_before=grace, owners=[self.repo.worker, *dead]):
            conv = await self.repo.conversation_by_id(turn.conversation_id)
            out = await self._outgoing_of(turn, conv)
            if await self.deliver(out, send):
                delivered.append(out)
        return delivered

    async def _resume(self, turn: Turn) -> None:
        """Finish a turn taken over from a process that stopped (or a task that ended)."""
        from audiogpt.core import metrics

        conv = await self.repo.conversation_by_id(turn.conversation_id)
        hist = await self.repo.turn_history(conv.id, turn.id, self.history_turns, workspace=conv.workspace,
                                            setting_keys=TURN_SETTINGS)
        user = next((m for m in hist.current if m.role == "user"), None)
        if user is None:
            await self.repo.finish_turn(turn.id, {"text": "Sorry, I lost your message while restarting; please send it again."}, status="failed")
            return
        log.warning("resuming turn %d of %s (its process %s stopped)", turn.id, conv.key, turn.owner)
        metrics.TURNS_TAKEN_OVER.inc()
        ctx = TurnContext(conv, turn, user.content, list(user.payload.get("attachments", [])), None, [], [],
                          workspace=conv.workspace, history=[*hist.history, *hist.current], settings=hist.settings)
        ctx.know(hist.artifacts)
        for job in await self.repo.jobs_for_turn(turn.id):
            if job.tool_call_id not in ("voice-in", "voice-out"):
                ctx.calls_run += 1  # the per-turn cap counts what ran before the take-over
            if job.status == "done":
                for a in (job.result or {}).get("artifacts", []):
                    row = ctx.artifacts.get(a["id"])
                    if row is not None:
                        ctx.new_artifacts.append(row)
        try:
            with metrics.logging_context(conversation=conv.key, turn=turn.id):
                await self._run_engine(ctx, resume=True)
        except Exception:
            log.exception("could not resume turn %d", turn.id)
            await self.repo.finish_turn(turn.id, {"text": "Sorry, something went wrong while I was restarting; please try again."}, status="failed")

    async def deliver(self, out: Outgoing, send: Callable[[Outgoing], Awaitable[Any]] | None) -> bool:
        """Post ``out`` exactly once across every bot process (the turn row is the outbox).

        Claim the delivery (a lease only one process gets), send, then mark it delivered in the
        same UPDATE that records the platform's message id ``send`` returned. A failed send gives
        the claim back for a later retry; a sender killed mid-send leaves a claim that expires
        after the repository's delivery lease, so the reply is retried then, not lost.
        """
        from audiogpt.core import metrics

        platform = metrics.platform_of(out.conversation)
        if out.turn_id is None:
            if send:
                await send(out)
            return True
        if not await self.repo.claim_delivery(out.turn_id):
            metrics.REPLIES.labels(platform=platform, outcome="skipped").inc()
            return False
        turn = await self.repo.get_turn(out.turn_id)
        if (turn.reply or {}).get("text") != out.text:
            # ``out`` was built before the turn finished (a redelivered message while the first
            # copy was still running): post what the outbox row holds, never the stale snapshot
            out = await self._outgoing_of(turn, await self.repo.conversation_by_id(turn.conversation_id))
        t0 = time.perf_counter()
        try:
            message_id = await send(out) if send else None
        except Exception:
            log.exception("delivering turn %d failed; will retry", out.turn_id)
            metrics.REPLIES.labels(platform=platform, outcome="failed").inc()
            await self.repo.release_delivery(out.turn_id)
            return False
        if send:
            metrics.PLATFORM_LATENCY.labels(platform=platform).observe(time.perf_counter() - t0)
        mid = str(message_id) if isinstance(message_id, str | int) and message_id != "" else None
        if not await self.repo.mark_delivered(out.turn_id, mid):
            log.error("the delivery claim of turn %d expired while it was being sent; it may have been posted twice",
                      out.turn_id)
        metrics.REPLIES.labels(platform=platform, outcome="sent").inc()
        return True

    async def _outgoing_of(self, turn: Turn, conv: Conversation) -> Outgoing:
        reply = dict(turn.reply or {})
        if "tool_calls_full" in reply:  # a row written before the outbox stored Outgoing.to_dict()
            reply["tool_calls"] = reply["tool_calls_full"]
        # the row's own facts fill what a short row (a failed turn: only "text") does not say
        out = Outgoing.from_dict({"conversation": conv.key, "reply_to": turn.reply_to, "as_voice": bool(turn.is_voice),
                                  **reply, "turn_id": turn.id})
        # an artifact's path is where *this* process reads it (another's blob cache may not exist here)
        arts: list[ArtifactOut] = []
        for aid in reply.get("artifact_ids") or [a.id for a in out.artifacts]:
            row = await self.repo.find_artifact(conv.id, aid)
            if row is not None:
                arts.append(self.artifacts.to_out(row))
        return replace(out, artifacts=tuple(arts))


# --- (de)serialising messages -----------------------------------------------------------


def _art_dict(a: Artifact) -> dict[str, Any]:
    return {"id": a.short_id, "kind": a.kind, "name": a.name, "duration": a.duration, "source": a.source,
            "turn": a.turn_id, "parent": a.parent}


def _describe_art(a: Artifact) -> str:
    bits = [a.kind, a.name]
    if a.duration:
        bits.append(f"{a.duration:.1f} s")
    origin = "sent by the user" if a.source == "user" else f"made by {a.source}" + (f" from {a.parent}" if a.parent else "")
    return f"{a.short_id} ({', '.join(bits)}; {origin})"


def _artifact_listing(arts: Sequence[Artifact]) -> str:
    if not arts:
        return "There are no files in this conversation yet."
    return "Files in this conversation:\n" + "\n".join(f"- {_describe_art(a)}" for a in arts)


def _serialise(msg: BaseMessage) -> tuple[str, str, dict[str, Any]]:
    if isinstance(msg, AIMessage):
        return "assistant", _text_of(msg), {"tool_calls": [
            {"id": tc.get("id"), "name": tc["name"], "args": tc.get("args", {})} for tc in msg.tool_calls]}
    if isinstance(msg, ToolMessage):
        return "tool", str(msg.content), {"tool_call_id": msg.tool_call_id}
    return "user", _text_of(msg), {}


def _deserialise(m: StoredMessage, arts: dict[str, Artifact]) -> BaseMessage:
    p = m.payload or {}
    if m.role == "assistant":
        calls = [{"id": c.get("id"), "name": c["name"], "args": c.get("args", {}), "type": "tool_call"}
                 for c in p.get("tool_calls", [])]
        return AIMessage(content=m.content, tool_calls=calls)
    if m.role == "tool":
        return ToolMessage(content=m.content, tool_call_id=p.get("tool_call_id", ""))
    atts = list(p.get("attachments", []))
    content = m.content
    if atts:
        content += "\n[Attached: " + ", ".join(_describe_art(arts[a]) for a in atts if a in arts) + "]"
    return HumanMessage(content=content, additional_kwargs={"audiogpt": {"text": m.content, "attachments": atts}})


def _text_of(msg: BaseMessage) -> str:
    c = msg.content
    if isinstance(c, str):
        return c
    parts = []
    for part in c:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text", "")))
    return "".join(parts) if parts else json.dumps(c)
