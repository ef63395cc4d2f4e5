"""One text splitter for every platform: chunks under the platform's limit, cut where a reader would.

Discord allows 2,000 characters per message, a Slack section block 3,000; the rules of a
good cut are the same everywhere, so they live here once and each platform passes its
limit. Cuts go between paragraphs, then lines, then words; only a single "word" longer
than the limit is cut hard. A code block cut in two is closed at the end of one chunk and
reopened (same language) at the start of the next, so both halves still render as code.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^```(\S*)", re.M)
_CLOSE = "\n```"  # what closes a block cut in two


def _open_fence(text: str) -> str | None:
    """The language tag of a code fence left open at the end of ``text`` (``""`` for none given)."""
    lang: str | None = None
    for m in _FENCE.finditer(text):
        lang = m.group(1) if lang is None else None
    return lang


def _cut(text: str, budget: int) -> tuple[int, int]:
    """Where to cut ``text`` so the head is at most ``budget`` chars: (end of head, start of tail)."""
    window = text[: budget + 1]
    # a code block that starts inside the window but does not end in it: cut before it if that is not wasteful
    if _open_fence(window) is not None:
        fences = list(_FENCE.finditer(window))
        start = fences[-1].start()  # fences pair up, so the last one is the block left open
        if start > budget // 3:
            return start, start
    for sep, floor in (("\n\n", budget // 2), ("\n", budget // 4), (" ", 1)):
        i = window.rfind(sep, 0, budget + 1 - len(sep) + 1)
        if i >= floor:
            return i, i + len(sep)
    return budget, budget  # one "word" longer than a message: nothing better exists


def split_text(text: str, limit: int) -> list[str]:
    """Chunks of at most ``limit`` characters (leading/trailing space dropped); ``[]`` for blank text."""
    if limit <= len(_CLOSE):
        raise ValueError(f"a limit of {limit} characters leaves no room for text")
    text = text.strip()
    if not text:
        return []
    chunks: list[str] = []
    while len(text) > limit:
        fence_room = len(_CLOSE) if "```" in text[:limit] else 0
        end, start = _cut(text, limit - fence_room)
        head, tail = text[:end].rstrip(), text[start:]
        lang = _open_fence(head)
        if lang is not None:
            head += _CLOSE
            tail = f"```{lang}\n" + tail.lstrip("\n")
        else:
            tail = tail.lstrip()
        if head.strip():
            chunks.append(head)
        text = tail
    if text.strip():
        chunks.append(text)
    return chunks
