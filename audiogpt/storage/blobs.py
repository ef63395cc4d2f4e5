"""Content-addressed blob store on local disk.

A file is stored once under its SHA-256 (``ab/abcdef….wav``); keys are never
built from user input, so a crafted name cannot escape the store. An
S3-compatible store implements the same three methods for multi-machine setups.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_EXT_RE = re.compile(r"^[a-z0-9]{1,8}$")
KEY_RE = re.compile(r"^([0-9a-f]{2})/(\1[0-9a-f]{62})\.([a-z0-9]{1,8})$")
TMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class BlobEntry:
    """One stored object as the orphan sweep sees it: its key, size and last write (epoch seconds)."""

    key: str
    size: int
    mtime: float


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def content_key(digest: str, ext: str) -> str:
    """The key of a blob in every store: ``ab/abcdef….ext``, so stores can be swapped or mirrored."""
    ext = ext.lower().lstrip(".")
    if not _EXT_RE.match(ext):
        ext = "bin"
    return f"{digest[:2]}/{digest}.{ext}"


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def key_for(self, digest: str, ext: str) -> str:
        return content_key(digest, ext)

    def put(self, data: bytes, ext: str) -> tuple[str, str]:
        """Store ``data`` once; return ``(sha256, key)``. Writes atomically."""
        digest = sha256_hex(data)
        key = self.key_for(digest, ext)
        path = self.path(key)
        if path.exists():
            # Stored before: mark it as just written, so the orphan sweep's grace period covers
            # the artifact row that is about to name it (the sweep deletes only old, unnamed blobs).
            with contextlib.suppress(FileNotFoundError):  # swept this instant: written again below
                os.utime(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return digest, key

    def path(self, key: str) -> Path:
        """Absolute path of a key; refuses keys that would leave the store."""
        p = (self.root / key).resolve()
        if not p.is_relative_to(self.root):
            raise ValueError("blob key outside the store")
        return p

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    # --- for the orphan sweep (audiogpt.storage.blobstore.sweep_orphan_blobs) -----------

    def list_blobs(self) -> Iterator[BlobEntry]:
        """Every blob (``ab/abcdef….ext``) and every temporary file a crashed write left behind.

        A temporary file is listed under its own relative path (``ab/.tmp-xyz``); no artifact
        row can name one, so once it is older than the grace period the sweep removes it.
        """
        for sub in sorted(self.root.iterdir()):
            if not sub.is_dir() or len(sub.name) != 2 or sub.is_symlink():
                continue
            for f in sub.iterdir():
                key = f"{sub.name}/{f.name}"
                if not (KEY_RE.match(key) or f.name.startswith(TMP_PREFIX)):
                    continue
                try:
                    st = f.lstat()
                except FileNotFoundError:
                    continue
                if f.is_file() and not f.is_symlink():
                    yield BlobEntry(key, st.st_size, st.st_mtime)

    def stat(self, key: str) -> BlobEntry | None:
        """The blob's entry now (``None`` when it is gone): the sweep looks again just before deleting."""
        try:
            st = self.path(key).stat()
        except FileNotFoundError:
            return None
        return BlobEntry(key, st.st_size, st.st_mtime)

    def delete(self, key: str) -> bool:
        """Remove one blob (or left-over temporary file); ``False`` when it was already gone."""
        name = key.rsplit("/", 1)[-1]
        if not (KEY_RE.match(key) or name.startswith(TMP_PREFIX)):
            raise ValueError("blob key outside the store")
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            return False
        return True

