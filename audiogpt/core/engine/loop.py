"""The tool-calling loop shared by every chat model.

Each step asks the model (with a timeout); tool calls of one step run in
parallel; their results are appended as ``ToolMessage``s and the model is asked
again, until it answers in text or the step limit is reached. Malformed tool
calls are answered with an error message the model can correct; they never
reach a backend.

Tool call ids are the keys of job rows (one job per turn and id), so every call
gets an id unique in its turn before it is recorded: some OpenAI-compatible
servers omit ids or repeat them from one step to the next, and a repeated id would
hand a later call an earlier call's finished job. A ``screen`` hook may refuse
calls of a step (fan-out caps, rate limits) before they are recorded; a refused
call is answered with its sentence and never becomes a job.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

log = logging.getLogger(__name__)


class EngineTimeout(RuntimeError):
    """The LLM did not answer in time; ``str()`` is one sentence for the user."""


class EngineError(RuntimeError):
    """The LLM call failed; ``str()`` is one sentence for the user."""


@dataclass(frozen=True)
class Call:
    id: str
    name: str
    args: dict[str, Any]


ExecuteFn = Callable[[Call], Awaitable[dict[str, Any]]]
RecordFn = Callable[[BaseMessage], Awaitable[None]]
# the calls of one step -> the ones refused, by call id, each with the sentence the model is told
ScreenFn = Callable[[Sequence[Call]], Awaitable[dict[str, str]]]


def tool_message(call_id: str, result: dict[str, Any]) -> ToolMessage:
    return ToolMessage(content=json.dumps(result, ensure_ascii=False, default=str), tool_call_id=call_id)


async def run_calls(calls: Sequence[Call], execute: ExecuteFn, record: RecordFn) -> list[ToolMessage]:
    """Run one step's calls in parallel; record results in call order."""
    results = await asyncio.gather(*(execute(c) for c in calls), return_exceptions=True)
    out: list[ToolMessage] = []
    for call, res in zip(calls, results, strict=True):
        if isinstance(res, BaseException):
            log.error("tool call %s raised", call.name, exc_info=res)
            res = {"ok": False, "tool": call.name, "error": f"The {call.name} tool failed unexpectedly."}
        msg = tool_message(call.id, res)
        await record(msg)
        out.append(msg)
    return out


def calls_of(ai: AIMessage) -> list[Call]:
    """The calls of ``ai``; their ids were made unique by :func:`unique_call_ids` when it arrived."""
    return [Call(id=tc.get("id") or f"call_{i}", name=tc["name"], args=dict(tc.get("args") or {}))
            for i, tc in enumerate(ai.tool_calls)]


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:16]}"


def unique_call_ids(ai: AIMessage, earlier: Sequence[BaseMessage]) -> AIMessage:
    """Give every (valid or malformed) call of ``ai`` an id no earlier step of its turn used, in place.

    A missing id, or one seen before in this turn (the messages of ``earlier`` after its last
    user message: job rows are unique per turn and id) or in ``ai`` itself, is replaced by a
    fresh one. Done before the message is recorded, so the stored message, its job rows and
    the ``ToolMessage`` answers all carry the same id, and a resumed turn finds them again.
    """
    seen: set[str] = set()
    start = next((i for i in range(len(earlier) - 1, -1, -1) if isinstance(earlier[i], HumanMessage)), -1)
    for m in earlier[start + 1:]:
        if isinstance(m, AIMessage):
            seen.update(str(tc.get("id")) for tc in m.tool_calls if tc.get("id"))
            seen.update(str(tc.get("id")) for tc in (getattr(m, "invalid_tool_calls", None) or []) if tc.get("id"))
    changed: dict[int, str] = {}

    def fresh(tc: Any, i: int | None) -> Any:
        cid = tc.get("id")
        if cid and str(cid) not in seen:
            seen.add(str(cid))
            return tc
        new = new_call_id()
        seen.add(new)
        if i is not None:
            changed[i] = new
        log.info("tool call %s had %s id; it is now %s", tc.get("name"), "a repeated" if cid else "no", new)
        return {**tc, "id": new}

    if ai.tool_calls:
        ai.tool_calls = [fresh(tc, i) for i, tc in enumerate(ai.tool_calls)]
    bad = list(getattr(ai, "invalid_tool_calls", None) or [])
    if bad:
        ai.invalid_tool_calls = [fresh(tc, None) for tc in bad]
    raw = ai.additional_kwargs.get("tool_calls")
    if changed and isinstance(raw, list) and len(raw) == len(ai.tool_calls):
        # the provider's raw copy, which some serialisers send back instead of ``tool_calls``
        ai.additional_kwargs["tool_calls"] = [{**r, "id": changed[i]} if i in changed and isinstance(r, dict) else r
                                              for i, r in enumerate(raw)]
    return ai


