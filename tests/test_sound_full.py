"""The full (transformers) sound backends, run for real on tiny randomly initialised models.

AST, CLAP and Qwen2-Audio are built from configs here (same classes as the
production checkpoints, toy sizes), saved with ``save_pretrained`` and loaded
back through each backend's own ``load()`` (``local_files_only``). Random
weights say nothing about quality, so the assertions are about contracts:
windows, times, files, the answer's shape, and one-sentence refusals; where a
behaviour must be checked (events from scores), the weights are set so the
outcome is known.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from audiogpt.models.base import Audio, Backend, BadInput, ModelNotInstalled
from audiogpt.models.sound.common import window_count
from audiogpt.models.sound.full_ast import AstSoundDetection
from audiogpt.models.sound.full_caption import Qwen2AudioCaption, two_sentences
from audiogpt.models.sound.full_clap import ClapExtraction, ClapTargetDetection

SR = 16_000
LABELS = ["Speech", "Music", "Beep, bleep", "Dog", "Silence"]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def byte_tokenizer(cls: Any, specials: list[str], **kw: Any) -> tuple[Any, int]:
    """A real byte-level BPE tokenizer with no merges: every byte is a token (tiny and deterministic)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {t: i for i, t in enumerate([*specials, *sorted(ByteLevel.alphabet())])}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    return cls(tokenizer_object=tk, **kw), len(vocab)


def noise(seconds: float, level: float = 0.1, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


# --- model builders -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ast_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A toy AST whose classifier is rigged: "Speech" always fires, every other label never does."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    out = tmp_path_factory.mktemp("ast")
    cfg = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                    max_length=208, num_mel_bins=32, id2label=dict(enumerate(LABELS)),
                    label2id={lab: i for i, lab in enumerate(LABELS)})
    torch.manual_seed(0)
    model = ASTForAudioClassification(cfg).eval()
    with torch.no_grad():
        dense = model.classifier.dense
        dense.weight.zero_()
        dense.bias.copy_(torch.tensor([6.0, -6.0, -6.0, -6.0, -6.0]))
    model.save_pretrained(out)
    ASTFeatureExtractor(num_mel_bins=32, max_length=208).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def clap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        RobertaTokenizerFast,
    )

    out = tmp_path_factory.mktemp("clap")
    tok, n = byte_tokenizer(RobertaTokenizerFast, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], bos_token="<s>",
                            eos_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
    cfg = ClapConfig(
        text_config={"vocab_size": n, "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                     "intermediate_size": 37, "max_position_embeddings": 80, "projection_dim": 16,
                     "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
        audio_config={"window_size": 8, "num_mel_bins": 64, "spec_size": 256, "patch_size": 4,
                      "patch_stride": [4, 4], "hidden_size": 64, "patch_embeds_hidden_size": 32, "depths": [1, 1],
                      "num_attention_heads": [2, 2], "projection_dim": 16, "enable_fusion": False},
        projection_dim=16,
    )
    torch.manual_seed(0)
    ClapModel(cfg).eval().save_pretrained(out)
    ClapProcessor(feature_extractor=ClapFeatureExtractor(), tokenizer=tok).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import (
        GenerationConfig,
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        Qwen2TokenizerFast,
        WhisperFeatureExtractor,
    )

    out = tmp_path_factory.mktemp("qwen2audio")
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"]
    tok, n = byte_tokenizer(Qwen2TokenizerFast, specials, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                            unk_token=None, bos_token=None)
    tok.add_special_tokens({"additional_special_tokens": specials[1:]})
    cfg = Qwen2AudioConfig(
        audio_config={"num_mel_bins": 128, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 32,
                      "d_model": 16, "max_source_positions": 1500},
        text_config={"model_type": "qwen2", "vocab_size": n, "hidden_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 37,
                     "max_position_embeddings": 2048},
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(0)
    model = Qwen2AudioForConditionalGeneration(cfg).eval()
    model.generation_config = GenerationConfig(eos_token_id=0, pad_token_id=0)
    model.save_pretrained(out)
    Qwen2AudioProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128), tokenizer=tok).save_pretrained(out)
    return out


# --- not installed -------------------------------------------------------------------------------


