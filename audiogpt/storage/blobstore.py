"""Choosing the artifact blob store by URL: local disk (default) or S3-compatible storage.

``ARTIFACT_STORE_URL`` unset or ``file:///path`` -> :class:`LocalBlobStore`;
``s3://bucket/prefix`` -> :class:`S3BlobStore` (``S3_ENDPOINT_URL`` for MinIO and
friends). Both keep the same three-method contract, so nothing above storage knows
which one it got.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from audiogpt.storage.blobs import LocalBlobStore


class BlobStore(Protocol):
    def key_for(self, digest: str, ext: str) -> str: ...

    def put(self, data: bytes, ext: str) -> tuple[str, str]:
        """Store ``data`` once under its SHA-256; return ``(sha256, key)``."""
        ...

    def get(self, key: str) -> bytes: ...

    def path(self, key: str) -> Path:
        """A local file holding ``key`` (missing file = missing blob); refuses keys outside the store."""
        ...


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