def _refusing(execute: ExecuteFn, refused: dict[str, str]) -> ExecuteFn:
    """``execute``, except that a refused call is answered with its sentence and never runs."""

    async def run(call: Call) -> dict[str, Any]:
        if call.id in refused:
            return {"ok": False, "tool": call.name, "error": refused[call.id]}
        return await execute(call)

    return run


async def run_loop(model: BaseChatModel, messages: list[BaseMessage], tools: list[dict[str, Any]],
                   execute: ExecuteFn, record: RecordFn, *, max_steps: int = 6, timeout: float = 60.0,
                   pending: Sequence[Call] = (), screen: ScreenFn | None = None) -> AIMessage:
    """Drive ``model`` until it answers in text. ``messages`` is extended in place.

    ``pending`` are calls of the last recorded AIMessage that have no results yet
    (a turn resumed after a crash); they run before the model is asked again (they were
    screened when they were first made). ``screen`` sees each step's calls before the
    step is recorded and names the ones that must not run.
    """
    bound = model.bind_tools(tools) if tools else model
    if pending:
        messages.extend(await run_calls(pending, execute, record))
    for _step in range(max_steps):
        try:
            ai = await asyncio.wait_for(bound.ainvoke(messages), timeout=timeout)
        except TimeoutError as exc:
            log.warning("LLM timed out after %.0fs", timeout)
            raise EngineTimeout(f"The language model did not answer within {timeout:g} seconds; please try again.") from exc
        except Exception as exc:
            log.error("LLM call failed: %r", exc, exc_info=True)
            raise EngineError(f"The language model could not be reached ({type(exc).__name__}); please try again.") from exc
        if not isinstance(ai, AIMessage):
            ai = AIMessage(content=str(getattr(ai, "content", ai)))
        unique_call_ids(ai, messages)
        calls = calls_of(ai)
        refused = await screen(calls) if screen is not None and calls else {}
        await record(ai)
        messages.append(ai)
        bad = list(getattr(ai, "invalid_tool_calls", []) or [])
        if not calls and not bad:
            return ai
        errors: list[ToolMessage] = []
        for i, inv in enumerate(bad):
            log.warning("malformed tool call from the LLM: %s", inv)
            msg = tool_message(inv.get("id") or f"invalid_{i}", {
                "ok": False, "tool": inv.get("name"),
                "error": "The tool call's arguments were not valid JSON; call the tool again with valid JSON arguments.",
            })
            await record(msg)
            errors.append(msg)
        messages.extend(errors)
        if refused:
            log.warning("%d tool call(s) of this step refused: %s", len(refused), sorted(set(refused.values())))
        if calls:
            messages.extend(await run_calls(calls, _refusing(execute, refused) if refused else execute, record))
    log.warning("step limit (%d) reached", max_steps)
    final = AIMessage(content=f"I stopped after {max_steps} steps without finishing; please try a simpler request.")
    await record(final)
    messages.append(final)
    return final
