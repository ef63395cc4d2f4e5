"""Artifacts: every file the bot receives or produces, stored once, named by a short id.

The LLM only ever sees ids such as ``a3``. :meth:`ArtifactService.resolve`
is the one door from an id to a file: it accepts nothing but ``a<digits>`` of
the caller's own conversation, so neither another conversation's id nor a path
such as ``../../etc/passwd`` can reach a tool.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from audiogpt.core.events import ArtifactOut
from audiogpt.core.media import (
    POINTER_FORMATS,
    MediaError,
    MediaInfo,
    check_limits,
    probe_bytes,
    sniff,
)
from audiogpt.storage.blobs import LocalBlobStore, sha256_hex
from audiogpt.storage.repos import Repository
from audiogpt.storage.schema import Artifact

log = logging.getLogger(__name__)

_ID_RE = re.compile(r"^a[1-9][0-9]{0,8}$")

EXT_BY_MIME = {
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/ogg": "ogg", "audio/opus": "ogg",
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/flac": "flac", "audio/x-flac": "flac", "audio/mp4": "m4a",
    "audio/x-m4a": "m4a", "audio/aac": "aac", "audio/webm": "webm", "video/webm": "webm", "video/mp4": "mp4",
    "video/quicktime": "mov", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
    "text/plain": "txt", "application/json": "json", "application/x-subrip": "srt", "text/vtt": "vtt",
    "text/x-rttm": "rttm",
}


class ArtifactError(ValueError):
    """A reference the user or LLM gave cannot be used; ``str()`` is one sentence."""


@dataclass(frozen=True)
class ResolvedArtifact:
    row: Artifact
    path: Path


def ext_for(mime: str, name: str = "") -> str:
    if mime in EXT_BY_MIME:
        return EXT_BY_MIME[mime]
    suffix = Path(name).suffix.lstrip(".").lower()
    if suffix:
        return suffix
    guess = mimetypes.guess_extension(mime or "") or ".bin"
    return guess.lstrip(".")


def safe_name(name: str, default: str = "file") -> str:
    """A display name without directories or control characters."""
    base = Path(name.replace("\\", "/")).name if name else ""
    base = re.sub(r"[^\w.\- ()\[\]]+", "_", base).strip(" .")
    return base[:120] or default


class ArtifactService:
    def __init__(self, repo: Repository, store: LocalBlobStore, *, max_bytes: int, max_seconds: float) -> None:
        self.repo = repo
        self.store = store
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds

    async def ingest(self, conversation_id: int, data: bytes, *, name: str, mime: str | None = None,
                     source: str = "user", turn_id: int | None = None, parent: str | None = None,
                     check: bool = True, duration: float | None = None) -> Artifact:
        """Store ``data`` and register it in the conversation. User files are probed and limit-checked."""
        if check and len(data) > self.max_bytes:
            raise ArtifactError(
                f"'{safe_name(name)}' is {len(data) / 1e6:.1f} MB; the limit is {self.max_bytes / 1e6:.0f} MB."
            )
        if not data:
            raise ArtifactError(f"'{safe_name(name)}' is empty.")
        kind, sniffed_mime = sniff(data, name, mime)
        mime = sniffed_mime or mime or "application/octet-stream"
        digest = sha256_hex(data)
        ext = ext_for(mime, name)
        # probed and limit-checked before anything is stored: a refused upload leaves no blob behind
        # (playlists and manifests too, so that they are refused with their own sentence, not kept as 'other')
        if (kind in ("audio", "video", "image") or mime in POINTER_FORMATS) and duration is None:
            try:
                info: MediaInfo | None = await asyncio.to_thread(probe_bytes, data, name)
            except MediaError as exc:
                if check:
                    log.info("rejecting %s (%s): %s", name, mime, exc)
                    raise ArtifactError(_about(name, str(exc))) from exc
                log.warning("could not probe generated file %s: %s", name, exc)
                info = None
            if info is None:
                pass
            elif check:
                try:
                    check_limits(info, max_bytes=self.max_bytes, max_seconds=self.max_seconds)
                except MediaError as exc:
                    raise ArtifactError(_about(name, str(exc))) from exc
            if info is not None:
                duration = info.duration
                kind = info.kind if info.kind in ("audio", "video") else kind
                mime = info.mime or mime
        _, key = await asyncio.to_thread(self.store.put, data, ext)
        row, _created = await self.repo.add_artifact(
            conversation_id, sha256=digest, blob=key, kind=kind, mime=mime, name=safe_name(name, f"file.{ext}"),
            size=len(data), duration=duration, source=source, parent=parent, turn_id=turn_id,
        )
        return row

    async def resolve(self, conversation_id: int, ref: object, *, kind: str | None = None) -> ResolvedArtifact:
        """The artifact ``ref`` names in this conversation, or :class:`ArtifactError`."""
        if not isinstance(ref, str):
            raise ArtifactError("An artifact must be named by its id, such as a1.")
        ref = ref.strip()
        if not _ID_RE.match(ref):
            shown = ref if len(ref) <= 40 else ref[:37] + "..."
            raise ArtifactError(f"'{shown}' is not an artifact id; files are named by ids such as a1, a2.")
        row = await self.repo.find_artifact(conversation_id, ref)
        if row is None:
            raise ArtifactError(f"There is no artifact {ref} in this conversation.")
        if kind and row.kind != kind and not (kind == "audio" and row.kind == "video"):
            raise ArtifactError(f"{ref} is {_article(row.kind)} {row.kind} file, not {_article(kind)} {kind} file.")
        path = self.store.path(row.blob)
        if not path.exists():
            raise ArtifactError(f"The file behind {ref} is missing from storage.")
        return ResolvedArtifact(row, path)

    async def read(self, conversation_id: int, ref: str) -> bytes:
        res = await self.resolve(conversation_id, ref)
        return await asyncio.to_thread(res.path.read_bytes)

    def to_out(self, row: Artifact) -> ArtifactOut:
        return ArtifactOut(id=row.short_id, path=str(self.store.path(row.blob)), mime=row.mime, kind=row.kind,
                           name=row.name, duration=row.duration, size=row.size)


def _about(name: str, sentence: str) -> str:
    """Name the file in a media error sentence, so a user who sent several knows which one."""
    shown = safe_name(name)
    if shown in sentence:
        return sentence
    return f"'{shown}': {sentence[:1].lower()}{sentence[1:]}"


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"