def test_absent_weights_are_one_sentence_and_never_downloaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for b in (AstSoundDetection(), ClapTargetDetection(), ClapExtraction(), Qwen2AudioCaption()):
        assert isinstance(b, Backend) and b.kind == "full"
        info = b.describe()
        assert not info.installed
        assert "not in the local Hugging Face cache" in info.reason and "hf download" in info.install_hint
        with pytest.raises(ModelNotInstalled, match="hf download"):
            b.load()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no config.json" in AstSoundDetection(str(empty)).describe().reason


def test_settings_name_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """AUDIOGPT_SOUND_AST_MODEL is a setting; the family builds AST from it (no environment read at import)."""
    from audiogpt.models.backend_config import BackendConfig
    from audiogpt.models.sound.full_backends import full_backends

    monkeypatch.setenv("AUDIOGPT_SOUND_AST_MODEL", "/from/the/environment")
    ast = next(b for b in full_backends(BackendConfig(sound_ast_model="/srv/models/ast")) if b.name == "ast-audioset")
    assert ast.model.ref == "/srv/models/ast"  # type: ignore[attr-defined]
    assert AstSoundDetection().model.ref == "MIT/ast-finetuned-audioset-10-10-0.4593"


def test_registry_prefers_installed_full_backends_on_gpu(ast_dir: Path) -> None:
    from audiogpt.models.registry import Registry
    from audiogpt.models.sound.detect_lite import YamnetSoundDetection

    reg = Registry(device="cuda", factories=[lambda: [YamnetSoundDetection(), AstSoundDetection(str(ast_dir))]])
    assert reg.select("sound_detection").name == "ast-audioset"
    reg = Registry(device="cuda", factories=[lambda: [YamnetSoundDetection(), AstSoundDetection("/nonexistent/ast")]])
    assert reg.select("sound_detection").name == "yamnet-int8"  # full absent: lite still answers


# --- AST -------------------------------------------------------------------------------------------


def test_ast_windows_scores_events_and_timeline(ast_dir: Path) -> None:
    from PIL import Image as PILImage

    b = AstSoundDetection(str(ast_dir), device="cpu")
    assert b.describe().installed
    bundle = b.load()
    assert bundle.labels == LABELS
    clip = Audio(noise(5.3), SR)
    seen: list[Any] = []
    scores = b.scores(bundle, clip, progress=lambda f, m: seen.append(f))
    assert scores.probs.shape == (window_count(5.3, 2.0, 0.5), len(LABELS))
    assert np.all(scores.probs[:, 0] > 0.99) and np.all(scores.probs[:, 1:] < 0.01)  # the rigged classifier
    r = b.run(bundle, audio=clip)
    assert "full: ast-audioset" in r.text
    assert [(e["label"], e["start"], e["end"]) for e in r.data["events"]] == [("Speech", 0.0, 5.3)]
    img = PILImage.open(io.BytesIO(r.outputs[0].data or b""))
    assert img.format == "PNG" and img.width >= 800


def test_ast_streams_a_long_stereo_clip_at_another_rate(ast_dir: Path) -> None:
    b = AstSoundDetection(str(ast_dir), device="cpu")
    bundle = b.load()
    x = noise(20.0 * 44_100 / SR, seed=3)  # 20 s at 44.1 kHz
    stereo = Audio(np.stack([x, x]), 44_100)
    seen: list[float | None] = []
    scores = b.scores(bundle, stereo, progress=lambda f, m: seen.append(f))
    assert scores.probs.shape[0] == window_count(stereo.duration, 2.0, 0.5) > 16  # several batches
    assert seen and seen[-1] == pytest.approx(1.0)
    assert scores.level_db is not None and abs(scores.level_db.size - stereo.duration * 100) <= 3


def test_ast_bad_input_and_silence(ast_dir: Path) -> None:
    b = AstSoundDetection(str(ast_dir), device="cpu")
    bundle = b.load()
    assert "silent" in b.run(bundle, audio=Audio(np.zeros(SR, np.float32), SR)).text
    with pytest.raises(BadInput):
        b.run(bundle, audio=Audio(np.zeros(0, np.float32), SR))


# --- CLAP ------------------------------------------------------------------------------------------


