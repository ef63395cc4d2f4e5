"""The offline engine's own sentences: chit-chat, clarifying questions, requests for files.

Why separate: wording changes often and should not touch the planning logic;
tests look for behaviour (no tool call, a question) rather than exact strings.
"""

from __future__ import annotations

import re

from audiogpt.core.engine.roles import by_role
from audiogpt.core.tools import TOOLS


def phrase(tool: str) -> str:
    """What ``tool`` does, as the object of "I can ..." / "Should I ...?" (from the catalogue)."""
    spec = TOOLS.get(tool) if tool in TOOLS else None
    return spec.phrase if spec and spec.phrase else tool.replace("_", " ")


def label(tool: str) -> str:
    """Heading of a tool's result in a summary ("Transcript")."""
    spec = TOOLS.get(tool) if tool in TOOLS else None
    return spec.label if spec and spec.label else tool.replace("_", " ").capitalize()


def quotes_result(tool: str) -> bool:
    return tool in TOOLS and TOOLS.get(tool).quote_result


def capabilities() -> str:
    """What I can do, one phrase per tool of this deployment's catalogue."""
    phrases = [phrase(t.name) for t in TOOLS]
    body = ", ".join(phrases[:-1]) + f", and {phrases[-1]}" if len(phrases) > 1 else "".join(phrases)
    return f"I'm an audio assistant. Send me a recording, voice message or picture and I can: {body}."


def chat_reply(cls: str) -> str:
    """The sentence for a chat class (greeting, thanks, ...); capabilities come from the catalogue."""
    caps = capabilities()
    replies = {
        "chat:greeting": "Hi! " + caps + " What would you like to do?",
        "chat:thanks": "You're welcome! Anything else I can do with your audio?",
        "chat:sharing": (
            "I don't see a file attached yet. Attach a recording, voice message or picture and tell me "
            "what to do with it."
        ),
        "chat:dismiss": "OK, no problem. Tell me whenever you need something done with audio.",
        "chat:bye": "Bye! Come back any time you have audio to work on.",
        "chat:capabilities": caps,
        "chat:identity": (
            "I'm AudioGPT, a bot (not a person) that runs speech, sound and music models for you. "
            + caps
        ),
        "chat:offtopic": (
            "Sorry, that's outside what I can do: I only work with audio (and pictures as input for sound "
            "or talking-head videos). " + caps
        ),
    }
    return replies[cls]

def unsupported(request: str) -> str:
    """No tool does this: say so, quoting the request when it is short, and list what I can do."""
    request = request.strip()
    quoted = f" (\u201c{request}\u201d)" if 0 < len(request) <= 80 else ""
    return f"Sorry, I can't do that{quoted}: I don't have a tool for it. " + capabilities()


def ask_for_file(tool: str, kind: str, unusable: list[tuple[str, str, str]] | None = None) -> str:
    """Ask for the missing file; name what was attached instead (``(id, name, kind)``) so the
    user knows their upload arrived but is not something this tool can read."""
    what = {"audio": "an audio file or voice message", "image": "a picture", "video": "a video"}.get(kind, "a file")
    if unusable:
        looks = {"image": "a picture", "video": "a video", "text": "text", "audio": "audio"}
        parts = [f"{i} ({n}) is {looks.get(k, 'not a kind of file I can read')}" if n else f"{i} is {looks.get(k, 'unreadable')}"
                 for i, n, k in unusable]
        return f"To {phrase(tool)} I need {what}, but {'; '.join(parts)}. Please attach the recording itself."
    return (
        f"To {phrase(tool)} I need {what}, and I don't see one in this conversation yet. "
        "Please attach it and I'll get started."
    )


def ask_for_arg(tool: str, arg: str) -> str:
    if tool in TOOLS:
        return TOOLS.get(tool).question(arg)
    return f"I need a bit more detail: what {arg}?"


def clarify(options: list[str]) -> str:
    """A question naming each option; the tool name in brackets lets the next turn resolve 'the first'."""
    parts = [f"{phrase(t)} ({t})" for t in options]
    body = ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else parts[0]
    return f"Just to be sure: should I {body}?"


CLARIFY_RE = re.compile(r"^Just to be sure: should I ")
TOOL_IN_BRACKETS = re.compile(r"\(([a-z_]+)\)")


def clarify_options(reply: str) -> list[str]:
    """The tool names offered by an earlier :func:`clarify` question, else []."""
    if not CLARIFY_RE.match(reply or ""):
        return []
    return TOOL_IN_BRACKETS.findall(reply)


def what_to_do_with(ids: list[str]) -> str:
    names = ", ".join(ids)
    it = "them" if len(ids) > 1 else "it"
    return (
        f"Got {names}. What would you like me to do with {it}? For example I can transcribe or translate "
        "speech, clean it up, describe or tag the sounds, find or extract a sound, or make it binaural."
    )


def unknown_request() -> str:
    return "I'm not sure what you'd like me to do. " + capabilities()


def language_note() -> str:
    asr, st, tts = by_role("transcribe"), by_role("translate_speech"), by_role("speak")
    return (
        f"I chat in English. For audio in other languages: I can transcribe speech ({asr}) and "
        "translate what is said in a recording into another language such as Spanish, French, German, Italian, "
        f"Portuguese, Chinese or Japanese ({st}, optionally read aloud), and read a text aloud "
        f"({tts}; English sounds best, other languages depend on the installed voice)."
    )


def capability_answer(tool: str | None, needs_file: bool, languages: list[str] | None, unsupported_ask: bool) -> str:
    """Answer 'can you ...?' in words: yes with how to ask, or no; the language note when it is about languages
    (``languages``: the ones named, [] for languages in general, None when not about languages)."""
    if languages is not None:
        head = f"About {', '.join(languages)}: " if languages else ""
        return head + language_note() + " Send me a recording (or the text to read) and tell me what to do with it."
    if unsupported_ask:
        return "No, sorry, I don't have a tool for that. " + capabilities()
    if tool:
        how = (
            "Attach the file and tell me what you'd like."
            if needs_file
            else "Just tell me what you'd like, in as much detail as you want."
        )
        return f"Yes, I can {phrase(tool)} ({tool}). {how}"
    return capabilities()


def text_translation_reply(language: str | None) -> str:
    into = f" into {language}" if language else ""
    return (
        f"I can't translate typed text{into}: my translation tool ({by_role('translate_speech')}) works on speech "
        f"recordings. Send me a voice message or audio file and I'll translate what is said{into} (and can read "
        f"the translation aloud). I can also read your text aloud as it is ({by_role('speak')})."
    )
