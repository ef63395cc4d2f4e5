"""Backends are discovered, configured and built once: family packages, plug-ins, settings, batching.

No GPU and no model hub: a "GPU host" is ``runtime.pick_device`` patched to say ``cuda``,
and an "installed" full model is a folder holding the files ``describe()`` looks for.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from audiogpt.config import Settings
from audiogpt.core import backends as core_backends
from audiogpt.core.backends import backend_config, build_registry
from audiogpt.core.catalogue.view import describe_tools
from audiogpt.core.runner_ray import ModelReplica, RayRunner, ReplicaConfig
from audiogpt.core.tools import TOOLS
from audiogpt.models import runtime
from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Audio, BackendBase, BackendInfo, BackendResult, supports_batch
from audiogpt.models.registry import Registry


@pytest.fixture(autouse=True)
def fresh_registries() -> Any:
    core_backends.forget_registries()
    yield
    core_backends.forget_registries()


def settings(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm="offline", database_url=None, _env_file=None, **kw)  # type: ignore[call-arg]


def fake_ast_folder(tmp_path: Path) -> Path:
    """What AST's describe() checks for: config, weights, preprocessor config (the contents are not read)."""
    folder = tmp_path / "my-ast"
    folder.mkdir()
    for name in ("config.json", "model.safetensors", "preprocessor_config.json"):
        (folder / name).write_text("{}")
    return folder


# --- one registry per process ----------------------------------------------------------------------


def test_one_registry_per_process_shared_by_bot_replica_and_listing(tmp_path: Path) -> None:
    s = settings(tmp_path, device="cpu")
    reg = build_registry(s)
    assert build_registry(settings(tmp_path, device="cpu")) is reg  # a second Settings object, same registry
    replica = ModelReplica(ReplicaConfig.from_settings(s).as_dict())
    assert replica.registry is reg  # a replica in this process builds nothing again

    class Marker(BackendBase):
        name, task, kind = "marker-lite", "text_to_audio", "lite"

    reg.register(Marker())  # visible to describe_tools only if it lists the same registry
    row = next(r for r in describe_tools(s) if r["name"] == "text_to_audio")
    assert row["backend"] == "marker-lite"
    # another configuration is another registry (tests, a dry run on the CPU)
    assert build_registry(settings(tmp_path, device="cpu", backends={"text_to_audio": "lite"})) is not reg


def test_registry_constructs_each_backend_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audiogpt.models import registry as registry_mod

    calls: list[str] = []
    real = registry_mod._family_factory

    def counting(module: str, config: BackendConfig) -> Any:
        build = real(module, config)

        def wrapped() -> list[Any]:
            calls.append(module)
            return build()

        return wrapped

    monkeypatch.setattr(registry_mod, "_family_factory", counting)
    s = settings(tmp_path, device="cpu")
    for _ in range(3):
        build_registry(s).select("text_to_audio")
        describe_tools(s)
    assert sorted(calls) == sorted(registry_mod.FAMILY_PACKAGES)  # each family built exactly once


# --- the device: `audiogpt tools` on a GPU host lists what would run -----------------------------------


