"""The full generation backends, run for real on tiny randomly initialised models.

Every model is built here from a config (same classes as the production checkpoints, toy
sizes), saved with ``save_pretrained`` and loaded back through the backend's own ``load()``
with ``local_files_only``. Tokenizers are made here too (a byte-level RoBERTa vocabulary, a
SentencePiece model trained on a few lines, a WordPiece list), so nothing is downloaded.
Random weights make noise, so the assertions are about contracts: durations, rates, seeds,
progress, the caption in the answer, and the one-sentence refusals.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("diffusers")

import torch

from audiogpt.models.base import BadInput, Image, ModelNotInstalled, accepts_progress
from audiogpt.models.generation.full_audioldm import AudioLDM2TextToAudio
from audiogpt.models.generation.full_image import BlipAudioLDM2ImageToAudio
from audiogpt.models.generation.full_musicgen import MusicgenTextToMusic
from audiogpt.models.generation.full_singing import MmsWorldSinging
from audiogpt.models.registry import Registry

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")

# AUDIOGPT_TEST_DEVICE=cuda runs the same tests on a GPU in float16 (a device check, not CI)
DEVICE = os.environ.get("AUDIOGPT_TEST_DEVICE", "cpu")
FP16 = DEVICE == "cuda"
CORPUS = ["rain on a tin roof", "a dog barking loudly", "calm lofi piano with soft drums", "the sound of birds",
          "fast upbeat rock guitar", "the quick brown fox jumps over the lazy dog"]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Toy models are dominated by thread wake-ups on a busy 2-core runner: use one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Model ids must be looked up in an empty cache: absent means absent, never a download."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Same seed, same audio: bit-exact on the CPU; GPU kernels may differ in the last float16 bits."""
    if DEVICE == "cpu":
        return bool(np.array_equal(a, b))
    return a.shape == b.shape and bool(np.allclose(a, b, atol=2e-2))


def spm_model(folder: Path, vocab_size: int) -> Path:
    import sentencepiece as spm

    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(CORPUS * 10), encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(folder / "spm"), vocab_size=vocab_size,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    return folder / "spm.model"