def test_clap_target_detection_contract(clap_dir: Path) -> None:
    b = ClapTargetDetection(str(clap_dir), device="cpu")
    assert b.describe().installed
    bundle = b.load()
    clip = Audio(noise(3.0, seed=1), SR)
    track, scores, contrast = b.query_track(bundle, clip, "a dog barking")
    assert track.shape == (window_count(3.0, 1.0, 0.25),) and np.all((track >= 0) & (track <= 1))
    assert contrast and "a dog barking" not in contrast
    assert scores.level_db is not None
    again, _s, _c = b.query_track(bundle, clip, "a dog barking")
    assert np.allclose(track, again)  # deterministic
    r = b.run(bundle, audio=clip, query="When does the dog bark?")
    assert "full: clap-htsat" in r.text and r.data["known"] and r.data["query"] == "When does the dog bark?"
    for seg in r.data["segments"]:
        assert 0.0 <= seg["start"] < seg["end"] <= 3.0
    assert r.data["found"] == bool(r.data["segments"])
    assert r.text.startswith("Not found") != r.data["found"]


def test_clap_extraction_contract(clap_dir: Path) -> None:
    b = ClapExtraction(str(clap_dir), device="cpu")
    bundle = b.load()
    mix = noise(3.0, seed=2)
    mix[SR : 2 * SR] += 0.3 * np.sin(2 * np.pi * 1000 * np.arange(SR) / SR).astype(np.float32)
    r = b.run(bundle, audio=Audio(mix, SR), query="a beep")
    assert "CLAP-guided" in r.text
    if r.data["found"]:
        target, rest = (o.audio for o in r.outputs)
        assert target is not None and rest is not None
        assert np.allclose(target.samples + rest.samples, mix, atol=1e-4)
    else:
        assert not r.outputs and r.text.startswith("Nothing to extract")
    assert "silent" in b.run(bundle, audio=Audio(np.zeros(SR, np.float32), SR), query="a beep").text


# --- Qwen2-Audio ---------------------------------------------------------------------------------------


def test_two_sentences() -> None:
    assert two_sentences("A dog barks.  Then a car passes! Rain falls. More.") == "A dog barks. Then a car passes!"
    assert two_sentences("  ") == ""


def test_qwen2_audio_caption_contract(qwen_dir: Path) -> None:
    b = Qwen2AudioCaption(str(qwen_dir), device="cpu")
    assert b.describe().installed
    bundle = b.load()
    clip = Audio(noise(2.0, seed=4), SR)
    r = b.run(bundle, audio=clip)
    assert r.text.endswith("(full: qwen2-audio)") and r.data["heard_seconds"] == 2.0
    assert isinstance(r.data["caption"], str) and r.data["caption"]
    assert b.run(bundle, audio=clip).data["caption"] == r.data["caption"]  # greedy: same clip, same caption
    long = b.run(bundle, audio=Audio(noise(31.0, seed=5), SR))
    assert "first 30 s" in long.text and long.data["heard_seconds"] == 30.0
    assert b.run(bundle, audio=Audio(np.zeros(SR, np.float32), SR)).data["caption"].startswith("Silence")


# --- on a GPU (skipped without one): the same code in float16 on CUDA ---------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_full_backends_run_in_fp16_on_cuda(ast_dir: Path, clap_dir: Path, qwen_dir: Path) -> None:
    clip = Audio(noise(4.0, seed=6), SR)
    ast = AstSoundDetection(str(ast_dir), device="cuda", fp16=True)
    bundle = ast.load()
    assert bundle.device == "cuda" and bundle.dtype == torch.float16
    r = ast.run(bundle, audio=clip)
    assert [(e["label"], e["start"], e["end"]) for e in r.data["events"]] == [("Speech", 0.0, 4.0)]
    clap = ClapTargetDetection(str(clap_dir), device="cuda", fp16=True)
    cb = clap.load()
    track, _scores, _contrast = clap.query_track(cb, clip, "a dog barking")
    assert np.all(np.isfinite(track)) and np.all((track >= 0) & (track <= 1))
    ext = ClapExtraction(str(clap_dir), device="cuda", fp16=True).run(cb, audio=clip, query="a dog")
    assert "CLAP-guided" in ext.text
    cap = Qwen2AudioCaption(str(qwen_dir), device="cuda", fp16=True)
    out = cap.run(cap.load(), audio=clip)
    assert out.text.endswith("(full: qwen2-audio)") and out.data["caption"]
