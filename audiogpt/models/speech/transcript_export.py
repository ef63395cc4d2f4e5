"""Speaker-labelled transcripts written as files people and tools open: SRT, WebVTT, JSON, text, RTTM.

Why here and not in core: a diarization backend returns its turns as JSON and RTTM
itself, and a recognition backend that knows who spoke each line can return
subtitles the same way; core only stores the bytes. Every writer has a reader
(``parse_*``) so a test can check that what was written reads back the same, and
the readers are lenient in the ways real players are (CRLF, a missing trailing
blank line, an hour field left out in VTT).

Times are seconds (floats). SRT and VTT need text: a cue with no text is written
as its speaker's name, so a "who spoke when" file still opens as subtitles.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from audiogpt.models.base import OutputFile


@dataclass(frozen=True)
class Cue:
    """One line of a transcript: who, from when to when, what (may be empty), and whether others talk too."""

    speaker: str
    start: float
    end: float
    text: str = ""
    overlap: bool = False

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"speaker": self.speaker, "start": round(self.start, 3), "end": round(self.end, 3)}
        if self.text:
            d["text"] = self.text
        d["overlap"] = self.overlap
        return d


def cues_from(items: Iterable[Any]) -> list[Cue]:
    """Cues from dicts (``speaker``, ``start``, ``end``, optional ``text``/``overlap``) or objects with those fields."""
    out = []
    for it in items:
        get = it.get if isinstance(it, dict) else lambda k, d=None, it=it: getattr(it, k, d)
        start, end = float(get("start")), float(get("end"))
        if end < start:
            raise ValueError(f"A transcript line ends ({end}) before it starts ({start}).")
        out.append(Cue(str(get("speaker", "") or ""), start, end, str(get("text", "") or "").strip(),
                       bool(get("overlap", False))))
    return sorted(out, key=lambda c: (c.start, c.end))


def _clock(t: float, sep: str) -> str:
    ms = round(max(0.0, t) * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _line(c: Cue) -> str:
    return c.text if c.text else f"({c.speaker})" if not c.speaker else c.speaker


def to_srt(cues: Iterable[Cue]) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, text prefixed ``Speaker: ``."""
    blocks = []
    for i, c in enumerate(cues, 1):
        text = f"{c.speaker}: {c.text}" if c.text and c.speaker else _line(c)
        blocks.append(f"{i}\n{_clock(c.start, ',')} --> {_clock(c.end, ',')}\n{_escape_srt(text)}\n")
    return "\n".join(blocks)


def _escape_srt(text: str) -> str:
    # a blank line would end the cue early; "-->" inside text confuses parsers
    return re.sub(r"\n\s*\n", "\n", text).replace("-->", "->")


def to_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT with voice spans (``<v Speaker 1>text``), which players show as the speaker's name."""
    parts = ["WEBVTT", ""]
    for i, c in enumerate(cues, 1):
        body = (c.text or c.speaker).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = re.sub(r"\n\s*\n", "\n", body)
        voice = c.speaker.replace(">", "").replace("<", "")
        parts += [str(i), f"{_clock(c.start, '.')} --> {_clock(c.end, '.')}",
                  f"<v {voice}>{body}" if voice else body, ""]
    return "\n".join(parts)


def to_json(cues: Iterable[Cue], extra: dict[str, Any] | None = None) -> str:
    """``{"segments": [...], "speakers": [...]}`` plus ``extra`` (e.g. the backend name)."""
    cl = list(cues)
    speakers: list[str] = []
    for c in cl:
        if c.speaker not in speakers:
            speakers.append(c.speaker)
    return json.dumps({**(extra or {}), "speakers": speakers, "segments": [c.as_dict() for c in cl]},
                      ensure_ascii=False, indent=1)


def to_txt(cues: Iterable[Cue]) -> str:
    """A readable transcript: ``[0:01.2 - 0:04.0] Speaker 1: text``, consecutive lines of one speaker kept apart."""
    lines = []
    for c in cues:
        lines.append(f"[{_short(c.start)} - {_short(c.end)}] {c.speaker}: {c.text}".rstrip(": ").rstrip())
    return "\n".join(lines) + ("\n" if lines else "")


