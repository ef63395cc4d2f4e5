"""The artifact store contract, run on the disk store and on S3 (a local moto S3 server, real HTTP).

Every test here runs against both stores: content hash keys, stored once, keys that
cannot leave the store, per-conversation short ids, scoping of ids to their
conversation, and a missing blob reported in one sentence. The S3 store adds a
second machine (another cache folder) reading what the first one wrote.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiogpt.core.artifacts import ArtifactError, ArtifactService
from audiogpt.storage.blobs import LocalBlobStore, sha256_hex
from audiogpt.storage.blobs_s3 import BlobStoreError, S3BlobStore, parse_s3_url
from audiogpt.storage.blobstore import BlobStore, open_blob_store
from audiogpt.storage.db import Database
from audiogpt.storage.repos import Repository
from tests.helpers import tone_wav

_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP server (moto's server mode) on loopback, for this module."""
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(_AWS_ENV)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(params=["disk", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "disk":
        return open_blob_store(None, local_root=tmp_path / "artifacts", cache_dir=tmp_path / "cache")
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"b-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    return open_blob_store(f"s3://{bucket}/team/artifacts", local_root=tmp_path / "unused",
                           cache_dir=tmp_path / "cache", endpoint_url=endpoint, create_bucket=True)


def test_put_is_content_addressed_and_stored_once(store: BlobStore) -> None:
    data = b"RIFF-not-really-a-wav" * 100
    digest, key = store.put(data, "WAV")
    assert digest == sha256_hex(data)
    assert key == f"{digest[:2]}/{digest}.wav"
    assert store.put(data, "wav") == (digest, key)
    assert store.get(key) == data
    assert store.path(key).read_bytes() == data
    # an extension that is not a plain short word is not trusted
    assert store.put(b"x", "../../etc")[1].endswith(".bin")


def test_keys_cannot_leave_the_store(store: BlobStore) -> None:
    for bad in ("../../etc/passwd", "/etc/passwd", "ab/../../x"):
        with pytest.raises(ValueError):
            store.path(bad)


def test_missing_blob_is_a_path_that_does_not_exist(store: BlobStore) -> None:
    digest = sha256_hex(b"never stored")
    path = store.path(store.key_for(digest, "wav"))
    assert not path.exists()
    with pytest.raises(FileNotFoundError):
        store.get(store.key_for(digest, "wav"))


@pytest.fixture
async def service(store: BlobStore, tmp_path: Path):  # type: ignore[no-untyped-def]
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    await db.connect(retries=1)
    yield ArtifactService(Repository(db), store, max_bytes=10_000_000, max_seconds=60)  # type: ignore[arg-type]
    await db.close()


async def test_artifact_ids_and_scoping_on_the_store(service: ArtifactService) -> None:
    repo = service.repo
    c1 = await repo.get_or_create_conversation("k1", "test")
    c2 = await repo.get_or_create_conversation("k2", "test")
    wav = tone_wav(seconds=0.5)
    a1 = await service.ingest(c1.id, wav, name="tone.wav", mime="audio/wav")
    again = await service.ingest(c1.id, wav, name="same.wav", mime="audio/wav")
    other = await service.ingest(c1.id, tone_wav(seconds=0.7), name="b.wav", mime="audio/wav")
    in_c2 = await service.ingest(c2.id, wav, name="tone.wav", mime="audio/wav")
    assert (a1.short_id, again.short_id, other.short_id, in_c2.short_id) == ("a1", "a1", "a2", "a1")
    assert a1.sha256 == sha256_hex(wav) and a1.kind == "audio" and abs((a1.duration or 0) - 0.5) < 0.05
    assert await service.read(c1.id, "a1") == wav
    assert await service.read(c2.id, "a1") == wav
    # a2 exists only in the first conversation
    with pytest.raises(ArtifactError, match="There is no artifact a2 in this conversation"):
        await service.resolve(c2.id, "a2")
    with pytest.raises(ArtifactError, match="not an artifact id"):
        await service.resolve(c1.id, "../a1")


async def test_missing_blob_is_one_sentence(service: ArtifactService, tmp_path: Path) -> None:
    conv = await service.repo.get_or_create_conversation("k", "test")
    await service.repo.add_artifact(conv.id, sha256="f" * 64, blob=f"ff/{'f' * 64}.wav", kind="audio",
                                    mime="audio/wav", name="gone.wav", size=1, duration=None, source="user",
                                    parent=None, turn_id=None)
    with pytest.raises(ArtifactError, match=r"^The file behind a1 is missing from storage\.$"):
        await service.resolve(conv.id, "a1")


def test_a_second_machine_reads_what_the_first_wrote(s3_endpoint: str, tmp_path: Path) -> None:
    """Two caches (two machines) on one bucket: the worker never sees the bot's local paths."""
    bot = S3BlobStore("shared", "p", cache_dir=tmp_path / "bot", endpoint_url=s3_endpoint, create_bucket=True)
    worker = S3BlobStore("shared", "p", cache_dir=tmp_path / "worker", endpoint_url=s3_endpoint)
    data = tone_wav(seconds=0.3)
    _, key = bot.put(data, "wav")
    assert not (tmp_path / "worker" / key).exists()
    assert worker.get(key) == data
    assert worker.path(key).is_relative_to(tmp_path / "worker")
    # objects live under the prefix in the bucket
    listed = bot.client.list_objects_v2(Bucket="shared")["Contents"]
    assert [o["Key"] for o in listed] == [f"p/{key}"]
    # a store pickles (Ray ships it to replicas) and rebuilds its own client
    import pickle

    clone = pickle.loads(pickle.dumps(worker))
    assert clone.get(key) == data


def test_corrupt_object_is_refused(s3_endpoint: str, tmp_path: Path) -> None:
    store = S3BlobStore("corrupt", "", cache_dir=tmp_path / "c", endpoint_url=s3_endpoint, create_bucket=True)
    digest = sha256_hex(b"good")
    key = store.key_for(digest, "bin")
    store.client.put_object(Bucket="corrupt", Key=key, Body=b"evil")
    with pytest.raises(BlobStoreError, match="does not match its content hash"):
        store.path(key)


def test_store_urls() -> None:
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b/")
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    with pytest.raises(BlobStoreError):
        parse_s3_url("http://x/y")
    with pytest.raises(ValueError, match="neither"):
        open_blob_store("ftp://x", local_root=Path("/tmp/x"), cache_dir=Path("/tmp/y"))
    assert isinstance(open_blob_store(None, local_root=Path("/tmp/agpt-x"), cache_dir=Path("/tmp/y")), LocalBlobStore)


# --- the orphan sweep: blobs no artifact row names, once older than the grace period -------------


async def test_sweep_deletes_only_old_blobs_without_a_row(service: ArtifactService, tmp_path: Path) -> None:
    import time

    from audiogpt.storage.blobstore import BlobSweeper, sweep_orphan_blobs

    store, db = service.store, service.repo.db
    conv = await service.repo.get_or_create_conversation("k", "test")
    kept = await service.ingest(conv.id, tone_wav(seconds=0.5), name="tone.wav", mime="audio/wav")
    _, orphan = store.put(b"bytes whose row was never written", "wav")
    grace = 3600.0
    # young: nothing goes, whatever it is named by
    report = await sweep_orphan_blobs(store, db, grace_seconds=grace)  # type: ignore[arg-type]
    assert report.scanned == 2 and report.young == 2 and report.deleted == []
    later = time.time() + grace + 60
    dry = await sweep_orphan_blobs(store, db, grace_seconds=grace, now=later, dry_run=True)  # type: ignore[arg-type]
    assert dry.deleted == [orphan] and store.stat(orphan) is not None  # type: ignore[attr-defined]
    report = await sweep_orphan_blobs(store, db, grace_seconds=grace, now=later)  # type: ignore[arg-type]
    assert report.deleted == [orphan] and report.referenced == 1 and report.bytes_freed > 0
    assert store.stat(orphan) is None and not store.path(orphan).exists()  # type: ignore[attr-defined]
    assert await service.read(conv.id, kept.short_id) == tone_wav(seconds=0.5)  # the named blob stays
    again = await sweep_orphan_blobs(store, db, grace_seconds=grace, now=later)  # type: ignore[arg-type]
    assert again.deleted == [] and again.scanned == 1
    # the recovery sweep's wrapper runs at most once per interval
    store.put(b"another orphan", "bin")
    sweeper = BlobSweeper(store, db, every=3600, grace_seconds=0.0)  # type: ignore[arg-type]
    first = await sweeper.maybe_run()
    assert first is not None and len(first.deleted) == 1
    store.put(b"a third orphan", "bin")
    assert await sweeper.maybe_run() is None  # within the interval: not run


async def test_sweep_keeps_a_blob_stored_again_and_removes_torn_writes(tmp_path: Path) -> None:
    """Disk store: re-storing old content renews it (its row is on the way); crashed writes' temp files go."""
    import os
    import time

    from audiogpt.storage.blobstore import sweep_orphan_blobs

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    await db.connect(retries=1)
    try:
        store = LocalBlobStore(tmp_path / "artifacts")
        _, key = store.put(b"old content", "wav")
        old = time.time() - 7200
        os.utime(store.path(key), (old, old))
        torn = store.root / key[:2] / ".tmp-crashed"
        torn.write_bytes(b"half a file")
        os.utime(torn, (old, old))
        store.put(b"old content", "wav")  # deduplicated: the same key, its mtime renewed
        report = await sweep_orphan_blobs(store, db, grace_seconds=3600)
        assert report.deleted == [f"{key[:2]}/.tmp-crashed"] and store.path(key).exists() and not torn.exists()
        os.utime(store.path(key), (old, old))
        report = await sweep_orphan_blobs(store, db, grace_seconds=3600)
        assert report.deleted == [key]
        with pytest.raises(ValueError):
            store.delete("../../etc/passwd")
    finally:
        await db.close()
