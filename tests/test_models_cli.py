"""``audiogpt models``: list / pull / verify / rm against a fake local Hugging Face cache, never the network.

The cache is built in the hub's own layout (``models--org--name/{blobs,refs/main,snapshots/<rev>}``)
so ``scan_cache_dir`` and ``try_to_load_from_cache`` read it exactly as they read a real one, and a
tiny full backend (a :class:`BackendBase` subclass whose weights live in that cache) goes through
the same ``describe()`` / ``load()`` / ``run()`` a real one does.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from audiogpt.bots import models_cli
from audiogpt.bots.cli import app
from audiogpt.config import Settings, get_settings
from audiogpt.core import model_store
from audiogpt.core.model_store import ModelStore, licence_class, needed_files
from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Audio, BackendBase, BackendResult
from audiogpt.models.registry import Registry
from audiogpt.models.speech.full_common import HFModel, why_missing

# the 17 tasks of the design (tool names are part of the contract); each has a full backend
TASKS = ("speech_recognition", "speech_translation", "text_to_speech", "style_transfer", "speech_enhancement",
         "speech_separation", "mono_to_binaural", "audio_inpainting", "sound_extraction", "target_sound_detection",
         "sound_detection", "talking_head", "text_to_audio", "image_to_audio", "audio_to_text", "singing_synthesis",
         "text_to_music")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
runner = CliRunner()


def add_repo(cache: Path, repo_id: str, files: dict[str, bytes], commit: str = COMMIT) -> int:
    """Write ``files`` as one cached revision of ``repo_id`` (blobs + symlinked snapshot); total bytes."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)
    return sum(len(d) for d in files.values())


class TinyGain(BackendBase):
    """A full backend whose 'model' is one gain in a safetensors file: load and run for real, in microseconds."""

    name = "tiny-gain"
    task = "speech_recognition"
    kind = "full"
    info_licence = "CC-BY-NC-4.0 (tiny weights, non-commercial)"
    info_memory_mb = 1

    def __init__(self, ref: str, cache_dir: str, task: str = "speech_recognition", name: str = "tiny-gain") -> None:
        self.model = HFModel(ref, None, cache_dir)
        self.task = task
        self.name = name
        self.info_model = ref

    def _missing(self) -> str:
        return why_missing("tiny", [("tiny", self.model, ())])

    def load(self) -> dict[str, Any]:
        self._require()
        from huggingface_hub import try_to_load_from_cache
        from safetensors.numpy import load_file

        path = try_to_load_from_cache(self.model.ref, "model.safetensors", cache_dir=self.model.cache_dir)
        assert isinstance(path, str)
        return load_file(path)

    def run(self, model: dict[str, Any], *, audio: Audio, language: str | None = None) -> BackendResult:
        level = float(np.sqrt(np.mean((audio.samples * model["gain"][0]) ** 2)))
        return BackendResult(text=f"level {level:.3f} over {audio.duration:.1f} s")


def tiny_weights() -> bytes:
    from safetensors.numpy import save

    return save({"gain": np.array([2.0], dtype=np.float32)})


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An HF cache in tmp_path, named both ways the project reads it; settings re-read."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("AUDIOGPT_HF_CACHE_DIR", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("AUDIOGPT_MODELS_DIR", "AUDIOGPT_MODEL_IDS", "AUDIOGPT_MODEL_REVISIONS", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield cache
    get_settings.cache_clear()


