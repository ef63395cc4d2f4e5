"""Content-addressed blob store on local disk.

A file is stored once under its SHA-256 (``ab/abcdef….wav``); keys are never
built from user input, so a crafted name cannot escape the store. An
S3-compatible store implements the same three methods for multi-machine setups.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

_EXT_RE = re.compile(r"^[a-z0-9]{1,8}$")


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
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
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
