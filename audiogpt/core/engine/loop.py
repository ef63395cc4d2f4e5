"""The tool-calling loop shared by every chat model.

Each step asks the model (with a timeout); tool calls of one step run in
parallel; their results are appended as ``ToolMessage``s and the model is asked
again, until it answers in text or the step limit is reached. Malformed tool
calls are answered with an error message the model can correct; they never
reach a backend.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

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
    return [Call(id=tc.get("id") or f"call_{i}", name=tc["name"], args=dict(tc.get("args") or {}))
            for i, tc in enumerate(ai.tool_calls)]


async def run_loop(model: BaseChatModel, messages: list[BaseMessage], tools: list[dict[str, Any]],
                   execute: ExecuteFn, record: RecordFn, *, max_steps: int = 6, timeout: float = 60.0,
                   pending: Sequence[Call] = ()) -> AIMessage:
    """Drive ``model`` until it answers in text. ``messages`` is extended in place.

    ``pending`` are calls of the last recorded AIMessage that have no results yet
    (a turn resumed after a crash); they run before the model is asked again.
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
        await record(ai)
        messages.append(ai)
        bad = list(getattr(ai, "invalid_tool_calls", []) or [])
        calls = calls_of(ai)
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
        if calls:
            messages.extend(await run_calls(calls, execute, record))
    log.warning("step limit (%d) reached", max_steps)
    final = AIMessage(content=f"I stopped after {max_steps} steps without finishing; please try a simpler request.")
    await record(final)
    messages.append(final)
    return final
