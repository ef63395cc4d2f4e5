"""GPU batching benchmark: how much dynamic batching buys for the batchable full backends.

Runs the same model classes the full backends load (Whisper for ASR, AST for sound
tagging) at production sizes but with random weights (no hub here), on the GPU when
there is one, at batch sizes 1, 4 and 16, and prints a table plus a JSON last line.
Random weights change nothing about compute, which is what batching is about; the
Whisper decode is a fixed number of steps so every batch does the same work.

    python bench/gpu_batching.py            # cuda when available, else a small CPU run
"""

from __future__ import annotations

import json
import time
from typing import Any


def _sync(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench_whisper(torch: Any, device: str, dtype: Any, sizes: list[int], steps: int) -> list[dict[str, Any]]:
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    # whisper-small geometry (244 M parameters), random weights
    cfg = WhisperConfig(d_model=768, encoder_layers=12, decoder_layers=12, encoder_attention_heads=12,
                        decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072,
                        num_mel_bins=80, vocab_size=51865, max_source_positions=1500, max_target_positions=448)
    model = WhisperForConditionalGeneration(cfg).to(device=device, dtype=dtype).eval()
    rows = []
    for bs in sizes:
        feats = torch.randn(bs, 80, 3000, device=device, dtype=dtype)  # 30 s windows
        start = torch.full((bs, 1), cfg.decoder_start_token_id, device=device, dtype=torch.long)
        with torch.inference_mode():
            for _ in range(2):  # warm-up
                model.generate(feats, decoder_input_ids=start, max_new_tokens=steps, min_new_tokens=steps, do_sample=False)
            _sync(torch, device)
            reps = 3
            t0 = time.perf_counter()
            for _ in range(reps):
                model.generate(feats, decoder_input_ids=start, max_new_tokens=steps, min_new_tokens=steps, do_sample=False)
            _sync(torch, device)
            dt = (time.perf_counter() - t0) / reps
        rows.append({"model": "whisper-small (asr)", "batch": bs, "s_per_batch": dt, "clips_per_s": bs / dt,
                     "audio_s_per_s": bs * 30.0 / dt})
    del model
    return rows


def bench_ast(torch: Any, device: str, dtype: Any, sizes: list[int]) -> list[dict[str, Any]]:
    from transformers import ASTConfig, ASTForAudioClassification

    cfg = ASTConfig(num_labels=527)  # AudioSet AST base geometry, 10.24 s patches
    model = ASTForAudioClassification(cfg).to(device=device, dtype=dtype).eval()
    rows = []
    for bs in sizes:
        x = torch.randn(bs, cfg.max_length, cfg.num_mel_bins, device=device, dtype=dtype)
        with torch.inference_mode():
            for _ in range(2):
                model(x)
            _sync(torch, device)
            reps = 5
            t0 = time.perf_counter()
            for _ in range(reps):
                model(x)
            _sync(torch, device)
            dt = (time.perf_counter() - t0) / reps
        rows.append({"model": "AST base (sound tagging)", "batch": bs, "s_per_batch": dt, "clips_per_s": bs / dt,
                     "audio_s_per_s": bs * 10.24 / dt})
    del model
    return rows


def main() -> None:
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device == "cuda" else torch.float32
    sizes = [1, 4, 16] if device == "cuda" else [1, 4]
    steps = 32 if device == "cuda" else 4
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    rows = bench_whisper(torch, device, dtype, sizes, steps) + bench_ast(torch, device, dtype, sizes)
    print(f"device: {name}, dtype {dtype}, whisper decode {steps} tokens/clip")
    print(f"{'model':28} {'batch':>5} {'s/batch':>9} {'clips/s':>9} {'audio s/s':>10} {'vs batch 1':>10}")
    base: dict[str, float] = {}
    for r in rows:
        if r["batch"] == 1:
            base[r["model"]] = r["clips_per_s"]
        r["speedup_vs_1"] = r["clips_per_s"] / base[r["model"]]
        print(f"{r['model']:28} {r['batch']:5d} {r['s_per_batch']:9.4f} {r['clips_per_s']:9.1f} "
              f"{r['audio_s_per_s']:10.1f} {r['speedup_vs_1']:9.2f}x")
    print(json.dumps({"device": name, "rows": rows}))


if __name__ == "__main__":
    main()