def _short(t: float) -> str:
    m, s = divmod(max(0.0, t), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def to_rttm(cues: Iterable[Cue], file_id: str = "audio") -> str:
    """NIST RTTM ``SPEAKER`` lines (what dscore and pyannote.metrics read); spaces in names become ``_``."""
    return "".join(f"SPEAKER {file_id} 1 {c.start:.3f} {c.end - c.start:.3f} <NA> <NA> "
                   f"{c.speaker.replace(' ', '_') or 'unknown'} <NA> <NA>\n" for c in cues)


# --- readers (tests, and re-reading an uploaded subtitle file) ---------------------------------

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{3})"
_CUE_TIME = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")


def _secs(h: str | None, m: str, s: str, ms: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[Cue]:
    """Cues of an SRT file; ``Speaker: text`` lines are split back into speaker and text."""
    out = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip()):
        lines = block.split("\n")
        k = next((i for i, line in enumerate(lines) if _CUE_TIME.match(line)), None)
        if k is None:
            continue
        g = _CUE_TIME.match(lines[k]).groups()  # type: ignore[union-attr]
        body = "\n".join(lines[k + 1 :]).strip()
        speaker, said = "", body
        m = re.match(r"^([^:\n]{1,40}):\s(.*)$", body, re.S)
        if m:
            speaker, said = m.group(1), m.group(2)
        elif body and "\n" not in body:
            speaker, said = body, ""
        out.append(Cue(speaker, _secs(*g[:4]), _secs(*g[4:]), said))
    return out


def parse_vtt(text: str) -> list[Cue]:
    """Cues of a WebVTT file (voice spans give the speaker); raises ValueError without the header."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    if not text.startswith("WEBVTT"):
        raise ValueError("Not a WebVTT file: it must start with 'WEBVTT'.")
    out = []
    for block in re.split(r"\n\s*\n", text.strip())[1:]:
        lines = block.split("\n")
        k = next((i for i, line in enumerate(lines) if _CUE_TIME.match(line)), None)
        if k is None:
            continue
        g = _CUE_TIME.match(lines[k]).groups()  # type: ignore[union-attr]
        body = "\n".join(lines[k + 1 :])
        m = re.match(r"^<v(?:\.[\w.]+)?\s+([^>]*)>(.*)$", body, re.S)
        speaker, said = (m.group(1).strip(), m.group(2)) if m else ("", body)
        said = re.sub(r"</v>$", "", said).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        out.append(Cue(speaker, _secs(*g[:4]), _secs(*g[4:]), "" if said == speaker else said))
    return out


def parse_json(text: str) -> list[Cue]:
    return cues_from(json.loads(text)["segments"])


def parse_rttm(text: str) -> list[Cue]:
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            start, dur = float(f[3]), float(f[4])
            out.append(Cue(f[7].replace("_", " "), start, start + dur))
    return out


def export_files(items: Iterable[Any], *, stem: str = "transcript", extra: dict[str, Any] | None = None
                 ) -> list[OutputFile]:
    """The files for a speaker-labelled transcript: JSON always; SRT, VTT and text when any line has text."""
    cues = cues_from(items)
    files = [OutputFile(name=stem, data=to_json(cues, extra).encode(), mime="application/json",
                        description="Speaker turns as JSON.")]
    if any(c.text for c in cues):
        files += [
            OutputFile(name=stem, data=to_srt(cues).encode(), mime="application/x-subrip",
                       description="Subtitles with speaker names (SRT)."),
            OutputFile(name=stem, data=to_vtt(cues).encode(), mime="text/vtt",
                       description="Subtitles with speaker voices (WebVTT)."),
            OutputFile(name=stem, data=to_txt(cues).encode(), mime="text/plain",
                       description="The transcript as text, one line per turn."),
        ]
    return files
