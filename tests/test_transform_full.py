"""Full transformation backends: their real loading and inference code on data built in the test.

- measured-HRTF binaural: an HRIR set synthesised here (from the spherical-head
  model, so the right answer is known) and saved as SOFA variables in ``.npz``
  (and as a real ``.sofa`` when h5py is installed);
- latent-diffusion inpainting: AudioLDM's component classes (diffusers
  ``AutoencoderKL``/``UNet2DConditionModel``/``DDIMScheduler``, transformers
  ``SpeechT5HifiGan``) at toy sizes with random weights, saved and loaded back;
- Wav2Lip: the published network at 1/8 width with random weights, saved as a
  DataParallel-style checkpoint and loaded back.

Random weights say nothing about quality, so these check contracts: shapes, rates,
what is kept, what is replaced, and the one-sentence refusals.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from audiogpt.models.base import Audio, BadInput, Image, ModelNotInstalled, have_module
from audiogpt.models.registry import Registry
from audiogpt.models.transform import backends
from audiogpt.models.transform.binaural_head import ear_filters
from audiogpt.models.transform.full_binaural import HrtfFilters, SofaHrtfBinaural, read_hrirs
from audiogpt.models.transform.video import FPS, ffmpeg_exe

SR = 16_000


def notes(seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.5**k * np.sin(2 * np.pi * 330 * (k + 1) * t) for k in range(4)) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def itd_ms(left: np.ndarray, right: np.ndarray, sr: int) -> float:
    n = left.size
    cc = np.fft.irfft(np.fft.rfft(right, 2 * n) * np.conj(np.fft.rfft(left, 2 * n)), 2 * n)
    max_lag = int(0.002 * sr)
    lags = np.concatenate([np.arange(0, max_lag + 1), np.arange(-max_lag, 0)])
    return float(lags[np.argmax(np.concatenate([cc[: max_lag + 1], cc[-max_lag:]]))] / sr * 1000)


def ild_db(left: np.ndarray, right: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(left.astype(np.float64) ** 2) / np.mean(right.astype(np.float64) ** 2)))


# --- measured HRTFs (SOFA) ------------------------------------------------------------------------


def synthetic_sofa_arrays(rate: int = 44_100, taps: int = 256) -> dict[str, np.ndarray]:
    """A SimpleFreeFieldHRIR set on a 15-degree grid, made with the spherical-head model.

    Positions use SOFA's convention (azimuth counter-clockwise: +90 is the left).
    """
    az_sofa, el = np.meshgrid(np.arange(0.0, 360.0, 15.0), np.array([-30.0, 0.0, 30.0]))
    az_sofa, el = az_sofa.ravel(), el.ravel()
    freqs = np.fft.rfftfreq(2 * taps, 1.0 / rate)
    left, right = ear_filters(-az_sofa, el, freqs, rate)
    ir = np.stack([np.fft.irfft(left, 2 * taps)[:, :taps], np.fft.irfft(right, 2 * taps)[:, :taps]], axis=1)
    pos = np.stack([az_sofa, el, np.full_like(el, 1.2)], axis=1)
    return {"Data.IR": ir.astype(np.float32), "SourcePosition": pos, "Data.SamplingRate": np.array([float(rate)])}


@pytest.fixture(scope="module")
def hrtf_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hrtf") / "kemar-like.npz"
    np.savez(path, **synthetic_sofa_arrays())
    return path


def test_hrtf_backend_places_a_left_source_in_the_left_ear(hrtf_npz: Path) -> None:
    backend = SofaHrtfBinaural(hrtf_npz)
    assert backend.describe().installed and backend.kind == "full"
    model = backend.load()
    assert model.ir.shape == (72, 2, 256) and model.sample_rate == 44_100
    rng = np.random.default_rng(0)
    noise = Audio((0.1 * rng.standard_normal(48_000)).astype(np.float32), 48_000)  # the set is resampled to 48 kHz
    result = backend.run(model, audio=noise, azimuth=-90.0)
    left, right = result.outputs[0].audio.samples
    assert ild_db(left, right) > 3.0
    assert 0.5 < itd_ms(left, right, 48_000) <= 0.8
    assert "(full: sofa-hrtf-binaural, 72 measured directions from kemar-like.npz)" in result.text
    moving = backend.run(model, audio=noise, motion="right to left").outputs[0].audio.samples
    q = 48_000 // 4
    assert ild_db(moving[0, :q], moving[1, :q]) < -6 and ild_db(moving[0, -q:], moving[1, -q:]) > 6


def test_hrtf_directions_blend_only_near_neighbours(hrtf_npz: Path) -> None:
    hrirs = read_hrirs(hrtf_npz)
    filters = HrtfFilters(hrirs, 512)
    idx, w = filters.weights(np.array([30.0, 37.5, 100.0]), np.array([0.0, 0.0, 85.0]))
    on_grid = int(idx[0][np.argmax(w[0])])
    assert w[0].max() > 0.99 and hrirs.azimuth[on_grid] == pytest.approx(30.0) and hrirs.elevation[on_grid] == 0.0
    between = {round(float(hrirs.azimuth[i])) for i, wt in zip(idx[1], w[1], strict=True) if wt > 0.3}
    assert between == {30, 45}  # halfway between two measured azimuths: both count
    assert w[2].max() == pytest.approx(1.0)  # straight up is 55 degrees from the nearest: no blending


def test_hrtf_files_that_cannot_be_used_get_one_sentence(tmp_path: Path, hrtf_npz: Path) -> None:
    if SofaHrtfBinaural(None).path is None:  # unless this machine configures a set
        assert "AUDIOGPT_HRTF_SOFA is empty" in SofaHrtfBinaural(None).describe().reason
    assert "does not exist" in SofaHrtfBinaural(tmp_path / "none.sofa").describe().reason
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(ModelNotInstalled, match=r"lacks Data\.IR, SourcePosition"):
        SofaHrtfBinaural(bad).load()
    mono = tmp_path / "mono.npz"
    arrays = synthetic_sofa_arrays()
    arrays["Data.IR"] = arrays["Data.IR"][:, :1]
    np.savez(mono, **arrays)
    with pytest.raises(ModelNotInstalled, match="not a two-ear SimpleFreeFieldHRIR set"):
        SofaHrtfBinaural(mono).load()


def test_a_real_sofa_file_needs_h5py(tmp_path: Path) -> None:
    sofa = tmp_path / "set.sofa"
    if not have_module("h5py"):
        sofa.write_bytes(b"\x89HDF\r\n\x1a\n")
        info = SofaHrtfBinaural(sofa).describe()
        assert not info.installed and "needs h5py" in info.reason
        return
    import h5py  # pragma: no cover - only where h5py is installed

    with h5py.File(sofa, "w") as f:  # pragma: no cover
        for k, v in synthetic_sofa_arrays().items():
            f[k] = v
        f.attrs["SOFAConventions"] = "SimpleFreeFieldHRIR"
    assert read_hrirs(sofa).ir.shape == (72, 2, 256)  # pragma: no cover


def test_registry_picks_lite_on_cpu_and_full_on_gpu(hrtf_npz: Path) -> None:
    lite = next(b for b in backends() if b.task == "mono_to_binaural" and b.kind == "lite")
    full = SofaHrtfBinaural(hrtf_npz)
    assert Registry(factories=[lambda: [lite, full]], device="cpu").select("mono_to_binaural") is lite
    assert Registry(factories=[lambda: [lite, full]], device="cuda").select("mono_to_binaural") is full
    with pytest.raises(ModelNotInstalled, match="Wav2Lip"):
        Registry(preferences={"talking_head": "full"}, factories=[backends]).select("talking_head")


# --- latent diffusion inpainting (AudioLDM components, toy sizes) -------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def audioldm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    out = tmp_path_factory.mktemp("audioldm")
    torch.manual_seed(0)
    AutoencoderKL(in_channels=1, out_channels=1, latent_channels=4, block_out_channels=(8, 16),
                  down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                  layers_per_block=1, norm_num_groups=8).save_pretrained(out / "vae")
    UNet2DConditionModel(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(8, 16),
                         layers_per_block=1, norm_num_groups=8, cross_attention_dim=(8, 16),
                         down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                         up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), class_embed_type="simple_projection",
                         projection_class_embeddings_input_dim=8,
                         class_embeddings_concat=True).save_pretrained(out / "unet")
    DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.0015, beta_end=0.0195,
                  clip_sample=False).save_pretrained(out / "scheduler")
    SpeechT5HifiGan(SpeechT5HifiGanConfig(model_in_dim=64, sampling_rate=16000, upsample_initial_channel=16,
                                          upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8],
                                          resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
                                          normalize_before=False)).save_pretrained(out / "vocoder")
    return out


def test_latent_diffusion_fills_only_the_region(audioldm_dir: Path) -> None:
    from audiogpt.models.transform.full_inpaint import LatentDiffusionInpainting

    backend = LatentDiffusionInpainting(str(audioldm_dir), steps=3, device="cpu")
    assert backend.describe().installed, backend.describe().reason
    model = backend.load()
    assert model.condition is not None and tuple(model.condition.shape) == (1, 8)
    sr = 22_050  # not the model's 16 kHz: resampled in and out
    x = notes(2.0, sr)
    stereo = np.stack([x, 0.5 * x])
    damaged = stereo.copy()
    a, b = int(0.8 * sr), int(1.0 * sr)
    damaged[:, a:b] = 0.0
    result = backend.run(model, audio=Audio(damaged, sr), start=0.8, end=1.0)
    out = result.outputs[0].audio.samples
    assert out.shape == damaged.shape and np.isfinite(out).all()
    np.testing.assert_array_equal(out[:, :a], damaged[:, :a])
    np.testing.assert_array_equal(out[:, b:], damaged[:, b:])
    fill_rms = np.sqrt(np.mean(out[0, a:b] ** 2))
    assert fill_rms > 0  # random weights make no sound worth measuring; the level match is tested below
    assert np.sqrt(np.mean(out[1, a:b] ** 2)) > 0
    assert "(full: audioldm-repaint-inpainting, 3 steps)" in result.text


def test_splice_matches_the_level_around_and_cross_fades() -> None:
    from audiogpt.models.transform.full_inpaint import splice

    x = notes(1.0, SR)
    a, b = int(0.4 * SR), int(0.6 * SR)
    fill = np.random.default_rng(1).standard_normal(b - a) * 0.05  # 8 dB too quiet: within the 12 dB it may lift
    out = splice(x, fill, a, b, SR)
    around = np.sqrt(np.mean(np.concatenate([x[a - 1600 : a], x[b : b + 1600]]) ** 2))
    mid = out[a + 320 : b - 320]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(around, rel=0.2)
    np.testing.assert_array_equal(out[:a], x[:a])
    assert abs(out[a] - x[a]) < 0.05 * np.abs(x).max()  # starts from the original: no step


def test_latent_diffusion_finds_a_dropout_and_refuses_bad_regions(audioldm_dir: Path) -> None:
    from audiogpt.models.transform.full_inpaint import LatentDiffusionInpainting

    backend = LatentDiffusionInpainting(str(audioldm_dir), steps=2, device="cpu")
    model = backend.load()
    x = notes(2.0, SR)
    x[int(1.2 * SR) : int(1.3 * SR)] = 0.0
    result = backend.run(model, audio=Audio(x, SR))
    assert [r["kind"] for r in result.data["regions"]] == ["dropout"]
    with pytest.raises(BadInput, match="longer than half"):
        backend.run(model, audio=Audio(x, SR), start=0.1, end=1.5)


def test_latent_diffusion_without_weights_says_so(tmp_path: Path) -> None:
    from audiogpt.models.transform.full_inpaint import LatentDiffusionInpainting

    (tmp_path / "vae").mkdir()
    info = LatentDiffusionInpainting(str(tmp_path)).describe()
    assert not info.installed and "lacks unet, scheduler, vocoder" in info.reason
    monkey_cache = LatentDiffusionInpainting("someone/absent-model", cache_dir=str(tmp_path)).describe()
    assert "is not in the local model cache" in monkey_cache.reason


# --- Wav2Lip ------------------------------------------------------------------------------------------


def test_wav2lip_network_shapes_and_published_names() -> None:
    from audiogpt.models.transform.wav2lip_net import Wav2Lip

    net = Wav2Lip(width=0.125).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 1, 80, 16), torch.rand(2, 6, 96, 96))
    assert tuple(out.shape) == (2, 3, 96, 96) and float(out.min()) >= 0 and float(out.max()) <= 1
    keys = set(net.state_dict())
    for name in ("face_encoder_blocks.0.0.conv_block.0.weight", "face_encoder_blocks.6.1.conv_block.1.running_var",
                 "audio_encoder.12.conv_block.0.weight", "face_decoder_blocks.1.0.conv_block.0.weight",
                 "output_block.0.conv_block.0.weight", "output_block.1.weight"):
        assert name in keys
    full = Wav2Lip(width=1.0)
    assert full.face_decoder_blocks[1][0].conv_block[0].in_channels == 1024  # the published 512 + 512 concat
    assert full.output_block[0].conv_block[0].in_channels == 80


def test_wav2lip_mel_matches_its_hparams() -> None:
    from audiogpt.models.transform.full_talking_head import mel_windows, wav2lip_mel

    mel = wav2lip_mel(notes(1.0, SR))
    assert mel.shape[0] == 80 and abs(mel.shape[1] - 81) <= 1  # 80 frames a second (hop 200 at 16 kHz)
    assert mel.min() >= -4.0 and mel.max() <= 4.0 and mel.max() > 0
    win = mel_windows(mel, 25)
    assert win.shape == (25, 80, 16)
    np.testing.assert_array_equal(win[3], mel[:, 9:25])  # int(3 * 80 / 25) = 9
    np.testing.assert_array_equal(win[-1], mel[:, -16:])


@pytest.fixture(scope="module")
def wav2lip_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from audiogpt.models.transform.wav2lip_net import Wav2Lip

    torch.manual_seed(0)
    net = Wav2Lip(width=0.125)
    path = tmp_path_factory.mktemp("w2l") / "wav2lip_tiny.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}, "global_step": 1}, path)
    return path


def test_wav2lip_backend_makes_a_synced_mp4(wav2lip_ckpt: Path, tmp_path: Path) -> None:
    import cv2

    from audiogpt.core.media import decode_audio
    from audiogpt.models.transform.full_talking_head import Wav2LipTalkingHead
    from audiogpt.models.transform.talking_head_lite import default_face

    backend = Wav2LipTalkingHead(wav2lip_ckpt, width=0.125, device="cpu", batch_size=8)
    assert backend.describe().installed and backend.kind == "full"
    model = backend.load()
    from audiogpt.models.transform.video import decode_image

    face, _box = default_face(192)
    ok, png = cv2.imencode(".png", face)
    assert ok
    img = decode_image(png.tobytes())  # what the backend animates (enlarged to 256 px)
    x = notes(1.2, SR)
    result = backend.run(model, audio=Audio(x, SR), image=Image(png.tobytes()))
    path = tmp_path / "w2l.mp4"
    path.write_bytes(result.outputs[0].data)
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    found = [ln for ln in probe.splitlines() if ln.strip().startswith("Stream #")]
    assert len(found) == 2 and "Video: h264" in found[0] + found[1] and "Audio: aac" in found[0] + found[1]
    assert result.data["frames"] == 30 and abs(decode_audio(path).duration - 1.2) <= 0.1
    assert result.data["face"]["method"] in ("haar", "skin-heuristic")
    assert "(full: wav2lip)" in result.text
    w, h = result.data["width"], result.data["height"]
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "bgr24", "-"],
                         capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3).astype(np.float32)
    assert abs(frames.shape[0] / FPS - 1.2) <= 0.1
    f = result.data["face"]
    inside = frames[:, f["y"] : f["y"] + f["h"], f["x"] : f["x"] + f["w"]]
    assert np.abs(inside - img[f["y"] : f["y"] + f["h"], f["x"] : f["x"] + f["w"]]).mean() > 10  # re-drawn
    outside = frames[:, : max(1, f["y"] - 4)]
    assert np.abs(outside - img[: max(1, f["y"] - 4)]).mean() < 3  # the rest of the picture is untouched


def test_wav2lip_checkpoints_that_do_not_fit_get_one_sentence(wav2lip_ckpt: Path, tmp_path: Path) -> None:
    from audiogpt.models.transform.full_talking_head import Wav2LipTalkingHead

    with pytest.raises(ModelNotInstalled, match="does not fit the Wav2Lip network"):
        Wav2LipTalkingHead(wav2lip_ckpt, width=0.25, device="cpu").load()
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelNotInstalled, match="could not be read"):
        Wav2LipTalkingHead(junk, device="cpu").load()
    assert "does not exist" in Wav2LipTalkingHead(tmp_path / "missing.pth").describe().reason