@pytest.fixture
def fake_store(hub: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A registry of two tiny full backends: one whose weights are cached, one absent."""
    size = add_repo(hub, "tiny-org/tiny-gain", {"config.json": b'{"model_type": "tiny"}',
                                                "model.safetensors": tiny_weights()})
    present = TinyGain("tiny-org/tiny-gain", str(hub))
    absent = TinyGain("tiny-org/absent", str(hub), task="text_to_music", name="tiny-absent")
    absent.info_licence = "MIT (tiny weights)"
    registry = Registry(factories=[lambda: [present, absent]], config=BackendConfig(device="cpu"))
    monkeypatch.setattr(models_cli, "open_store", lambda: ModelStore(registry, Settings(_env_file=None)))
    return {"size": size, "hub": hub}


def cli(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["models", *args])
    return res.exit_code, res.output


def as_json(out: str) -> dict[str, Any]:
    return json.loads([ln for ln in out.splitlines() if ln.startswith("{")][-1])


def one_sentence(text: str) -> bool:
    return text.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", text)


def test_list_json_shows_model_licence_size_and_presence(fake_store: dict[str, Any]) -> None:
    code, out = cli("list", "--json")
    assert code == 0, out
    rows = {r["backend"]: r for r in as_json(out)["models"]}
    tiny, absent = rows["tiny-gain"], rows["tiny-absent"]
    assert tiny["task"] == "speech_recognition" and tiny["repos"][0]["id"] == "tiny-org/tiny-gain"
    assert tiny["present"] and tiny["ready"] and tiny["size_bytes"] == fake_store["size"]
    assert tiny["licence_class"] == "non-commercial" and tiny["device"] == "cpu"
    assert tiny["repos"][0]["path"].endswith(COMMIT)
    assert not absent["present"] and absent["size_bytes"] == 0 and absent["licence_class"] == "commercial"
    assert "not in the local Hugging Face cache" in absent["reason"]
    code, text = cli("list")
    assert code == 0 and "NON-COMMERCIAL" in text and "tiny-org/tiny-gain@main" in text


def test_list_of_the_real_registry_covers_every_task(hub: Path) -> None:
    """The done-when: every task with its model id, licence class, size and presence (nothing cached here)."""
    code, out = cli("list", "--json")
    assert code == 0, out
    rows = as_json(out)["models"]
    assert {r["task"] for r in rows} >= set(TASKS)
    for r in rows:
        assert r["kind"] == "full" and r["licence_class"] in ("commercial", "non-commercial", "check")
        assert r["size_bytes"] == 0 and not r["present"], r
    by = {r["backend"]: r for r in rows}
    assert by["whisper-transformers"]["repos"][0]["id"] == "openai/whisper-small"
    assert by["whisper-transformers"]["licence_class"] == "commercial"
    assert by["audioldm2-diffusers"]["licence_class"] == "non-commercial"
    assert by["musicgen-transformers"]["licence_class"] == "non-commercial"
    # image-to-audio reads BLIP and the AudioLDM 2 it wraps; Conv-TasNet declares its hub repo itself
    assert [x["id"] for x in by["blip-caption-audioldm2"]["repos"]] == [
        "Salesforce/blip-image-captioning-base", "cvssp/audioldm2"]
    assert by["convtasnet-enhance"]["repos"][0]["id"].startswith("JorisCos/")
    assert by["sofa-hrtf-binaural"]["repos"] == [] and by["sofa-hrtf-binaural"]["licence_class"] == "check"


def test_pull_with_hub_offline_says_one_sentence_and_exits_2(fake_store: dict[str, Any]) -> None:
    code, out = cli("pull", "text_to_music")
    assert code == 2
    lines = out.strip().splitlines()
    assert len(lines) == 1 and one_sentence(lines[0]) and "no network" in lines[0], out
    code, out = cli("pull", "--all", "--json")
    assert code == 2 and as_json(out)["network"] is False and one_sentence(as_json(out)["error"])


def test_pull_with_the_hub_unreachable_says_one_sentence_and_exits_2(
        fake_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read once, at its import
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    code, out = cli("pull", "text_to_music", "--json")
    assert code == 2, out
    msg = as_json(out)["error"]
    assert one_sentence(msg) and "no network" in msg and "connection refused" in msg


def test_pull_asks_for_only_the_loader_files_with_revision_and_token(
        fake_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def snapshot_download(repo_id: str, **kw: Any) -> str:
        seen.update(kw, repo_id=repo_id)
        folder = fake_store["hub"] / "got"
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        return str(folder)

    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(model_store, "_hub_files", lambda repo, token: [
        "config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "README.md"])
    code, out = cli("pull", "text_to_music", "--json")
    assert code == 0, out
    assert as_json(out)["pulled"][0]["repo"] == "tiny-org/absent"
    assert seen["repo_id"] == "tiny-org/absent" and seen["token"] == "hf_test_token"
    assert seen["allow_patterns"] == ["config.json", "model.safetensors"]
    assert seen["cache_dir"] == str(fake_store["hub"]) and seen["revision"] is None


def test_needed_files_keeps_what_from_pretrained_reads() -> None:
    listing = ["config.json", "model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack",
               "tokenizer.json", "merges.txt", "README.md", ".gitattributes", "onnx/encoder.onnx",
               "training_args.bin", "unet/diffusion_pytorch_model.safetensors",
               "unet/diffusion_pytorch_model.fp16.safetensors", "unet/config.json", "vocoder/pytorch_model.bin",
               "vocoder/config.json", "spm.model"]
    assert needed_files(listing) == sorted([
        "config.json", "model.safetensors", "tokenizer.json", "merges.txt", "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors", "vocoder/config.json", "vocoder/pytorch_model.bin", "spm.model"])
    from audiogpt.models.speech.convtasnet import ConvTasNetEnhance

    assert needed_files(["pytorch_model.bin", "README.md", "config.json"], ConvTasNetEnhance.model_files) == [
        "pytorch_model.bin"]


def test_verify_loads_the_present_model_and_runs_one_second(fake_store: dict[str, Any]) -> None:
    code, out = cli("verify", "--json")
    assert code == 0, out
    got = {r["backend"]: r for r in as_json(out)["verified"]}
    ok = got["tiny-gain"]
    assert ok["status"] == "ok" and ok["load_s"] is not None and ok["run_s"] is not None
    assert ok["memory_mb"] is not None and "over 1.0 s" in ok["message"]
    assert got["tiny-absent"]["status"] == "skipped"
    code, text = cli("verify", "speech_recognition")
    assert code == 0 and "1 of 1 full backends load here." in text and "load " in text


def test_rm_removes_the_cached_revision(fake_store: dict[str, Any]) -> None:
    code, out = cli("rm", "speech_recognition", "--json")
    assert code == 2 and as_json(out)["would_remove"][0]["id"] == "tiny-org/tiny-gain"
    code, out = cli("rm", "speech_recognition", "--yes", "--json")
    assert code == 0, out
    assert as_json(out)["freed_bytes"] >= fake_store["size"]
    assert not (fake_store["hub"] / "models--tiny-org--tiny-gain").exists()
    code, out = cli("list", "--json")
    assert not {r["backend"]: r for r in as_json(out)["models"]}["tiny-gain"]["present"]


def test_unknown_task_and_missing_arguments_say_so(fake_store: dict[str, Any]) -> None:
    code, out = cli("list", "no_such_task")
    assert code == 2 and "Unknown task" in out
    code, out = cli("pull")
    assert code == 2 and "--all" in out


def test_models_dir_folder_stands_in_for_the_hub_id(hub: Path, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "openai" / "whisper-small"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    config = BackendConfig(models_dir=tmp_path / "models")
    assert config.model("whisper-transformers", "openai/whisper-small") == str(folder)
    assert config.model("musicgen-transformers", "facebook/musicgen-small") == "facebook/musicgen-small"
    settings = Settings(_env_file=None, models_dir=tmp_path / "models")  # type: ignore[call-arg]
    store = model_store.open_store(settings, device="cpu")
    row = store.rows(["speech_recognition"])[0]
    assert row.repos[0].location == "folder" and row.repos[0].id == "openai/whisper-small" and row.repos[0].present
    pending = store.rows(["text_to_music"])[0].repos[0]
    assert pending.location == "hub-cache" and not pending.present
    repos, _ = store.pull_plan(["text_to_music"])
    assert repos[0].folder == (tmp_path / "models" / "facebook" / "musicgen-small").resolve()


@pytest.mark.parametrize(("licence", "expected"), [
    ("MIT (SpeechT5 and HiFi-GAN weights); Apache-2.0 (transformers)", "commercial"),
    ("CC-BY-NC-SA-4.0 (AudioLDM 2 weights, non-commercial); Apache-2.0 (diffusers)", "non-commercial"),
    ("CC-BY-NC-4.0 (MMS-TTS weights, non-commercial); pyworld MIT", "non-commercial"),
    ("Wav2Lip weights: research/non-commercial only (authors' terms); code here Apache-2.0", "non-commercial"),
    ("code Apache-2.0 (this project); JorisCos Asteroid weights CC BY-SA 4.0", "commercial"),
    ("depends on the HRTF set (e.g. SADIE II: Apache-2.0; CIPIC: public domain)", "check"),
    ("", "check"),
])
def test_licence_class_reads_the_backend_licence(licence: str, expected: str) -> None:
    assert licence_class(licence) == expected
