"""Content-addressed blob store in S3-compatible object storage (AWS S3, MinIO, Ceph, R2...).

Needed once model workers run on other machines than the bot: they read inputs and
write outputs through the store, never through the bot's local paths. The contract
is the disk store's (:class:`audiogpt.storage.blobs.LocalBlobStore`): ``put`` stores
bytes once under their SHA-256 and returns ``(sha256, key)``, ``get`` returns the
bytes, ``path`` gives a local file (decoders such as ffmpeg want one). Here the
local file is a per-machine read-through cache that can be deleted at any time;
the bucket is the truth. Keys are only ever the ``ab/abcdef….ext`` form ``put``
makes, so a crafted key cannot reach another object of the bucket.

Credentials come from the standard AWS environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, instance roles...) through boto3;
``endpoint_url`` points at MinIO and friends.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from audiogpt.storage.blobs import KEY_RE, BlobEntry, content_key, sha256_hex

log = logging.getLogger(__name__)

_KEY_RE = KEY_RE
# An object stored again (same content) whose last write is older than this is copied onto
# itself, which renews its LastModified: the orphan sweep then sees it as young while the
# artifact row that names it is being written. Younger objects are left alone (no extra request).
REFRESH_AFTER_S = 3600.0


class BlobStoreError(RuntimeError):
    """The object store could not be used; ``str()`` is one sentence for the operator."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix/")`` (prefix may be empty)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise BlobStoreError(f"'{url}' is not an s3://bucket/prefix URL.")
    prefix = parsed.path.strip("/")
    return parsed.netloc, (prefix + "/") if prefix else ""


class S3BlobStore:
    """The disk store's contract on an S3 bucket, with a local read-through cache."""

    def __init__(self, bucket: str, prefix: str = "", *, cache_dir: Path, endpoint_url: str | None = None,
                 region: str | None = None, client: Any = None, create_bucket: bool = False) -> None:
        self.bucket = bucket
        self.prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        self.cache = cache_dir.resolve()
        self.cache.mkdir(parents=True, exist_ok=True)
        self.endpoint_url = endpoint_url
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region or os.environ.get("AWS_REGION"),
                                  config=Config(retries={"max_attempts": 5, "mode": "standard"},
                                                s3={"addressing_style": "path"} if endpoint_url else {}))
        self.client = client
        if create_bucket:
            self.ensure_bucket()

    @classmethod
    def from_url(cls, url: str, *, cache_dir: Path, endpoint_url: str | None = None, region: str | None = None,
                 create_bucket: bool = False) -> S3BlobStore:
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, cache_dir=cache_dir, endpoint_url=endpoint_url, region=region,
                   create_bucket=create_bucket)

    def __reduce__(self) -> tuple[Any, ...]:
        # boto3 clients do not pickle; a store sent to a Ray worker rebuilds its own client there
        return (_rebuild, (self.bucket, self.prefix, str(self.cache), self.endpoint_url))

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            try:
                self.client.create_bucket(Bucket=self.bucket)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise BlobStoreError(f"The bucket {self.bucket} does not exist and could not be created ({code}).") from exc

    # --- the store contract ------------------------------------------------------------

    def key_for(self, digest: str, ext: str) -> str:
        return content_key(digest, ext)

    def put(self, data: bytes, ext: str) -> tuple[str, str]:
        """Store ``data`` once; return ``(sha256, key)``. An object already there is not uploaded again."""
        digest = sha256_hex(data)
        key = self.key_for(digest, ext)
        head = self._head(key)
        if head is None:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        elif time.time() - head["LastModified"].timestamp() > REFRESH_AFTER_S:
            self._refresh(key)
        self._write_cache(key, data)
        return digest, key

    def get(self, key: str) -> bytes:
        path = self.path(key)
        if not path.exists():
            raise FileNotFoundError(f"blob {key} is not in {self.url}")
        return path.read_bytes()

    def path(self, key: str) -> Path:
        """A local copy of ``key`` (downloaded once per machine). A missing object gives a path that
        does not exist, as the disk store does; a key not made by ``put`` is refused."""
        if not _KEY_RE.match(key):
            raise ValueError("blob key outside the store")
        local = self.cache / key
        if local.exists():
            return local
        data = self._download(key)
        if data is not None:
            self._write_cache(key, data)
        return local

    def exists(self, key: str) -> bool:
        if not _KEY_RE.match(key):
            raise ValueError("blob key outside the store")
        return self._exists(key)

    # --- for the orphan sweep (audiogpt.storage.blobstore.sweep_orphan_blobs) -----------

    def list_blobs(self) -> Iterator[BlobEntry]:
        """Every object under the prefix that has the ``ab/abcdef….ext`` form, one page at a time."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"][len(self.prefix):]
                if _KEY_RE.match(key):
                    yield BlobEntry(key, int(obj.get("Size", 0)), obj["LastModified"].timestamp())

    def stat(self, key: str) -> BlobEntry | None:
        head = self._head(key)
        if head is None:
            return None
        return BlobEntry(key, int(head.get("ContentLength", 0)), head["LastModified"].timestamp())

    def delete(self, key: str) -> bool:
        """Delete the object and this machine's cached copy (other machines' copies are only a cache)."""
        if not _KEY_RE.match(key):
            raise ValueError("blob key outside the store")
        existed = self._head(key) is not None
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + key)
        (self.cache / key).unlink(missing_ok=True)
        return existed

    # --- internals ---------------------------------------------------------------------

    def _exists(self, key: str) -> bool:
        return self._head(key) is not None

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            return head
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _refresh(self, key: str) -> None:
        """Renew the object's LastModified with a server-side copy onto itself (no bytes travel)."""
        from botocore.exceptions import ClientError

        try:
            self.client.copy_object(Bucket=self.bucket, Key=self.prefix + key, MetadataDirective="REPLACE",
                                    CopySource={"Bucket": self.bucket, "Key": self.prefix + key})
        except ClientError as exc:  # a missed refresh only narrows the sweep's grace; never fail a put for it
            log.warning("could not refresh %s in %s: %s", key, self.url, exc)

    def _download(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        data: bytes = obj["Body"].read()
        m = _KEY_RE.match(key)
        if m and sha256_hex(data) != m.group(2):
            # content addressing makes corruption detectable: never hand a model the wrong bytes
            raise BlobStoreError(f"The object {key} in {self.url} does not match its content hash.")
        return data

    def _write_cache(self, key: str, data: bytes) -> None:
        local = self.cache / key
        if local.exists():
            return
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, local)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _rebuild(bucket: str, prefix: str, cache: str, endpoint_url: str | None) -> S3BlobStore:
    return S3BlobStore(bucket, prefix, cache_dir=Path(cache), endpoint_url=endpoint_url)
