"""``audiogpt eval``: score the engine's tool choices on a suite of dialogues.

Suite format (one JSON object a line)::

    {"id": "...", "turns": [{"user": "...", "attach": ["media/x.wav"], "expect_any": [["tool_a"], []]}]}

A turn passes when the set of tools called in it equals one of ``expect_any``.
Dialogues run through the same :class:`~audiogpt.core.dialogue.Dialogue` path
as every platform; each dialogue gets its own conversation.
"""

from __future__ import annotations

import json
import mimetypes
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogpt.core.dialogue import Dialogue
from audiogpt.core.events import Attachment, Incoming


class SuiteError(ValueError):
    """The suite file is malformed; ``str()`` says where."""


@dataclass
class EvalTurn:
    user: str
    attach: list[str]
    expect_any: list[set[str]]


@dataclass
class EvalDialogue:
    id: str
    turns: list[EvalTurn]


@dataclass
class EvalReport:
    turns: int = 0
    passed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float:
        return self.passed / self.turns if self.turns else 0.0

    def summary(self) -> dict[str, Any]:
        return {"turns": self.turns, "passed": self.passed, "score": round(self.score, 4), "failures": self.failures}


def load_suite(path: Path) -> list[EvalDialogue]:
    out: list[EvalDialogue] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            obj = json.loads(line)
            turns = [EvalTurn(str(t["user"]), list(t.get("attach", []) or []),
                              [set(s) for s in t.get("expect_any", [[]])]) for t in obj["turns"]]
            out.append(EvalDialogue(str(obj.get("id", f"line{lineno}")), turns))
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise SuiteError(f"{path}:{lineno}: not a valid dialogue ({exc}).") from exc
    return out


def _file_attachment(path: Path) -> Attachment:
    async def fetch() -> bytes:
        return path.read_bytes()

    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Attachment(name=path.name, mime=mime, size=path.stat().st_size, fetch=fetch)


async def run_suite(dialogue: Dialogue, suite_path: Path, *, on_turn: Callable[[dict[str, Any]], None] | None = None) -> EvalReport:
    suite = load_suite(suite_path)
    base = suite_path.parent
    report = EvalReport()
    run_id = uuid.uuid4().hex[:8]
    for dlg in suite:
        key = f"eval:{run_id}:{dlg.id}"
        for i, turn in enumerate(dlg.turns, 1):
            atts = []
            missing = []
            for rel in turn.attach:
                p = (base / rel).resolve()
                if p.is_file():
                    atts.append(_file_attachment(p))
                else:
                    missing.append(rel)
            out = await dialogue.handle(Incoming(platform="eval", conversation=key, author="eval", text=turn.user,
                                                 attachments=tuple(atts)))
            got = {c.tool for c in out.tool_calls}
            ok = any(got == exp for exp in turn.expect_any) and not missing
            report.turns += 1
            report.passed += int(ok)
            res = {"id": dlg.id, "turn": i, "user": turn.user, "ok": ok, "got": sorted(got),
                   "expected": [sorted(s) for s in turn.expect_any], "reply": out.text[:300]}
            if missing:
                res["missing_files"] = missing
            report.results.append(res)
            if not ok:
                report.failures.append(res)
            if on_turn:
                on_turn(res)
    return report
