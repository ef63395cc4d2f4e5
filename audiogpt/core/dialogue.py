"""The turn: the one path every message takes, whatever platform it came from.

adapter -> :meth:`Dialogue.handle` -> engine steps -> jobs -> :class:`Outgoing`.
Everything is persisted as it happens (user message, each LLM step, each tool
result, the reply), so a process killed mid-turn is resumed by
:meth:`Dialogue.recover` and its reply is delivered exactly once through the
claim in :meth:`Dialogue.deliver`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from audiogpt.core.artifacts import ArtifactError, ArtifactService, safe_name
from audiogpt.core.engine.loop import Call, EngineError, EngineTimeout, run_loop
from audiogpt.core.events import ArtifactOut, Incoming, Outgoing, Progress, ToolCallRecord
from audiogpt.core.execute import ToolOutcome
from audiogpt.core.jobs import JobRunner
from audiogpt.core.tools import TOOLS
from audiogpt.models.registry import Registry
from audiogpt.storage.repos import Repository
from audiogpt.storage.schema import Artifact, Conversation, Message, Turn

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


@dataclass
class TurnContext:
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


class Dialogue:
    def __init__(self, repo: Repository, artifacts: ArtifactService, runner: JobRunner, model: BaseChatModel,
                 registry: Registry, *, max_steps: int = 6, llm_timeout: float = 60.0, history_turns: int = 8,
                 disabled_tools: Sequence[str] = (), voice_replies: bool = True) -> None:
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
        self._tool_schemas: list[dict[str, Any]] | None = None

    # --- tools as the LLM sees them --------------------------------------------------

    def tool_schemas(self) -> list[dict[str, Any]]:
        if self._tool_schemas is None:
            self._tool_schemas = [t.openai_schema(self.registry.availability(t.name))
                                  for t in TOOLS if t.name not in self.disabled]
        return self._tool_schemas

    # --- the turn --------------------------------------------------------------------

    async def handle(self, incoming: Incoming, progress: ProgressFn | None = None) -> Outgoing:
        """Answer one incoming message. Never raises for user-caused problems."""
        t0 = time.perf_counter()
        conv = await self.repo.get_or_create_conversation(incoming.conversation, incoming.platform, incoming.workspace)
        turn, created = await self.repo.create_turn(conv.id, author=incoming.author,
                                                    platform_message_id=incoming.message_id,
                                                    reply_to=incoming.reply_to, is_voice=incoming.is_voice)
        if not created:
            log.info("message %s already handled as turn %d", incoming.message_id, turn.id)
            return await self._outgoing_of(turn, conv)
        ctx = TurnContext(conv, turn, incoming.text, [], progress, [], [], workspace=incoming.workspace)
        problems: list[str] = []
        for att in incoming.attachments:
            try:
                row = await self._ingest_attachment(conv.id, turn.id, att)
                ctx.attachments.append(row.short_id)
            except ArtifactError as exc:
                problems.append(str(exc))
        text = incoming.text.strip()
        if incoming.is_voice and ctx.attachments and not text:
            text = await self._transcribe_voice(ctx, ctx.attachments[0])
            if not text:
                problems.append(ctx.voice_problem or "I could not hear any speech in your voice message.")
        ctx.incoming_text = text
        payload: dict[str, Any] = {"text": text, "attachments": ctx.attachments, "author": incoming.author,
                                   "problems": problems}
        if incoming.is_voice:
            payload["voice"] = {"transcript": text, "language": ctx.voice_language}
        await self.repo.add_message(conv.id, turn.id, "user", text, payload)
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

    async def _ingest_attachment(self, conversation_id: int, turn_id: int, att: Any) -> Artifact:
        name = safe_name(att.name)
        if att.size and att.size > self.artifacts.max_bytes:
            raise ArtifactError(f"'{name}' is {att.size / 1e6:.1f} MB; the limit is {self.artifacts.max_bytes / 1e6:.0f} MB.")
        try:
            data = await att.fetch()
        except Exception as exc:
            log.warning("could not fetch attachment %s: %r", name, exc)
            raise ArtifactError(f"I could not download '{name}'; please send it again.") from exc
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
                                           reply_to=ctx.turn.reply_to)
        ctx.records.append(ToolCallRecord(tool=tool, args=args, backend=outcome.backend, seconds=outcome.seconds,
                                          ok=outcome.ok, error=outcome.error, data=outcome.data,
                                          artifacts=tuple(a.short_id for a in outcome.artifacts),
                                          runner=outcome.runner, replica=outcome.replica))
        ctx.new_artifacts.extend(outcome.artifacts)
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

        async def record(msg: BaseMessage) -> None:
            await self.repo.add_message(ctx.conversation.id, ctx.turn.id, *_serialise(msg))

        try:
            ai = await run_loop(self.model, messages, schemas, execute, record,
                                max_steps=self.max_steps, timeout=self.llm_timeout, pending=pending)
            text = _text_of(ai)
        except (EngineTimeout, EngineError) as exc:
            return await self._finish(ctx, str(exc), status="failed")
        if prefix:
            text = f"{prefix} {text}".strip()
        return await self._finish(ctx, text or "Done.")

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
        reply = out.to_dict()
        reply["artifact_ids"] = [a.id for a in outs]
        reply["tool_calls_full"] = [{**c.to_dict(), "data": c.data, "artifacts": list(c.artifacts)} for c in ctx.records]
        await self.repo.finish_turn(ctx.turn.id, reply, status=status)
        return out

    async def _voice_replies_on(self, ctx: TurnContext) -> bool:
        """The deployment setting, overridden per workspace by the ``voice_replies`` setting."""
        if ctx.workspace:
            value = await self.repo.get_setting(ctx.workspace, "voice_replies")
            if value is not None:
                return bool(value)
        return self.voice_replies

    async def _workspace_disabled(self, ctx: TurnContext) -> set[str]:
        """Tools a workspace turned off with its ``disabled_tools`` setting (on top of the deployment's)."""
        if not ctx.workspace:
            return set()
        value = await self.repo.get_setting(ctx.workspace, "disabled_tools")
        return set(value or ())

    # --- messages for the LLM --------------------------------------------------------

    async def _build_messages(self, ctx: TurnContext, *, resume: bool) -> tuple[list[BaseMessage], list[Call]]:
        arts = await self.repo.list_artifacts(ctx.conversation.id)
        system = SystemMessage(content=SYSTEM_PROMPT + "\n\n" + _artifact_listing(arts),
                               additional_kwargs={"audiogpt": {"artifacts": [_art_dict(a) for a in arts]}})
        prior = [t for t in await self.repo.recent_turns(ctx.conversation.id, self.history_turns, before_turn=ctx.turn.id)
                 if t.status == "done"]
        msgs = await self.repo.turn_messages([t.id for t in prior] + [ctx.turn.id])
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

        from audiogpt.core import metrics
        from audiogpt.core.jobs import worker_is_dead
        from audiogpt.storage.repos import stale_cutoff
        from audiogpt.storage.schema import utcnow

        dead = [w for w in await self.repo.turn_owners() if worker_is_dead(w)]
        for turn in await self.repo.claim_orphan_turns(stale_before=stale_cutoff(lease_seconds), dead_owners=dead):
            conv = await self.repo.conversation_by_id(turn.conversation_id)
            msgs = await self.repo.turn_messages([turn.id])
            user = next((m for m in msgs if m.role == "user"), None)
            if user is None:
                await self.repo.finish_turn(turn.id, {"text": "Sorry, I lost your message while restarting; please send it again."}, status="failed")
                continue
            log.warning("resuming turn %d of %s (its process %s stopped)", turn.id, conv.key, turn.owner)
            metrics.TURNS_TAKEN_OVER.inc()
            ctx = TurnContext(conv, turn, user.content, list(user.payload.get("attachments", [])), None, [], [],
                              workspace=conv.workspace)
            for job in await self.repo.jobs_for_turn(turn.id):
                if job.status == "done":
                    for a in (job.result or {}).get("artifacts", []):
                        row = await self.repo.find_artifact(conv.id, a["id"])
                        if row is not None:
                            ctx.new_artifacts.append(row)
            try:
                with metrics.logging_context(conversation=conv.key, turn=turn.id):
                    await self._run_engine(ctx, resume=True)
            except Exception:
                log.exception("could not resume turn %d", turn.id)
                await self.repo.finish_turn(turn.id, {"text": "Sorry, something went wrong while I was restarting; please try again."}, status="failed")
        delivered: list[Outgoing] = []
        # a reply finished moments ago is about to be posted by its own process: leave it a lease
        grace = utcnow() - timedelta(seconds=lease_seconds)
        for turn in await self.repo.undelivered_turns(finished_before=grace, owners=[self.repo.worker, *dead]):
            conv = await self.repo.conversation_by_id(turn.conversation_id)
            out = await self._outgoing_of(turn, conv)
            if await self.deliver(out, send):
                delivered.append(out)
        return delivered

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
        reply = turn.reply or {}
        arts: list[ArtifactOut] = []
        for aid in reply.get("artifact_ids", []):
            row = await self.repo.find_artifact(conv.id, aid)
            if row is not None:
                arts.append(self.artifacts.to_out(row))
        records = tuple(ToolCallRecord(tool=c["tool"], args=c.get("args", {}), backend=c.get("backend"),
                                       seconds=c.get("seconds", 0.0), ok=c.get("ok", False), error=c.get("error"),
                                       data=c.get("data", {}), artifacts=tuple(c.get("artifacts", [])),
                                       runner=c.get("runner"), replica=c.get("replica"))
                        for c in reply.get("tool_calls_full", []))
        return Outgoing(conversation=conv.key, text=reply.get("text", ""), artifacts=tuple(arts),
                        as_voice=bool(turn.is_voice), reply_to=turn.reply_to, tool_calls=records, turn_id=turn.id)


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


def _deserialise(m: Message, arts: dict[str, Artifact]) -> BaseMessage:
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
