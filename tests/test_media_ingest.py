"""Uploads are probed and limit-checked before the blob store sees them: a refused file leaves nothing on disk."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from audiogpt.core import media
from audiogpt.core.artifacts import ArtifactError, ArtifactService
from audiogpt.storage.blobstore import open_blob_store
from audiogpt.storage.db import Database
from audiogpt.storage.repos import Repository
from tests.helpers import tone_wav
from tests.test_media_budgets import png_bomb, small_png


@pytest.fixture
async def service(tmp_path: Path):  # type: ignore[no-untyped-def]
    store = open_blob_store(None, local_root=tmp_path / "artifacts", cache_dir=tmp_path / "cache")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 't.db'}")
    await db.connect(retries=1)
    yield ArtifactService(Repository(db), store, max_bytes=10_000_000, max_seconds=60)  # type: ignore[arg-type]
    await db.close()


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def long_flac(tmp_path: Path) -> bytes:
    path = tmp_path / "long.flac"
    subprocess.run([media.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "120",
                    "-c:a", "flac", str(path)], check=True)
    return path.read_bytes()


async def test_refused_uploads_leave_no_blob(service: ArtifactService, tmp_path: Path) -> None:
    conv = await service.repo.get_or_create_conversation("k", "test")
    root = tmp_path / "artifacts"
    rng = np.random.default_rng(5)
    refused = {
        "list.m3u": (b"#EXTM3U\n#EXTINF:1,\n/srv/other/a.mp3\n\0", "M3U playlist"),
        "song.mp3": (b"ID3\x04\0\0\0\0\0\0" + rng.integers(0, 256, 500_000, dtype=np.uint8).tobytes(), "damaged"),
        "meeting.flac": (long_flac(tmp_path), "2 min long; the limit is 1 min"),
        "face.png": (png_bomb(), "20000x20000 pixels; the limit is 40 megapixels"),
    }
    for name, (data, words) in refused.items():
        with pytest.raises(ArtifactError, match=words) as err:
            await service.ingest(conv.id, data, name=name, mime=None)
        assert name in str(err.value)
        assert stored_files(root) == [], name  # probed and refused before it was stored

    ok = await service.ingest(conv.id, tone_wav(seconds=0.5), name="tone.wav", mime="audio/wav")
    pic = await service.ingest(conv.id, small_png(), name="face.png", mime="image/png")
    assert (ok.kind, pic.kind, pic.mime) == ("audio", "image", "image/png")
    assert len(stored_files(root)) == 2
