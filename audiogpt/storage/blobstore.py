"""Choosing the artifact blob store by URL: local disk (default) or S3-compatible storage.

``ARTIFACT_STORE_URL`` unset or ``file:///path`` -> :class:`LocalBlobStore`;
``s3://bucket/prefix`` -> :class:`S3BlobStore` (``S3_ENDPOINT_URL`` for MinIO and
friends). Both keep the same three-method contract, so nothing above storage knows
which one it got.

:func:`sweep_orphan_blobs` deletes blobs that no artifact row names once they are older
than a grace period: a crash between ``put`` and the row, a refused row, or a deleted
conversation (rows cascade, blobs do not) would otherwise keep bytes forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from audiogpt.storage.blobs import TMP_PREFIX, BlobEntry, LocalBlobStore

if TYPE_CHECKING:
    from audiogpt.storage.db import Database

log = logging.getLogger(__name__)

# Long enough that every writer has named its blob: ingest writes the row right after ``put``;
# a Ray job's outputs wait in the job's result until the bot registers them, which recovery
# does after a restart. A day covers an outage of the bot overnight. Re-storing an old blob
# renews its mtime (LastModified on S3, see REFRESH_AFTER_S), so deduplicated content is young again.
ORPHAN_GRACE_SECONDS = 24 * 3600.0
# Rows are looked up for this many candidate keys per query (bounded memory, bounded IN lists).
_BATCH = 500


class BlobStore(Protocol):
    def key_for(self, digest: str, ext: str) -> str: ...

    def put(self, data: bytes, ext: str) -> tuple[str, str]:
        """Store ``data`` once under its SHA-256; return ``(sha256, key)``."""
        ...

    def get(self, key: str) -> bytes: ...

    def path(self, key: str) -> Path:
        """A local file holding ``key`` (missing file = missing blob); refuses keys outside the store."""
        ...

    def list_blobs(self) -> Iterator[BlobEntry]: ...

    def stat(self, key: str) -> BlobEntry | None: ...

    def delete(self, key: str) -> bool: ...


def open_blob_store(url: str | None, *, local_root: Path, cache_dir: Path, endpoint_url: str | None = None,
                    region: str | None = None, create_bucket: bool = False) -> BlobStore:
    """The store ``url`` names; ``None``/empty = the disk store under ``local_root``."""
    if not url:
        return LocalBlobStore(local_root)
    scheme = urlparse(url).scheme
    if scheme == "file":
        return LocalBlobStore(Path(urlparse(url).path))
    if scheme == "s3":
        from audiogpt.storage.blobs_s3 import S3BlobStore

        return S3BlobStore.from_url(url, cache_dir=cache_dir, endpoint_url=endpoint_url, region=region,
                                    create_bucket=create_bucket)
    raise ValueError(f"ARTIFACT_STORE_URL '{url}' is neither file:///path nor s3://bucket/prefix.")


@dataclass
class SweepReport:
    """What one sweep saw and did; ``deleted`` lists the keys removed (or that would be, in a dry run)."""

    scanned: int = 0
    young: int = 0
    referenced: int = 0
    deleted: list[str] = field(default_factory=list)
    bytes_freed: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (f"blob sweep: {self.scanned} scanned, {self.referenced} named by artifacts, {self.young} too young, "
                f"{len(self.deleted)} orphans deleted ({self.bytes_freed / 1e6:.1f} MB) in {self.seconds:.2f} s")


async def _named(db: Database, keys: list[str]) -> set[str]:
    from sqlalchemy import select

    from audiogpt.storage.schema import Artifact

    async with db.sessions() as s:
        rows = await s.execute(select(Artifact.blob).where(Artifact.blob.in_(keys)).distinct())
        return {str(r[0]) for r in rows}


async def sweep_orphan_blobs(store: BlobStore, db: Database, *, grace_seconds: float = ORPHAN_GRACE_SECONDS,
                             now: float | None = None, dry_run: bool = False) -> SweepReport:
    """Delete the blobs older than ``grace_seconds`` that no artifact row names; report what was done.

    Safe beside live writers: only blobs last written before ``now - grace_seconds`` are
    candidates, rows are read after the listing (a row committed meanwhile still saves its
    blob), and each candidate is looked at again just before it is deleted, so one that was
    stored again in the meantime (``put`` renews its mtime) is kept. Several processes may
    sweep at once; a blob two of them delete is simply gone. Left-over temporary files of
    crashed writes (``.tmp-*``) older than the grace period go too. Blocking store calls run
    in a thread, so the event loop of a bot keeps serving while a large store is swept.
    """
    t0 = time.monotonic()
    cutoff = (time.time() if now is None else now) - grace_seconds
    report = SweepReport()
    entries: list[BlobEntry] = await asyncio.to_thread(lambda: list(store.list_blobs()))
    report.scanned = len(entries)
    old = [e for e in entries if e.mtime < cutoff]
    report.young = report.scanned - len(old)
    for i in range(0, len(old), _BATCH):
        batch = old[i:i + _BATCH]
        named = await _named(db, [e.key for e in batch if TMP_PREFIX not in e.key])
        report.referenced += len(named)
        for e in batch:
            if e.key in named:
                continue
            if dry_run:
                report.deleted.append(e.key)
                report.bytes_freed += e.size
                continue
            again = await asyncio.to_thread(store.stat, e.key)
            if again is None or again.mtime >= cutoff:
                report.young += again is not None  # stored again since the listing: keep it
                continue
            if await asyncio.to_thread(store.delete, e.key):
                report.deleted.append(e.key)
                report.bytes_freed += e.size
    report.seconds = time.monotonic() - t0
    if report.deleted:
        log.info("%s", report.summary())
    return report


class BlobSweeper:
    """Runs :func:`sweep_orphan_blobs` at most once per ``every`` seconds, never two at a time.

    For the recovery sweep, which ticks every few seconds: ``await sweeper.maybe_run()`` there
    costs nothing until the interval has passed. Failures are logged, never raised: a store
    that cannot be listed must not stop recovery of jobs and replies.
    """

    def __init__(self, store: BlobStore, db: Database, *, every: float = 3600.0,
                 grace_seconds: float = ORPHAN_GRACE_SECONDS) -> None:
        self.store = store
        self.db = db
        self.every = every
        self.grace_seconds = grace_seconds
        self._last: float | None = None
        self._lock = asyncio.Lock()
        self.last_report: SweepReport | None = None

    async def maybe_run(self) -> SweepReport | None:
        if self._lock.locked() or (self._last is not None and time.monotonic() - self._last < self.every):
            return None
        async with self._lock:
            self._last = time.monotonic()
            try:
                self.last_report = await sweep_orphan_blobs(self.store, self.db, grace_seconds=self.grace_seconds)
            except Exception as exc:  # logged; the next interval tries again
                log.warning("blob sweep failed: %s", exc)
                return None
            return self.last_report
