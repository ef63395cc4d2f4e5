"""OfflineChatModel: a LangChain chat model that plans tool calls without an LLM.

Why a chat model and not a special engine path: the tool-calling loop in core
drives an OpenAI model and this one through the same interface (bind_tools,
invoke, AIMessage.tool_calls, ToolMessages back), so the loop, the jobs and
the dialogue code are exercised identically offline, in tests and in the eval.

Stateless: every call parses the whole message list, re-plans the current turn
(deterministically), counts the tool-call steps already answered after the
last human message, and emits the next step or the final summary.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LanguageModelInput
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from audiogpt.core.engine.planner import get_router, plan
from audiogpt.core.engine.planner_replies import label as label_of
from audiogpt.core.engine.planner_replies import phrase, quotes_result
from audiogpt.core.engine.planner_router import Router
from audiogpt.core.engine.planner_types import (
    Artifact,
    PastCall,
    PastTurn,
    Plan,
    PlanRequest,
    Ref,
    Task,
)
from audiogpt.core.tools import TOOLS, get_tool

MODEL_NAME = "audiogpt-offline"
log = logging.getLogger(__name__)
_ATTACHED_LINE = re.compile(r"^\s*\[Attached:[^\]]*\]\s*$", re.M)
_ATTACHED_ITEM = re.compile(r"\b(a[1-9]\d*)\s*\((audio|image|video|text)(?:,\s*([^,)]*))?")
_TASK_IN_ID = re.compile(r"^call_t(\d+)_")


# --- reading the message list --------------------------------------------------------------


@dataclass
class ToolResult:
    ok: bool
    tool: str
    text: str = ""
    error: str = ""
    artifacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Conversation:
    """The message list, decoded into what the planner and the summariser need."""

    request: PlanRequest
    steps_done: list[list[dict[str, Any]]]  # tool calls we emitted this turn, per step
    results: dict[str, ToolResult]  # tool_call_id -> result
    answered: bool = False  # a final (no tool call) AIMessage already follows the last human message


def _meta(msg: BaseMessage) -> dict[str, Any]:
    meta = msg.additional_kwargs.get("audiogpt") if msg.additional_kwargs else None
    return meta if isinstance(meta, dict) else {}


def _content_text(msg: BaseMessage) -> str:
    c = msg.content
    if isinstance(c, str):
        return c
    parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in c]
    return "\n".join(parts)


def _user_text(msg: BaseMessage) -> tuple[str, list[str]]:
    meta = _meta(msg)
    raw = _content_text(msg)
    text = meta.get("text")
    if not isinstance(text, str):
        text = _ATTACHED_LINE.sub("", raw).strip()
    atts = meta.get("attachments")
    if not isinstance(atts, list):
        atts = [m.group(1) for line in re.findall(r"\[Attached:[^\]]*\]", raw) for m in _ATTACHED_ITEM.finditer(line)]
    return text, [str(a) for a in atts]


def _tool_result(msg: ToolMessage) -> ToolResult:
    raw = _content_text(msg)
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        data = None
    if not isinstance(data, dict):
        failed = getattr(msg, "status", "success") == "error"
        return ToolResult(ok=not failed, tool=msg.name or "", text="" if failed else raw, error=raw if failed else "")
    arts = data.get("artifacts") or []
    return ToolResult(
        ok=bool(data.get("ok", True)),
        tool=str(data.get("tool") or msg.name or ""),
        text=str(data.get("text") or ""),
        error=str(data.get("error") or ""),
        artifacts=[a for a in arts if isinstance(a, dict) and "id" in a],
    )


def parse_messages(messages: Sequence[BaseMessage]) -> Conversation:
    """Decode the fixed message contract (see the module docstring of core/engine)."""
    artifacts: list[Artifact] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            for a in _meta(m).get("artifacts") or []:
                if isinstance(a, dict) and "id" in a:
                    artifacts.append(
                        Artifact(
                            id=str(a["id"]),
                            kind=str(a.get("kind") or "audio"),
                            name=str(a.get("name") or ""),
                            duration=a.get("duration"),
                            source=str(a.get("source") or "user"),
                            turn=int(a.get("turn") or 0),
                            parent=a.get("parent"),
                        )
                    )
    last_h = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    # history
    history: list[PastTurn] = []
    pending: dict[str, PastCall] = {}
    seen_ids = {a.id for a in artifacts}
    fallback_arts: list[Artifact] = []
    for m in messages[: max(last_h, 0)]:
        if isinstance(m, HumanMessage):
            text, atts = _user_text(m)
            history.append(PastTurn(text=text, attachments=atts))
            fallback_arts += _attached_artifacts(m, seen_ids)
        elif isinstance(m, AIMessage) and history:
            if m.tool_calls:
                for tc in m.tool_calls:
                    call = PastCall(name=tc["name"], args=dict(tc.get("args") or {}))
                    history[-1].calls.append(call)
                    if tc.get("id"):
                        pending[str(tc["id"])] = call
            else:
                history[-1].reply = _content_text(m)
        elif isinstance(m, ToolMessage):
            call = pending.get(m.tool_call_id)
            res = _tool_result(m)
            if call is not None:
                call.ok, call.text = res.ok, res.text
                call.outputs = [str(a["id"]) for a in res.artifacts]
            for a in res.artifacts:
                if str(a["id"]) not in seen_ids:
                    seen_ids.add(str(a["id"]))
                    fallback_arts.append(Artifact(id=str(a["id"]), kind=str(a.get("kind") or "audio"), name=str(a.get("name") or ""), source=res.tool))
    # current turn
    text, atts = ("", [])
    steps: list[list[dict[str, Any]]] = []
    results: dict[str, ToolResult] = {}
    produced: set[str] = set()
    answered = False
    if last_h >= 0:
        text, atts = _user_text(messages[last_h])
        fallback_arts += _attached_artifacts(messages[last_h], seen_ids)
        for m in messages[last_h + 1 :]:
            if isinstance(m, AIMessage) and m.tool_calls:
                steps.append([dict(tc) for tc in m.tool_calls])
            elif isinstance(m, AIMessage) and _content_text(m).strip():
                answered = True
            elif isinstance(m, ToolMessage):
                res = _tool_result(m)
                results[m.tool_call_id] = res
                produced |= {str(a["id"]) for a in res.artifacts}
    if fallback_arts:
        artifacts += [a for a in fallback_arts if a.id not in {b.id for b in artifacts}]
    planning_arts = [a for a in artifacts if a.id not in produced]
    req = PlanRequest(text=text, artifacts=planning_arts, attachments=atts, history=history)
    return Conversation(request=req, steps_done=steps, results=results, answered=answered)


def _attached_artifacts(msg: BaseMessage, seen: set[str]) -> list[Artifact]:
    """Artifacts named in '[Attached: ...]' lines, for callers that send no system metadata."""
    out = []
    for line in re.findall(r"\[Attached:[^\]]*\]", _content_text(msg)):
        for m in _ATTACHED_ITEM.finditer(line):
            if m.group(1) not in seen:
                seen.add(m.group(1))
                out.append(Artifact(id=m.group(1), kind=m.group(2), name=(m.group(3) or "").strip()))
    return out


# --- the model ---------------------------------------------------------------------------------


class OfflineChatModel(BaseChatModel):
    """Plans AudioGPT tool calls with embeddings and rules: no key, no network, a few ms a call.

    ``OfflineChatModel()`` is enough. ``router`` injects a prebuilt
    :class:`~audiogpt.core.engine.planner_router.Router` (tests); ``warm=True`` loads the
    embedder and the exemplars at construction instead of on the first call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = Field(default=MODEL_NAME)
    warm: bool = False
    _router: Router | None = PrivateAttr(default=None)

    def __init__(self, router: Router | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._router = router
        if self.warm:
            self.router.warm()

    @property
    def router(self) -> Router:
        return self._router or get_router()

    @property
    def _llm_type(self) -> str:
        return MODEL_NAME

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tool schemas like an OpenAI model; only the bound tool names may be called."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    # --- generation ---------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self.respond(messages, tools=kwargs.get("tools"))
        return ChatResult(generations=[ChatGeneration(message=message)], llm_output={"model_name": self.model_name})

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        # In a worker thread: the first call loads the embedder (up to a few seconds), and even a
        # few milliseconds of numpy should not block a bot's event loop (gateway heartbeats).
        return await asyncio.to_thread(self._generate, messages, stop, None, **kwargs)

    def respond(self, messages: Sequence[BaseMessage], tools: Sequence[Any] | None = None) -> AIMessage:
        """The next AIMessage for this message list: a tool-call step or the final text."""
        meta = {"model_name": self.model_name}
        try:
            return self._respond(messages, tools, meta)
        except Exception as e:  # a planning bug must not break the conversation loop
            log.exception("offline planner failed")
            return AIMessage(
                content=f"Sorry, I couldn't work out what to do with that ({type(e).__name__}). Could you rephrase it?",
                response_metadata=meta,
            )

    def _respond(self, messages: Sequence[BaseMessage], tools: Sequence[Any] | None, meta: dict[str, Any]) -> AIMessage:
        conv = parse_messages(messages)
        allowed = _tool_names(tools)
        if allowed is not None:
            conv.request.allowed_tools = frozenset(allowed)
        p = plan(conv.request, self.router)
        if p.kind != "tools":
            return AIMessage(content=p.reply or "", response_metadata=meta)
        if conv.answered:  # the turn already has its final answer: never start it again
            return AIMessage(content=summarise(p, conv), response_metadata=meta)
        k = len(conv.steps_done)
        failed = [r for step in conv.steps_done for tc in step if (r := conv.results.get(tc.get("id", ""))) and not r.ok]
        if k >= len(p.steps) or failed:
            return AIMessage(content=summarise(p, conv), response_metadata=meta)
        calls, problem = _step_calls(p, k, conv)
        if problem:
            return AIMessage(content=summarise(p, conv, extra=problem), response_metadata=meta)
        return AIMessage(content="", tool_calls=calls, response_metadata=meta)


def _tool_names(tools: Sequence[Any] | None) -> list[str] | None:
    if tools is None:
        return None
    names = []
    for t in tools:
        fn = t.get("function", t) if isinstance(t, dict) else {}
        name = fn.get("name") if isinstance(fn, dict) else None
        if name in TOOLS:
            names.append(name)
    return names


# --- emitting a step ---------------------------------------------------------------------


def call_tasks(p: Plan, conv: Conversation) -> dict[str, int]:
    """Which plan task each tool call of this turn ran.

    Our call ids carry the task index (``call_t3_0_...``). Should a loop replace the
    ids, calls are matched by step position and tool name instead.
    """
    out: dict[str, int] = {}
    for k, step in enumerate(conv.steps_done):
        planned = [p.tasks[i] for i in p.steps[k]] if k < len(p.steps) else []
        seen: dict[str, int] = {}
        for tc in step:
            cid, name = str(tc.get("id", "")), str(tc.get("name", ""))
            m = _TASK_IN_ID.match(cid)
            if m:
                out[cid] = int(m.group(1))
                continue
            same = [t for t in planned if t.tool == name]
            if same:  # the n-th call of a tool in a step belongs to its n-th task (extra calls: the last)
                out[cid] = same[min(seen.get(name, 0), len(same) - 1)].index
                seen[name] = seen.get(name, 0) + 1
    return out


def _task_outputs(task_index: int, conv: Conversation, mapping: dict[str, int]) -> list[ToolResult]:
    """Results of the calls made for a task."""
    return [
        r
        for step in conv.steps_done
        for tc in step
        if mapping.get(str(tc.get("id", ""))) == task_index and (r := conv.results.get(str(tc.get("id")))) is not None
    ]


def _step_calls(p: Plan, k: int, conv: Conversation) -> tuple[list[dict[str, Any]], str]:
    calls: list[dict[str, Any]] = []
    mapping = call_tasks(p, conv)
    for ti in p.steps[k]:
        task = p.tasks[ti]
        variants: list[dict[str, Any]] = [{}]
        for name, val in task.args.items():
            if not isinstance(val, Ref):
                for v in variants:
                    v[name] = val
                continue
            results = _task_outputs(val.task, conv, mapping)
            src = p.tasks[val.task].tool
            if val.what == "text":
                text = " ".join(r.text for r in results if r.ok and r.text).strip()
                if not text:
                    return [], f"{label_of(src)} returned no text, so I couldn't {phrase(task.tool)}."
                for v in variants:
                    v[name] = text
                continue
            ids = [str(a["id"]) for r in results if r.ok for a in r.artifacts if a.get("kind", val.kind) == val.kind]
            if not ids:
                return [], (
                    f"{src} produced no {val.kind} file, so I couldn't go on to "
                    f"{phrase(task.tool)}."
                )
            if val.every:
                variants = [{**v, name: i} for v in variants for i in ids]
            else:
                for v in variants:
                    v[name] = ids[0]
        for j, args in enumerate(variants):
            model = get_tool(task.tool).args.model_validate(args)
            calls.append(
                {
                    "name": task.tool,
                    "args": model.model_dump(exclude_unset=True),
                    "id": f"call_t{task.index}_{j}_{uuid.uuid4().hex[:8]}",
                    "type": "tool_call",
                }
            )
    return calls, ""


# --- the final answer ----------------------------------------------------------------------


def _input_of(args: dict[str, Any]) -> str:
    for key in ("audio", "image", "reference"):
        if isinstance(args.get(key), str):
            return str(args[key])
    return ""


def summarise(p: Plan, conv: Conversation, extra: str = "") -> str:
    """A short, friendly summary built only from what the tools returned."""
    lines: list[str] = []
    errors: list[str] = []
    for step in conv.steps_done:
        for tc in step:
            r = conv.results.get(str(tc.get("id", "")))
            name = tc.get("name", "")
            label = label_of(name)
            src = _input_of(tc.get("args") or {})
            head = f"{label} of {src}" if src else label
            if r is None:
                errors.append(f"{head}: no result came back.")
                continue
            if not r.ok:
                errors.append(f"{head} failed: {r.error or 'the tool reported an error.'}")
                continue
            body = ""
            if r.text:
                body = f"\u201c{r.text.strip()}\u201d" if quotes_result(name) else r.text.strip()
            files = ", ".join(f"{a['id']} ({a['name']})" if a.get("name") else str(a["id"]) for a in r.artifacts)
            if files:
                body = f"{body}\nFiles: {files}" if body else files
            lines.append(f"{head}: {body}" if body else f"{head}: done.")
    done_tasks = set(call_tasks(p, conv).values())
    skipped = [t for t in p.tasks if t.index not in done_tasks]
    out: list[str] = []
    if errors:
        out.append("Something went wrong.")
    elif lines:
        out.append("Done!" if not skipped else "Partly done.")
    out += lines
    out += errors
    if extra:
        out.append(extra)
    if skipped and (errors or extra):
        out.append("I stopped there, so I didn't " + ", ".join(_phrase(t) for t in skipped) + ".")
    out += p.debug.get("notes", [])
    return "\n".join(out) if out else "I didn't run anything."


def _phrase(t: Task) -> str:
    return phrase(t.tool)
