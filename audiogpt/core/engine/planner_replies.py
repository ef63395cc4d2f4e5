"""The offline engine's own sentences: chit-chat, clarifying questions, requests for files.

Why separate: wording changes often and should not touch the planning logic;
tests look for behaviour (no tool call, a question) rather than exact strings.
"""

from __future__ import annotations

import re

# What each tool does, as the object of "I can ..." / "Should I ...?".
TOOL_PHRASES: dict[str, str] = {
    "speech_recognition": "transcribe the speech",
    "speech_translation": "translate the speech into another language",
    "text_to_speech": "read a text aloud",
    "style_transfer": "say a text in the voice of a reference clip",
    "speech_enhancement": "clean up the recording (remove noise and echo)",
    "speech_separation": "split overlapping speakers into separate tracks",
    "mono_to_binaural": "turn it into binaural 3D audio",
    "audio_inpainting": "fill in a missing or damaged section",
    "sound_extraction": "extract one described sound from the mix",
    "target_sound_detection": "find when a described sound occurs",
    "sound_detection": "tag all the sound events over time",
    "talking_head": "make a talking-head video",
    "text_to_audio": "generate a sound effect from a description",
    "image_to_audio": "generate the sound of a picture",
    "audio_to_text": "describe what can be heard",
    "singing_synthesis": "sing lyrics",
    "text_to_music": "compose music from a description",
}

# Short labels for result summaries.
TOOL_LABELS: dict[str, str] = {
    "speech_recognition": "Transcript",
    "speech_translation": "Translation",
    "text_to_speech": "Speech",
    "style_transfer": "Cloned-voice speech",
    "speech_enhancement": "Cleaned-up audio",
    "speech_separation": "Separated speakers",
    "mono_to_binaural": "Binaural audio",
    "audio_inpainting": "Repaired audio",
    "sound_extraction": "Extracted sound",
    "target_sound_detection": "Detections",
    "sound_detection": "Sound events",
    "talking_head": "Talking-head video",
    "text_to_audio": "Sound effect",
    "image_to_audio": "Sound for the picture",
    "audio_to_text": "Description",
    "singing_synthesis": "Singing",
    "text_to_music": "Music",
}

QUOTED_RESULT_TOOLS = frozenset({"speech_recognition", "speech_translation", "audio_to_text"})

CAPABILITIES = (
    "I'm an audio assistant. Send me a recording, voice message or picture and I can: "
    "transcribe or translate speech, clean up noisy speech, split overlapping speakers, "
    "describe or tag the sounds in a clip, find when a sound happens, extract one sound from a mix, "
    "repair gaps, make binaural 3D audio, read text aloud (also in a voice you provide), sing lyrics, "
    "generate sound effects or music from a description, make a sound for a picture, "
    "and animate a portrait into a talking-head video."
)

CHAT_REPLIES: dict[str, str] = {
    "chat:greeting": "Hi! " + CAPABILITIES + " What would you like to do?",
    "chat:thanks": "You're welcome! Anything else I can do with your audio?",
    "chat:sharing": (
        "I don't see a file attached yet. Attach a recording, voice message or picture and tell me "
        "what to do with it."
    ),
    "chat:dismiss": "OK, no problem. Tell me whenever you need something done with audio.",
    "chat:bye": "Bye! Come back any time you have audio to work on.",
    "chat:capabilities": CAPABILITIES,
    "chat:identity": (
        "I'm AudioGPT, a bot (not a person) that runs speech, sound and music models for you. "
        + CAPABILITIES
    ),
    "chat:offtopic": (
        "Sorry, that's outside what I can do: I only work with audio (and pictures as input for sound "
        "or talking-head videos). " + CAPABILITIES
    ),
}

def unsupported(request: str) -> str:
    """No tool does this: say so, quoting the request when it is short, and list what I can do."""
    request = request.strip()
    quoted = f" (\u201c{request}\u201d)" if 0 < len(request) <= 80 else ""
    return f"Sorry, I can't do that{quoted}: I don't have a tool for it. " + CAPABILITIES


def ask_for_file(tool: str, kind: str) -> str:
    what = {"audio": "an audio file or voice message", "image": "a picture", "video": "a video"}.get(kind, "a file")
    return (
        f"To {TOOL_PHRASES.get(tool, tool)} I need {what}, and I don't see one in this conversation yet. "
        "Please attach it and I'll get started."
    )


def ask_for_arg(tool: str, arg: str) -> str:
    questions = {
        ("text_to_speech", "text"): "What text should I read aloud?",
        ("style_transfer", "text"): "What should I say in that voice?",
        ("singing_synthesis", "lyrics"): "What lyrics should I sing?",
        ("sound_extraction", "query"): "Which sound should I extract (for example 'the dog barking')?",
        ("target_sound_detection", "query"): "Which sound should I look for (for example 'a door slam')?",
        ("text_to_audio", "text"): "What sound should I generate?",
        ("text_to_music", "text"): "What kind of music should I compose?",
        ("speech_translation", "target_language"): "Which language should I translate it into?",
    }
    return questions.get((tool, arg), f"I need a bit more detail to {TOOL_PHRASES.get(tool, tool)}: what {arg}?")


def clarify(options: list[str]) -> str:
    """A question naming each option; the tool name in brackets lets the next turn resolve 'the first'."""
    parts = [f"{TOOL_PHRASES.get(t, t)} ({t})" for t in options]
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
    return "I'm not sure what you'd like me to do. " + CAPABILITIES


LANGUAGE_NOTE = (
    "I chat in English. For audio in other languages: I can transcribe speech (speech_recognition) and "
    "translate what is said in a recording into another language such as Spanish, French, German, Italian, "
    "Portuguese, Chinese or Japanese (speech_translation, optionally read aloud), and read a text aloud "
    "(text_to_speech; English sounds best, other languages depend on the installed voice)."
)


def capability_answer(tool: str | None, needs_file: bool, languages: list[str] | None, unsupported_ask: bool) -> str:
    """Answer 'can you ...?' in words: yes with how to ask, or no; the language note when it is about languages
    (``languages``: the ones named, [] for languages in general, None when not about languages)."""
    if languages is not None:
        head = f"About {', '.join(languages)}: " if languages else ""
        return head + LANGUAGE_NOTE + " Send me a recording (or the text to read) and tell me what to do with it."
    if unsupported_ask:
        return "No, sorry, I don't have a tool for that. " + CAPABILITIES
    if tool:
        how = (
            "Attach the file and tell me what you'd like."
            if needs_file
            else "Just tell me what you'd like, in as much detail as you want."
        )
        return f"Yes, I can {TOOL_PHRASES.get(tool, tool)} ({tool}). {how}"
    return CAPABILITIES


def text_translation_reply(language: str | None) -> str:
    into = f" into {language}" if language else ""
    return (
        f"I can't translate typed text{into}: my translation tool (speech_translation) works on speech "
        f"recordings. Send me a voice message or audio file and I'll translate what is said{into} (and can read "
        "the translation aloud). I can also read your text aloud as it is (text_to_speech)."
    )