def roberta_files(folder: Path) -> tuple[Path, Path, int]:
    """A byte-level BPE vocabulary with no merges: every byte is a token (enough for a toy CLAP)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, extra = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for c in cs:
        vocab.setdefault(chr(c), len(vocab))
    vocab["<mask>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder / "vocab.json", folder / "merges.txt", len(vocab)


@pytest.fixture(scope="module")
def ldm2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diffusers import (
        AudioLDM2Pipeline,
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
        AutoencoderKL,
        DDIMScheduler,
    )
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2LMHeadModel,
        RobertaTokenizer,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
        T5Tokenizer,
    )

    work = tmp_path_factory.mktemp("ldm2_src")
    vocab, merges, nvocab = roberta_files(work)
    tok = RobertaTokenizer(vocab_file=str(vocab), merges_file=str(merges), model_max_length=77)
    tok2 = T5Tokenizer(vocab_file=str(spm_model(work, 40)), model_max_length=77, extra_ids=0)
    torch.manual_seed(0)
    unet = AudioLDM2UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        norm_num_groups=8, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=([None, 16, 32], [None, 16, 32]))
    vae = AutoencoderKL(block_out_channels=[8, 16], in_channels=1, out_channels=1, norm_num_groups=8,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        latent_channels=4)
    text_cfg = ClapTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=16, intermediate_size=37,
                              num_attention_heads=2, num_hidden_layers=1, pad_token_id=1, vocab_size=nvocab,
                              projection_dim=16)
    audio_cfg = ClapAudioConfig(spec_size=64, window_size=4, num_mel_bins=64, intermediate_size=37, depths=[1, 1],
                                num_attention_heads=[2, 2], num_hidden_layers=2, hidden_size=32, projection_dim=16,
                                patch_size=2, patch_stride=2, patch_embed_input_channels=4)
    clap = ClapModel(ClapConfig(text_config=text_cfg.to_dict(), audio_config=audio_cfg.to_dict(), projection_dim=16))
    t5 = T5EncoderModel(T5Config(vocab_size=tok2.vocab_size, d_model=32, d_ff=37, d_kv=8, num_heads=2, num_layers=1))
    lm = GPT2LMHeadModel(GPT2Config(n_embd=16, n_head=2, n_layer=1, vocab_size=100, n_ctx=99, n_positions=99))
    lm.config.max_new_tokens = 4
    proj = AudioLDM2ProjectionModel(text_encoder_dim=16, text_encoder_1_dim=32, langauge_model_dim=16)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=8, sampling_rate=16000, upsample_initial_channel=16, upsample_rates=[2, 2],
        upsample_kernel_sizes=[4, 4], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        normalize_before=False))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False)
    pipe = AudioLDM2Pipeline(vae=vae, text_encoder=clap, text_encoder_2=t5, projection_model=proj, language_model=lm,
                             tokenizer=tok, tokenizer_2=tok2, feature_extractor=ClapFeatureExtractor(), unet=unet,
                             scheduler=scheduler, vocoder=vocoder)
    out = tmp_path_factory.mktemp("ldm2")
    pipe.save_pretrained(out)
    return out


def tiny_ldm2(folder: Path) -> AudioLDM2TextToAudio:
    return AudioLDM2TextToAudio(str(folder), steps=2, guidance=2.0, seed=3, min_seconds=0.01, max_seconds=0.2,
                                max_new_tokens=4, device=DEVICE, fp16=FP16)


@pytest.fixture(scope="module")
def ldm2(ldm2_dir: Path) -> tuple[AudioLDM2TextToAudio, Any]:
    backend = tiny_ldm2(ldm2_dir)
    assert backend.describe().installed, backend.describe().reason
    return backend, backend.load()


def test_audioldm2_generates_seeded_audio_of_the_asked_length(ldm2: tuple[AudioLDM2TextToAudio, Any]) -> None:
    backend, model = ldm2
    seen: list[tuple[float | None, str]] = []
    assert accepts_progress(backend)
    res = backend.run(model, text="rain on a tin roof", seconds=0.064, progress=lambda f, w: seen.append((f, w)))
    audio = res.outputs[0].audio
    assert audio is not None and audio.sample_rate == 16000
    assert abs(audio.duration - 0.064) < 0.02 and np.isfinite(audio.samples).all()
    assert float(np.max(np.abs(audio.samples))) <= 0.9
    assert [f for f, _w in seen] == [0.5, 1.0] and "denoising step 2/2" in seen[-1][1]
    assert "(full: audioldm2-diffusers)" in res.text and res.data["seed"] == 3
    again = backend.run(model, text="rain on a tin roof", seconds=0.064)
    other = backend.run(model, text="rain on a tin roof", seconds=0.064, seed=4)
    assert same(again.outputs[0].audio.samples, audio.samples)
    assert not np.array_equal(other.outputs[0].audio.samples, audio.samples)
    long = backend.run(model, text="rain", seconds=3 * 3600)
    assert "limit" in long.text and abs(long.outputs[0].audio.duration - 0.2) < 0.03
    with pytest.raises(BadInput):
        backend.run(model, text="  ", seconds=0.05)


def test_blip_caption_feeds_audioldm2(ldm2_dir: Path, tmp_path: Path) -> None:
    from PIL import Image as PILImage
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
        BlipTextConfig,
        BlipVisionConfig,
    )

    words = sorted({w for line in CORPUS for w in line.split()})
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]), "utf-8")
    tok = BertTokenizer(vocab_file=str(tmp_path / "vocab.txt"))
    text_cfg = BlipTextConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                              num_attention_heads=2, encoder_hidden_size=16, max_position_embeddings=64,
                              bos_token_id=2, sep_token_id=3, pad_token_id=0)
    vision_cfg = BlipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=32, patch_size=8)
    torch.manual_seed(1)
    blip = BlipForConditionalGeneration(BlipConfig(text_config=text_cfg.to_dict(), vision_config=vision_cfg.to_dict()))
    blip.generation_config.decoder_start_token_id = 2
    proc = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    folder = tmp_path / "blip"
    blip.save_pretrained(folder)
    proc.save_pretrained(folder)

    backend = BlipAudioLDM2ImageToAudio(str(folder), sound=tiny_ldm2(ldm2_dir), max_caption_tokens=6, device=DEVICE, fp16=FP16)
    assert backend.describe().installed, backend.describe().reason
    model = backend.load()
    buf = io.BytesIO()
    PILImage.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(buf, "PNG")
    res = backend.run(model, image=Image(buf.getvalue()), seconds=0.064)
    assert "(full: blip-caption-audioldm2)" in res.text and res.outputs[0].audio is not None
    caption = res.data["caption"]
    assert isinstance(caption, str) and (f"'{caption}'" in res.text or "no words" in res.text)
    assert res.data["prompt"] in (f"the sound of {caption}", "ambient room tone")
    with pytest.raises(BadInput):
        backend.run(model, image=Image(b"this is not a png"), seconds=0.064)


def test_musicgen_generates_frames_for_the_asked_duration(tmp_path: Path) -> None:
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
        T5Config,
        T5Tokenizer,
    )

    tok = T5Tokenizer(vocab_file=str(spm_model(tmp_path, 40)), extra_ids=0)
    enc = EncodecConfig(target_bandwidths=[1.5], sampling_rate=16000, audio_channels=1, num_filters=4,
                        upsampling_ratios=[8, 5, 4, 2], codebook_size=32, hidden_size=16, codebook_dim=16,
                        num_residual_layers=1, num_lstm_layers=1)
    dec = MusicgenDecoderConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32,
                                num_codebooks=enc.num_quantizers, max_position_embeddings=128, pad_token_id=32,
                                bos_token_id=32)
    cfg = MusicgenConfig(text_encoder=T5Config(vocab_size=tok.vocab_size, d_model=16, d_ff=32, d_kv=8, num_heads=2,
                                               num_layers=1).to_dict(),
                         audio_encoder=enc.to_dict(), decoder=dec.to_dict())
    torch.manual_seed(0)
    mg = MusicgenForConditionalGeneration(cfg)
    mg.generation_config.decoder_start_token_id = 32
    mg.generation_config.pad_token_id = 32
    folder = tmp_path / "musicgen"
    mg.save_pretrained(folder)
    MusicgenProcessor(feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=16000),
                      tokenizer=tok).save_pretrained(folder)

    backend = MusicgenTextToMusic(str(folder), seed=5, device=DEVICE, fp16=FP16, min_seconds=0.1, max_seconds=0.5)
    assert backend.describe().installed, backend.describe().reason
    model = backend.load()
    assert model.frame_rate == 50 and model.codebooks == enc.num_quantizers
    seen: list[tuple[float | None, str]] = []
    res = backend.run(model, text="calm lofi piano", seconds=0.3, progress=lambda f, w: seen.append((f, w)))
    audio = res.outputs[0].audio
    assert audio is not None and audio.sample_rate == 16000
    assert res.data["frames"] == 15 + enc.num_quantizers - 1
    assert 0.2 <= audio.duration <= 0.3 + 1e-6 and np.isfinite(audio.samples).all()
    assert seen and seen[-1][0] == 1.0 and "(full: musicgen-transformers)" in res.text
    again = backend.run(model, text="calm lofi piano", seconds=0.3)
    assert same(again.outputs[0].audio.samples, audio.samples)
    clamped = backend.run(model, text="calm lofi piano", seconds=100)
    assert "0.5 s limit" in clamped.text


def test_mms_singer_sings_the_melody_length(tmp_path: Path) -> None:
    pytest.importorskip("pyworld")
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    chars = list("abcdefghijklmnopqrstuvwxyz '.,!?-")
    vocab = {"<pad>": 0, **{c: i + 1 for i, c in enumerate(chars)}, "<unk>": len(chars) + 1}
    (tmp_path / "vocab_src.json").write_text(json.dumps(vocab), encoding="utf-8")
    tok = VitsTokenizer(vocab_file=str(tmp_path / "vocab_src.json"), phonemize=False, add_blank=True, normalize=True)
    cfg = VitsConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32, flow_size=16,
        spectrogram_bins=33, upsample_initial_channel=16, upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1, duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16, depth_separable_num_layers=1, sampling_rate=16000)
    torch.manual_seed(4)
    folder = tmp_path / "mms_eng"
    VitsModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)

    backend = MmsWorldSinging(str(folder), device=DEVICE)
    assert backend.describe().installed, backend.describe().reason
    model = backend.load()
    res = backend.run(model, lyrics="la la la", notes="C4 E4 G4:2", tempo=120)
    audio = res.outputs[0].audio
    assert audio is not None and audio.sample_rate == 16000
    assert abs(audio.duration - 2.0) < 0.25  # four beats at 120 BPM
    assert "(full: mms-vits-world-singing)" in res.text and res.data["notes"] == ["C4", "E4", "G4"]
    with pytest.raises(BadInput):
        backend.run(model, lyrics="la", notes="X9")


def test_absent_weights_say_so_in_one_sentence(tmp_path: Path) -> None:
    for backend in (AudioLDM2TextToAudio(), MusicgenTextToMusic(), BlipAudioLDM2ImageToAudio(), MmsWorldSinging(),
                    AudioLDM2TextToAudio(str(tmp_path))):
        info = backend.describe()
        assert not info.installed and info.reason.endswith(".") and info.install_hint
        with pytest.raises(ModelNotInstalled) as exc:
            backend.load()
        assert info.reason.rstrip(".") in str(exc.value)
    assert "hf download cvssp/audioldm2" in AudioLDM2TextToAudio().describe().install_hint


def test_registry_auto_picks_full_on_a_gpu_when_installed(ldm2_dir: Path) -> None:
    from audiogpt.models.generation import backends

    def factory() -> list[Any]:
        return [b for b in backends() if b.task != "text_to_audio"] + [tiny_ldm2(ldm2_dir)]

    from audiogpt.models.generation.lite import ProceduralSoundDesign

    gpu = Registry(device="cuda", factories=[lambda: [ProceduralSoundDesign(), *factory()]])
    assert gpu.select("text_to_audio").name == "audioldm2-diffusers"
    assert gpu.select("text_to_music").name == "algorithmic-composer"  # MusicGen absent: lite it is
    cpu = Registry(device="cpu", factories=[lambda: [ProceduralSoundDesign(), *factory()]])
    assert cpu.select("text_to_audio").name == "procedural-sound-design"
