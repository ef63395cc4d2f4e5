"""Full speech enhancement and separation: Conv-TasNet in plain torch, Asteroid checkpoints.

No enhancement or separation model exists in ``transformers``, and speechbrain,
asteroid and torchaudio cannot be installed beside the project's torch, so the
network is written here from the paper (Luo & Mesgarani, "Conv-TasNet:
Surpassing ideal time-frequency magnitude masking for speech separation",
TASLP 2019): a learned 1-D conv encoder, a temporal convolutional network of
dilated depthwise-separable blocks that predicts one mask per source, and a
transposed-conv decoder. Module names follow Asteroid's ``ConvTasNet`` so its
published checkpoints load unchanged, e.g. ``JorisCos/ConvTasNet_Libri2Mix_sepclean_16k``
(separation, 2 sources) and ``JorisCos/ConvTasNet_Libri1Mix_enhsingle_16k``
(enhancement, 1 source).

Checkpoint layout (Asteroid's ``serialize()``; a ``torch.save`` of a dict, the
file ``pytorch_model.bin`` of the Hugging Face repository)::

    {"model_name": "ConvTasNet",
     "model_args": {"n_src": 2, "fb_name": "free", "n_filters": 512, "kernel_size": 32,
                    "stride": 16, "sample_rate": 16000, "bn_chan": 128, "hid_chan": 512,
                    "skip_chan": 128, "conv_kernel_size": 3, "n_blocks": 8, "n_repeats": 3,
                    "norm_type": "gLN", "mask_act": "relu", "causal": False,
                    "encoder_activation": None, ...},      # unknown keys are ignored
     "state_dict": {
        "encoder.filterbank._filters":            (n_filters, 1, kernel_size),
        "decoder.filterbank._filters":            (n_filters, 1, kernel_size),
        "masker.bottleneck.0.gamma" / ".beta":    (n_filters,)   # gLN/cLN
        "masker.bottleneck.1.weight" / ".bias":   (bn_chan, n_filters, 1)
        "masker.TCN.{i}.shared_block.0.weight":   (hid_chan, bn_chan, 1)  (+ .bias)
        "masker.TCN.{i}.shared_block.1.weight":   (1,)  PReLU
        "masker.TCN.{i}.shared_block.2.gamma/beta": (hid_chan,)
        "masker.TCN.{i}.shared_block.3.weight":   (hid_chan, 1, conv_kernel_size)  (+ .bias;
                                                   "3.0.weight" when causal)
        "masker.TCN.{i}.shared_block.4.weight":   (1,)  PReLU
        "masker.TCN.{i}.shared_block.5.gamma/beta": (hid_chan,)
        "masker.TCN.{i}.res_conv.weight/bias":    (bn_chan, hid_chan, 1)
        "masker.TCN.{i}.skip_conv.weight/bias":   (skip_chan, hid_chan, 1)  (absent if skip_chan 0)
        "masker.mask_net.0.weight":               (1,)  PReLU
        "masker.mask_net.1.weight/bias":          (n_src * n_filters, skip_chan or bn_chan, 1)
     }}

with ``i`` in ``range(n_blocks * n_repeats)`` and block ``i`` dilated by
``2 ** (i % n_blocks)``. The weights are found in a configured folder
(``local_dir`` holding ``pytorch_model.bin``) or in the Hugging Face cache,
never downloaded at run time; they load with ``torch.load(weights_only=True)``.
Long clips run in overlapping 30 s chunks (for separation, each chunk's sources
are matched to the previous chunk's by correlation over the overlap).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendBase,
    BackendResult,
    BadInput,
    ModelNotInstalled,
    OutputFile,
    have_module,
)
from audiogpt.models.speech.dsp import to_mono_rate

log = logging.getLogger(__name__)

WEIGHTS_FILE = "pytorch_model.bin"
SEPARATION_MODEL = "JorisCos/ConvTasNet_Libri2Mix_sepclean_16k"
ENHANCEMENT_MODEL = "JorisCos/ConvTasNet_Libri1Mix_enhsingle_16k"
SILENCE_PEAK = 1e-4
MAX_DURATION_S = 1800.0
OVERLAP_S = 2.0
EPS = 1e-8

# Asteroid's ConvTasNet defaults, used for keys a checkpoint leaves out.
DEFAULT_ARGS: dict[str, Any] = {
    "n_src": 2,
    "fb_name": "free",
    "n_filters": 512,
    "kernel_size": 16,
    "stride": 8,
    "sample_rate": 8000,
    "out_chan": None,
    "bn_chan": 128,
    "hid_chan": 512,
    "skip_chan": 128,
    "conv_kernel_size": 3,
    "n_blocks": 8,
    "n_repeats": 3,
    "norm_type": "gLN",
    "mask_act": "sigmoid",
    "causal": False,
    "encoder_activation": None,
}
_NORMS = ("gLN", "cLN")
_MASK_ACTS = ("relu", "sigmoid", "softmax", "linear", None)


def normalise_args(raw: dict[str, Any]) -> dict[str, Any]:
    """Checkpoint ``model_args`` completed with defaults and checked; raises ValueError if unsupported."""
    args = dict(DEFAULT_ARGS)
    args.update({k: v for k, v in raw.items() if k in DEFAULT_ARGS})
    if raw.get("in_chan") not in (None, args["n_filters"]):
        raise ValueError(f"in_chan {raw['in_chan']} differs from n_filters {args['n_filters']}")
    if args["fb_name"] != "free":
        raise ValueError(f"filterbank '{args['fb_name']}' is not supported (only 'free')")
    if args["norm_type"] not in _NORMS:
        raise ValueError(f"norm_type '{args['norm_type']}' is not supported ({', '.join(_NORMS)})")
    if args["mask_act"] not in _MASK_ACTS:
        raise ValueError(f"mask_act '{args['mask_act']}' is not supported")
    if args["encoder_activation"] not in (None, "linear", "relu"):
        raise ValueError(f"encoder_activation '{args['encoder_activation']}' is not supported")
    if args["out_chan"] not in (None, args["n_filters"]):
        raise ValueError("out_chan different from n_filters is not supported")
    for key in ("n_src", "n_filters", "kernel_size", "stride", "sample_rate", "bn_chan", "hid_chan",
                "conv_kernel_size", "n_blocks", "n_repeats"):
        args[key] = int(args[key])
        if args[key] <= 0:
            raise ValueError(f"{key} must be positive")
    args["skip_chan"] = int(args["skip_chan"] or 0)
    args["causal"] = bool(args["causal"])
    return args


@lru_cache(maxsize=1)
def _torch_classes() -> SimpleNamespace:
    """The torch modules, defined on first use so that importing this file stays cheap."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class GlobalLayerNorm(nn.Module):
        """gLN: normalise over channels and time together (the paper's non-causal norm)."""

        def __init__(self, channels: int) -> None:
            super().__init__()
            self.gamma = nn.Parameter(torch.ones(channels))
            self.beta = nn.Parameter(torch.zeros(channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean = x.mean(dim=(1, 2), keepdim=True)
            var = (x - mean).pow(2).mean(dim=(1, 2), keepdim=True)
            return (x - mean) / (var + EPS).sqrt() * self.gamma[:, None] + self.beta[:, None]

    class ChannelLayerNorm(GlobalLayerNorm):
        """cLN: normalise over channels at each time step."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            mean = x.mean(dim=1, keepdim=True)
            var = (x - mean).pow(2).mean(dim=1, keepdim=True)
            return (x - mean) / (var + EPS).sqrt() * self.gamma[:, None] + self.beta[:, None]

    def norm_layer(kind: str, channels: int) -> nn.Module:
        return GlobalLayerNorm(channels) if kind == "gLN" else ChannelLayerNorm(channels)

    class Chop(nn.Module):
        """Drop the right padding of a causal convolution."""

        def __init__(self, size: int) -> None:
            super().__init__()
            self.size = size

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[..., : -self.size] if self.size else x

    class TemporalBlock(nn.Module):
        """1x1 conv -> PReLU -> norm -> dilated depthwise conv -> PReLU -> norm; residual + skip outs."""

        def __init__(self, in_chan: int, hid_chan: int, skip_chan: int, kernel: int, dilation: int,
                     norm: str, causal: bool) -> None:
            super().__init__()
            pad = (kernel - 1) * dilation if causal else (kernel - 1) * dilation // 2
            depthwise: nn.Module = nn.Conv1d(hid_chan, hid_chan, kernel, padding=pad, dilation=dilation,
                                             groups=hid_chan)
            if causal:
                depthwise = nn.Sequential(depthwise, Chop(pad))
            self.shared_block = nn.Sequential(
                nn.Conv1d(in_chan, hid_chan, 1), nn.PReLU(), norm_layer(norm, hid_chan),
                depthwise, nn.PReLU(), norm_layer(norm, hid_chan),
            )
            self.res_conv = nn.Conv1d(hid_chan, in_chan, 1)
            self.skip_chan = skip_chan
            if skip_chan:
                self.skip_conv = nn.Conv1d(hid_chan, skip_chan, 1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            shared = self.shared_block(x)
            return self.res_conv(shared), (self.skip_conv(shared) if self.skip_chan else None)

    class MaskNet(nn.Module):
        """The separator: bottleneck, stacked dilated blocks, one mask per source."""

        def __init__(self, a: dict[str, Any]) -> None:
            super().__init__()
            n, bn = a["n_filters"], a["bn_chan"]
            self.n_src, self.n_filters, self.mask_act = a["n_src"], n, a["mask_act"]
            self.skip_chan = a["skip_chan"]
            self.bottleneck = nn.Sequential(norm_layer(a["norm_type"], n), nn.Conv1d(n, bn, 1))
            self.TCN = nn.ModuleList(
                TemporalBlock(bn, a["hid_chan"], self.skip_chan, a["conv_kernel_size"], 2**b,
                              a["norm_type"], a["causal"])
                for _ in range(a["n_repeats"]) for b in range(a["n_blocks"])
            )
            self.mask_net = nn.Sequential(nn.PReLU(), nn.Conv1d(self.skip_chan or bn, self.n_src * n, 1))

        def forward(self, w: torch.Tensor) -> torch.Tensor:
            out = self.bottleneck(w)
            skip_sum: torch.Tensor | None = None
            for block in self.TCN:
                residual, skip = block(out)
                out = out + residual
                if skip is not None:
                    skip_sum = skip if skip_sum is None else skip_sum + skip
            score = self.mask_net(skip_sum if skip_sum is not None else out)
            score = score.view(w.shape[0], self.n_src, self.n_filters, w.shape[-1])
            if self.mask_act == "relu":
                return F.relu(score)
            if self.mask_act == "sigmoid":
                return torch.sigmoid(score)
            if self.mask_act == "softmax":
                return torch.softmax(score, dim=1)
            return score

    class FreeFilterbank(nn.Module):
        def __init__(self, n_filters: int, kernel_size: int) -> None:
            super().__init__()
            self._filters = nn.Parameter(torch.empty(n_filters, 1, kernel_size))
            nn.init.xavier_normal_(self._filters)

    class Codec(nn.Module):
        """Holds a filterbank under ``.filterbank`` (Asteroid's Encoder/Decoder naming)."""

        def __init__(self, n_filters: int, kernel_size: int) -> None:
            super().__init__()
            self.filterbank = FreeFilterbank(n_filters, kernel_size)

    class ConvTasNet(nn.Module):
        """Waveform ``(batch, time)`` -> sources ``(batch, n_src, time)``."""

        def __init__(self, args: dict[str, Any]) -> None:
            super().__init__()
            self.args = normalise_args(args)
            a = self.args
            self.stride = a["stride"]
            self.encoder = Codec(a["n_filters"], a["kernel_size"])
            self.masker = MaskNet(a)
            self.decoder = Codec(a["n_filters"], a["kernel_size"])

        @property
        def sample_rate(self) -> int:
            return int(self.args["sample_rate"])

        @property
        def n_src(self) -> int:
            return int(self.args["n_src"])

        def forward(self, wav: torch.Tensor) -> torch.Tensor:
            batch, length = wav.shape
            k = self.args["kernel_size"]
            if length < k:  # the encoder needs one full filter length
                wav = F.pad(wav, (0, k - length))
            w = F.conv1d(wav[:, None, :], self.encoder.filterbank._filters, stride=self.stride)
            if self.args["encoder_activation"] == "relu":
                w = F.relu(w)
            masks = self.masker(w)
            masked = (masks * w[:, None]).reshape(batch * self.n_src, w.shape[1], w.shape[2])
            out = F.conv_transpose1d(masked, self.decoder.filterbank._filters, stride=self.stride)
            out = out.reshape(batch, self.n_src, -1)
            if out.shape[-1] < length:
                out = F.pad(out, (0, length - out.shape[-1]))
            return out[..., :length]

    return SimpleNamespace(torch=torch, ConvTasNet=ConvTasNet)


def args_from_state(args: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """``args`` with every size the weights themselves show taken from their shapes.

    Asteroid's ``model_args`` changed names across versions (the masker's kernel was
    once ``kernel_size`` too, clashing with the filterbank's), so the shapes are the
    ground truth; only the dilation pattern (``n_blocks`` x ``n_repeats``) must come
    from the arguments.
    """
    def shape(key: str) -> tuple[int, ...] | None:
        t = state.get(key)
        return tuple(t.shape) if t is not None else None

    enc = shape("encoder.filterbank._filters")
    if enc is not None:
        args["n_filters"], args["kernel_size"] = enc[0], enc[2]
        args.pop("in_chan", None)
    bott = shape("masker.bottleneck.1.weight")
    if bott is not None:
        args["bn_chan"] = bott[0]
    first = shape("masker.TCN.0.shared_block.0.weight")
    if first is not None:
        args["hid_chan"] = first[0]
    depth = shape("masker.TCN.0.shared_block.3.weight") or shape("masker.TCN.0.shared_block.3.0.weight")
    if depth is not None:
        args["conv_kernel_size"] = depth[2]
        args["causal"] = "masker.TCN.0.shared_block.3.0.weight" in state
    skip = shape("masker.TCN.0.skip_conv.weight")
    args["skip_chan"] = skip[0] if skip is not None else 0
    mask = shape("masker.mask_net.1.weight")
    if mask is not None and enc is not None:
        args["n_src"] = mask[0] // enc[0]
    return args


def build_model(args: dict[str, Any]) -> Any:
    """A randomly initialised Conv-TasNet for ``args`` (Asteroid ``model_args``)."""
    return _torch_classes().ConvTasNet(args)


def save_checkpoint(model: Any, path: Path) -> Path:
    """Write ``model`` in Asteroid's serialised layout (what the Hub's ``pytorch_model.bin`` holds)."""
    torch = _torch_classes().torch
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "model_name": "ConvTasNet",
        "model_args": dict(model.args),
        "state_dict": model.state_dict(),
        "infos": {"software_versions": {"torch_version": str(torch.__version__)}},
    }, path)
    return path


def load_checkpoint(path: Path, device: str = "cpu") -> Any:
    """Build the model a checkpoint describes and load its weights (``weights_only``, strict)."""
    torch = _torch_classes().torch
    from torch.torch_version import TorchVersion

    # Asteroid stores torch.__version__ (a TorchVersion, a str subclass) in "infos"; allow
    # just that class beside the plain types weights_only accepts
    with torch.serialization.safe_globals([TorchVersion]):
        conf = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(conf, dict) or "state_dict" not in conf or "model_args" not in conf:
        raise ValueError("not an Asteroid model file (needs 'model_args' and 'state_dict')")
    name = conf.get("model_name", "ConvTasNet")
    if name != "ConvTasNet":
        raise ValueError(f"it holds a {name}, not a ConvTasNet")
    state = conf["state_dict"]
    model = build_model(args_from_state(dict(conf["model_args"]), state))
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()


def hf_cache_file(model_id: str, filename: str = WEIGHTS_FILE) -> Path | None:
    """``filename`` of ``model_id`` in the local Hugging Face cache, found without any network."""
    hub = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if not hub:
        home = os.environ.get("HF_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
        hub = os.path.join(home, "hub")
    repo = Path(hub) / ("models--" + model_id.replace("/", "--"))
    ref = repo / "refs" / "main"
    if ref.is_file():
        candidate = repo / "snapshots" / ref.read_text(encoding="utf-8").strip() / filename
        if candidate.is_file():
            return candidate
    snaps = repo / "snapshots"
    if snaps.is_dir():
        found = sorted(snaps.glob(f"*/{filename}"), key=lambda p: p.stat().st_mtime, reverse=True)
        if found:
            return found[0]
    return None


@dataclass
class LoadedConvTasNet:
    """What ``load()`` returns: the network, where it runs, and where it came from."""

    net: Any
    device: str
    weights: Path

    @property
    def sample_rate(self) -> int:
        return int(self.net.sample_rate)

    @property
    def n_src(self) -> int:
        return int(self.net.n_src)


def _best_permutation(prev: np.ndarray, cur: np.ndarray) -> list[int]:
    """Order of ``cur``'s sources that best matches ``prev`` (both ``(n_src, overlap)``)."""
    import itertools

    n = prev.shape[0]
    norm = np.linalg.norm(prev, axis=1)[:, None] * np.linalg.norm(cur, axis=1)[None, :] + 1e-9
    corr = np.abs(prev @ cur.T) / norm
    if n > 6:  # greedy beyond 720 permutations
        order, free = [], set(range(n))
        for i in range(n):
            j = max(free, key=lambda j, i=i: corr[i, j])
            order.append(j)
            free.discard(j)
        return order
    return list(max(itertools.permutations(range(n)), key=lambda p: sum(corr[i, p[i]] for i in range(n))))


def separate_waveform(loaded: LoadedConvTasNet, x: np.ndarray, chunk_s: float) -> np.ndarray:
    """Run the network on mono ``x`` (model rate): ``(n_src, len(x))``, chunked past ``chunk_s``."""
    torch = _torch_classes().torch
    sr = loaded.sample_rate
    chunk = max(int(chunk_s * sr), sr)
    overlap = min(int(OVERLAP_S * sr), chunk // 4)

    def infer(seg: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(seg, dtype=np.float32))[None].to(loaded.device)
            return loaded.net(t)[0].float().cpu().numpy()

    if x.size <= chunk:
        return infer(x)
    n_src = loaded.n_src
    out = np.zeros((n_src, x.size), dtype=np.float32)
    step = chunk - overlap
    prev_tail: np.ndarray | None = None
    for start in range(0, x.size, step):
        seg = infer(x[start : start + chunk])
        if prev_tail is not None and n_src > 1:
            seg = seg[_best_permutation(prev_tail, seg[:, : prev_tail.shape[1]])]
        n = seg.shape[1]
        if start > 0:  # linear crossfade over the overlap
            ov = min(overlap, n)
            fade = np.linspace(0.0, 1.0, ov, dtype=np.float32)
            out[:, start : start + ov] = out[:, start : start + ov] * (1 - fade) + seg[:, :ov] * fade
            out[:, start + ov : start + n] = seg[:, ov:]
        else:
            out[:, :n] = seg
        prev_tail = seg[:, max(0, n - overlap) :] if n > overlap else None
        if start + chunk >= x.size:
            break
    return out


class _ConvTasNetBackend(BackendBase):
    """Shared weights discovery, describe and load for the two Conv-TasNet backends."""

    name = "convtasnet"
    task = ""
    kind = "full"
    default_model = SEPARATION_MODEL
    purpose = "separation"

    def __init__(self, model_id: str | None = None, local_dir: str | Path | None = None,
                 device: str = "auto", chunk_s: float = 30.0) -> None:
        self.model_id = model_id or self.default_model
        self.local_dir = Path(local_dir).expanduser() if local_dir else None
        self.device = device
        self.chunk_s = chunk_s

    def _weights(self) -> Path | None:
        if self.local_dir is not None:
            path = self.local_dir if self.local_dir.suffix == ".bin" else self.local_dir / WEIGHTS_FILE
            return path if path.is_file() else None
        return hf_cache_file(self.model_id)

    def _install_hint(self) -> str:
        if self.local_dir is not None:
            return f"put {WEIGHTS_FILE} of {self.model_id} in {self.local_dir}"
        return f"download them once with `huggingface-cli download {self.model_id}`"

    def _missing(self) -> str:
        if not have_module("torch"):
            return f"The Conv-TasNet {self.purpose} model ({self.model_id}) needs PyTorch, which is not installed."
        if self._weights() is None:
            where = f"in {self.local_dir}" if self.local_dir is not None else "in the local Hugging Face cache"
            return f"The Conv-TasNet {self.purpose} weights ({self.model_id}) are not {where}."
        return ""

    info_licence = "code Apache-2.0 (this project); JorisCos Asteroid weights CC BY-SA 4.0"
    info_memory_mb = 400
    model_files = (WEIGHTS_FILE,)  # all the loader reads (`audiogpt models pull` fetches only this)

    def hub_models(self) -> tuple[Any, ...]:
        """The hub repo ``audiogpt models`` lists and pulls (none for a configured folder or file)."""
        from audiogpt.models.speech.full_common import HFModel, hf_cache_dir

        # _weights() looks in the environment's HF cache, so that is where a pull must put it
        return () if self.local_dir is not None else (HFModel(self.model_id, None, str(hf_cache_dir())),)

    @property
    def install_hint(self) -> str:  # type: ignore[override]
        return "pip install 'audiogpt[full]'" if not have_module("torch") else self._install_hint()

    @property
    def info_model(self) -> str:  # type: ignore[override]
        return f"Conv-TasNet ({self.model_id})"

    @property
    def info_description(self) -> str:  # type: ignore[override]
        return self.describe_text()

    def describe_text(self) -> str:
        return ""

    def load(self) -> LoadedConvTasNet:
        reason = self._missing()
        if reason:
            info = self.describe()
            raise ModelNotInstalled(reason.rstrip(".") + f"; {info.install_hint}.")
        from audiogpt.models.runtime import pick_device

        weights = self._weights()
        assert weights is not None
        device = pick_device(self.device)
        t0 = time.perf_counter()
        try:
            net = load_checkpoint(weights, device)
        except Exception as exc:  # a wrong or damaged file must say so, not crash the worker
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200].rstrip(".")
            raise ModelNotInstalled(f"The Conv-TasNet file {weights} could not be loaded ({why}).") from exc
        loaded = LoadedConvTasNet(net=net, device=device, weights=weights)
        self._check(loaded)
        log.info("loaded %s (%s, %d sources, %d Hz) on %s in %.2f s", self.name, weights,
                 loaded.n_src, loaded.sample_rate, device, time.perf_counter() - t0)
        return loaded

    def _check(self, loaded: LoadedConvTasNet) -> None:
        """Refuse a checkpoint that does not fit this backend's task."""

    def _prepare(self, audio: Audio) -> tuple[float, int]:
        if not isinstance(audio, Audio):
            raise BadInput(f"Speech {self.purpose} needs an audio clip.")
        if audio.frames == 0 or audio.sample_rate <= 0:
            raise BadInput("The audio clip is empty.")
        if audio.duration > MAX_DURATION_S:
            raise BadInput(f"The clip is {audio.duration / 60:.0f} minutes long; speech {self.purpose} "
                           f"takes up to {MAX_DURATION_S / 60:.0f} minutes.")
        return audio.duration, int(audio.sample_rate)

    def _sources(self, loaded: LoadedConvTasNet, audio: Audio) -> tuple[np.ndarray, float]:
        """The model's sources at the input's rate, ``(n_src, frames)``, and the seconds it took."""
        x = to_mono_rate(audio, loaded.sample_rate)
        t0 = time.perf_counter()
        est = separate_waveform(loaded, x, self.chunk_s)
        took = time.perf_counter() - t0
        # A model trained on a scale-invariant loss has no set output level: match the
        # mixture's (Asteroid's separate() does the same), then keep clear of clipping.
        est *= float(np.abs(x).sum()) / max(float(np.abs(est).sum()), 1e-9)
        peak = float(np.max(np.abs(est))) if est.size else 0.0
        if peak > 0.99:
            est *= 0.99 / peak
        sr = int(audio.sample_rate)
        out = np.zeros((est.shape[0], audio.frames), dtype=np.float32)
        for i, src in enumerate(est):
            y = to_mono_rate(Audio(src, loaded.sample_rate), sr) if sr != loaded.sample_rate else src
            n = min(y.size, audio.frames)
            out[i, :n] = np.clip(y[:n], -1.0, 1.0)  # resampling may ring a little past the peak
        return out, took


class ConvTasNetEnhance(_ConvTasNetBackend):
    """Conv-TasNet with one source (default JorisCos/ConvTasNet_Libri1Mix_enhsingle_16k)."""

    name = "convtasnet-enhance"
    task = "speech_enhancement"
    default_model = ENHANCEMENT_MODEL
    purpose = "enhancement"

    def describe_text(self) -> str:
        return "Removes background noise from one speaker's speech (Conv-TasNet trained on Libri1Mix, 16 kHz)."

    def _check(self, loaded: LoadedConvTasNet) -> None:
        if loaded.n_src != 1:
            raise ModelNotInstalled(f"{self.model_id} separates {loaded.n_src} sources; speech enhancement "
                                    "needs a one-source Conv-TasNet such as " + ENHANCEMENT_MODEL + ".")

    def run(self, model: LoadedConvTasNet, *, audio: Audio) -> BackendResult:
        duration, sr = self._prepare(audio)
        data: dict[str, Any] = {"backend_rate": model.sample_rate, "duration": round(duration, 3),
                                "sample_rate": sr, "channels_in": audio.channels, "device": model.device}
        if float(np.max(np.abs(audio.samples))) < SILENCE_PEAK:
            data["silent"] = True
            return BackendResult(text=f"The clip is silent ({duration:.1f} s): there is nothing to clean up.",
                                 data=data)
        out, took = self._sources(model, audio)
        data.update({"seconds": round(took, 3), "rtf": round(took / max(duration, 1e-9), 4)})
        mono = " (the stereo input was mixed to mono)" if audio.channels > 1 else ""
        return BackendResult(
            text=f"Removed the background noise from the {duration:.1f} s clip with Conv-TasNet{mono}.",
            outputs=[OutputFile(name="enhanced", audio=Audio(out[0], sr),
                                description="The speech with background noise removed.")],
            data=data,
        )


class ConvTasNetSeparate(_ConvTasNetBackend):
    """Conv-TasNet with n sources (default JorisCos/ConvTasNet_Libri2Mix_sepclean_16k, 2 voices)."""

    name = "convtasnet-separate"
    task = "speech_separation"
    default_model = SEPARATION_MODEL
    purpose = "separation"

    def describe_text(self) -> str:
        return ("Splits overlapping voices into one track per speaker (Conv-TasNet trained on "
                "Libri2Mix, 16 kHz); the number of speakers is fixed by the model (2 by default).")

    def run(self, model: LoadedConvTasNet, *, audio: Audio, speakers: int | None = None) -> BackendResult:
        duration, sr = self._prepare(audio)
        n = model.n_src
        if speakers is not None and not 2 <= int(speakers) <= 8:
            raise BadInput(f"Speech separation splits 2 to 8 speakers; {speakers} were asked for.")
        data: dict[str, Any] = {"speakers": n, "backend_rate": model.sample_rate, "duration": round(duration, 3),
                                "sample_rate": sr, "channels_in": audio.channels, "device": model.device,
                                "method": self.name}
        if float(np.max(np.abs(audio.samples))) < SILENCE_PEAK:
            data["silent"] = True
            return BackendResult(text=f"The clip is silent ({duration:.1f} s): there are no voices to separate.",
                                 data=data)
        out, took = self._sources(model, audio)
        per = []
        outputs = []
        for i in range(n):
            rms = float(np.sqrt(np.mean(out[i].astype(np.float64) ** 2)))
            per.append({"name": f"speaker{i + 1}", "rms_dbfs": round(20 * float(np.log10(max(rms, 1e-10))), 1)})
            outputs.append(OutputFile(name=f"speaker{i + 1}", audio=Audio(out[i], sr),
                                      description=f"Speaker {i + 1} of {n}."))
        data.update({"per_speaker": per, "seconds": round(took, 3), "rtf": round(took / max(duration, 1e-9), 4)})
        note = ""
        if speakers is not None and int(speakers) != n:
            note = f" This model always separates {n} voices, so {n} tracks came back rather than {speakers}."
            data["requested_speakers"] = int(speakers)
        mono = " The stereo input was mixed to mono first." if audio.channels > 1 else ""
        return BackendResult(
            text=f"Split the clip into {n} tracks, one per speaker, with Conv-TasNet.{note}{mono}",
            outputs=outputs,
            data=data,
        )