def test_describe_tools_on_a_gpu_host_selects_the_installed_full_backend(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    folder = fake_ast_folder(tmp_path)
    monkeypatch.setattr(runtime, "pick_device", lambda preference="auto": "cuda" if preference == "auto" else preference)
    s = settings(tmp_path, sound_ast_model=str(folder))  # device "auto": resolved by the (patched) device check
    row = next(r for r in describe_tools(s) if r["name"] == "sound_detection")
    assert row["backend"] == "ast-audioset", row
    ast = next(b for b in row["backends"] if b["name"] == "ast-audioset")
    assert ast["installed"] and str(folder) in ast["model"]
    # a tool whose full model is absent still answers with its lite backend on the GPU host
    assert next(r for r in describe_tools(s) if r["name"] == "text_to_audio")["backend"] == "procedural-sound-design"

    core_backends.forget_registries()
    monkeypatch.setattr(runtime, "pick_device", lambda preference="auto": "cpu" if preference == "auto" else preference)
    row = next(r for r in describe_tools(s) if r["name"] == "sound_detection")
    assert row["backend"] == "yamnet-int8"  # on a CPU host auto prefers lite


# --- settings reach the backends, not the environment ----------------------------------------------------


def test_settings_reach_full_backends_without_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the environment says one thing, the settings object another: backends must follow the settings
    monkeypatch.setenv("AUDIOGPT_SOUND_AST_MODEL", "/from/the/environment")
    monkeypatch.setenv("AUDIOGPT_WAV2LIP_CHECKPOINT", "/from/the/environment.pth")
    s = settings(tmp_path, device="cuda:1", dtype="float32", hf_cache_dir=str(tmp_path / "hub"),
                 sound_ast_model="/srv/ast", wav2lip_checkpoint="/srv/wav2lip_gan.pth",
                 model_ids={"whisper-transformers": "/srv/whisper-large", "speecht5-transformers:vocoder": "/srv/voc"},
                 model_revisions={"whisper-transformers": "abc123"})
    reg = build_registry(s)
    assert reg.device == "cuda:1"
    by_name = {b.name: b for task in TOOLS.names() for b in reg.backends(task)}
    whisper: Any = by_name["whisper-transformers"]
    assert (whisper.model.ref, whisper.model.revision, whisper.device, whisper.fp16) == \
        ("/srv/whisper-large", "abc123", "cuda:1", False)
    assert whisper.model.cache_dir == str(tmp_path / "hub")
    assert by_name["speecht5-transformers"].vocoder.ref == "/srv/voc"  # type: ignore[attr-defined]
    assert by_name["ast-audioset"].model.ref == "/srv/ast"  # type: ignore[attr-defined]
    assert str(by_name["wav2lip"].checkpoint) == "/srv/wav2lip_gan.pth"  # type: ignore[attr-defined]
    # a per-backend id wins over the family setting
    s2 = settings(tmp_path, device="cpu", sound_ast_model="/srv/ast", model_ids={"ast-audioset": "/srv/ast-2"})
    ast = next(b for b in build_registry(s2).backends("sound_detection") if b.name == "ast-audioset")
    assert ast.model.ref == "/srv/ast-2"  # type: ignore[attr-defined]


def test_env_names_still_configure_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The variables deployments already set keep working: they are settings now (and may live in .env)."""
    monkeypatch.setenv("AUDIOGPT_SOUND_CLAP_MODEL", "/srv/clap")
    monkeypatch.setenv("AUDIOGPT_HRTF_SOFA", "/srv/subject.sofa")
    monkeypatch.setenv("AUDIOGPT_MODEL_IDS", "musicgen-transformers=/srv/musicgen")
    cfg = backend_config(Settings(_env_file=None), resolve=False)  # type: ignore[call-arg]
    assert (cfg.sound_clap_model, cfg.hrtf_sofa, dict(cfg.models)) == \
        ("/srv/clap", "/srv/subject.sofa", {"musicgen-transformers": "/srv/musicgen"})
    with pytest.raises(ValueError, match="AUDIOGPT_DTYPE"):
        backend_config(settings(tmp_path, dtype="int4"))


# --- plug-ins through the audiogpt.backends entry-point group ------------------------------------------


PLUGIN = '''
from audiogpt.models.base import BackendBase, BackendResult


class PluginMusic(BackendBase):
    name = "plugin-music"
    task = "text_to_music"
    kind = "lite"
    info_model = "a plug-in"

    def __init__(self, device):
        self.device = device

    def load(self):
        return None

    def run(self, model, **kw):
        return BackendResult(text="la la")


def backends(config):
    return [PluginMusic(config.device)]


def broken(config):
    raise RuntimeError("cannot reach the licence server\\nToken: s3cr3t")
'''


def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    dist = site / "audiogpt_test_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (site / "audiogpt_test_plugin_mod.py").write_text(textwrap.dedent(PLUGIN))
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: audiogpt-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[audiogpt.backends]\nmusic = audiogpt_test_plugin_mod:backends\nbroken = audiogpt_test_plugin_mod:broken\n")
    monkeypatch.syspath_prepend(str(site))


def test_a_backend_from_an_entry_point_appears_and_a_broken_one_is_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    install_plugin(tmp_path, monkeypatch)
    caplog.set_level(logging.WARNING, logger="audiogpt.models.registry")
    s = settings(tmp_path, device="cpu", backends={"text_to_music": "plugin-music"})
    reg = build_registry(s)
    chosen = reg.select("text_to_music")
    assert chosen.name == "plugin-music" and chosen.device == "cpu"  # type: ignore[attr-defined]
    assert "algorithmic-composer" in [b.name for b in reg.backends("text_to_music")]  # families still there
    row = next(r for r in describe_tools(s) if r["name"] == "text_to_music")
    assert "plugin-music" in [b["name"] for b in row["backends"]]
    logged = caplog.text
    assert "audiogpt.backends:broken" in logged and "RuntimeError" in logged
    assert "s3cr3t" not in logged  # the type and a first line, never the whole message


# --- batching is a capability ------------------------------------------------------------------------


class Batcher(BackendBase):
    """Any name at all: what makes it batch is run_batch."""

    kind = "lite"
    task = "speech_enhancement"

    def __init__(self, name: str) -> None:
        self.name = name
        self.batches: list[int] = []

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        return object()

    def run(self, model: Any, *, audio: Audio) -> BackendResult:
        self.batches.append(1)
        return BackendResult(text="one")

    def run_batch(self, model: Any, inputs: list[dict[str, Any]]) -> list[BackendResult | Exception]:
        self.batches.append(len(inputs))
        return [BackendResult(text=f"batched {len(inputs)}") for _ in inputs]


class OneByOne(Batcher):
    run_batch = None  # type: ignore[assignment]


def replica_with(tmp_path: Path, backend: Any) -> ModelReplica:
    reg = Registry(factories=[lambda: [backend]])
    return ModelReplica(ReplicaConfig.from_settings(settings(tmp_path), registry=reg).as_dict())


@pytest.mark.parametrize("name", ["faster-whisper-tiny.en", "my-own-batcher"])
def test_replica_batches_any_backend_with_run_batch(tmp_path: Path, name: str) -> None:
    from audiogpt.models.base import Image

    b = Batcher(name)
    replica = replica_with(tmp_path, b)
    assert replica.batches("speech_enhancement")
    reqs = [{"tool": "speech_enhancement", "inputs": {"audio": Image(b"x")}} for _ in range(3)]
    out = replica.run_many(reqs)
    assert b.batches == [3] and [o["batch_size"] for o in out] == [3, 3, 3]
    assert all(o["ok"] and o["text"] == "batched 3" for o in out)


def test_replica_runs_a_backend_without_run_batch_one_by_one(tmp_path: Path) -> None:
    b = OneByOne("faster-whisper-tiny.en")  # the name the old table batched: no longer enough
    assert not supports_batch(b)
    assert not replica_with(tmp_path, b).batches("speech_enhancement")


def test_the_default_asr_batches() -> None:
    from audiogpt.models.speech.whisper_base import FasterWhisperBase

    default = build_registry(Settings(_env_file=None, device="cpu", backends={})).select("speech_recognition")  # type: ignore[call-arg]
    assert isinstance(default, FasterWhisperBase) and supports_batch(default)


# --- Ray families come from the catalogue ---------------------------------------------------------------


def test_ray_families_come_from_the_catalogue(tmp_path: Path) -> None:
    runner = RayRunner(SimpleNamespace(worker="w"), None, settings(tmp_path, ray_deployments={"talking_head": "gpu"}))  # type: ignore[arg-type]
    for spec in TOOLS:
        want = "gpu" if spec.name == "talking_head" else spec.family
        assert runner.family_of(spec.name) == want
    assert runner.family_of("speech_recognition") == TOOLS.get("speech_recognition").family == "asr"
