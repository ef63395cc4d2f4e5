"""Benchmark the lite speech backends: load time, real-time factor, memory, round-trip WER.

Run:  .venv/bin/python bench/bench_lite_speech.py [--runs 5]

Each backend is measured in its own subprocess so peak RSS belongs to that
model alone (the baseline column is the same process before loading). The ASR
inputs are Piper speech cut to exactly 5/15/30 s; RTF = processing seconds /
audio seconds, median over ``--runs`` runs after one warm-up run. The
round-trip WER is Piper -> Whisper tiny.en over five sentences spoken three
times each (Piper's sampling noise makes every rendition differ), straight and
through an OGG/Opus 48 kHz voice message (the Discord path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGETS = (5.0, 15.0, 30.0)
WER_ROUNDS = 3  # each sentence spoken and transcribed this many times

SENTENCES = [
    "The meeting starts at nine in the small conference room.",
    "Please send me the quarterly report before Friday afternoon.",
    "A cold wind blew across the harbour as the boats came home.",
    "She ordered two coffees and a slice of lemon cake.",
    "Turn left at the second traffic light and park behind the library.",
]
FILLER = [
    "Our new office opens next month on the corner of Market Street.",
    "The engineers tested the bridge for three days before it opened.",
    "Remember to water the plants while I am away on holiday.",
    "The train to the airport leaves every fifteen minutes.",
    "He painted the fence blue and left the gate open to dry.",
    "Every evening the children read a chapter of their favourite book.",
    "The museum will be closed on Monday for cleaning and repairs.",
    "Bring a warm jacket because the mountain path gets very cold at night.",
]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def current_rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


# --- parts (run in subprocesses) -----------------------------------------------------------


def part_tts(folder: Path, runs: int) -> dict[str, Any]:
    from audiogpt.core import media
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    base = current_rss_mb()
    backend = PiperJoeMedium()
    t0 = time.perf_counter()
    model = backend.load()
    load_s = time.perf_counter() - t0
    after_load = current_rss_mb()

    def speak(text: str):  # type: ignore[no-untyped-def]
        return backend.run(model, text=text).outputs[0].audio

    t0 = time.perf_counter()
    speak(SENTENCES[0])
    first_s = time.perf_counter() - t0

    # texts whose speech is at least 5/15/30 s
    texts: dict[float, str] = {}
    pool = SENTENCES + FILLER
    durs = [speak(s).duration for s in pool]
    for target in TARGETS:
        acc, used = 0.0, []
        for s, d in zip(pool * 3, durs * 3, strict=True):
            used.append(s)
            acc += d + 0.12
            if acc >= target:
                break
        texts[target] = " ".join(used)

    rtf: dict[str, float] = {}
    for target, text in texts.items():
        samples = []
        audio = None
        for _ in range(runs):
            t0 = time.perf_counter()
            audio = speak(text)
            samples.append((time.perf_counter() - t0) / audio.duration)
        rtf[f"{target:g}"] = p50(samples)
        assert audio is not None
        x = audio.samples[: int(target * audio.sample_rate)]  # exactly the target length for ASR
        (folder / f"in_{target:g}.wav").write_bytes(media.encode_audio(type(audio)(x, audio.sample_rate), "wav"))

    for i, s in enumerate(SENTENCES * WER_ROUNDS):  # Piper varies per rendition: several rounds
        audio = speak(s)
        (folder / f"rt_{i}.wav").write_bytes(media.encode_audio(audio, "wav"))
        (folder / f"rt_{i}.ogg").write_bytes(media.encode_voice_message(audio).data)
    return {"load_s": load_s, "first_s": first_s, "rtf": rtf, "base_mb": base,
            "loaded_mb": after_load, "peak_mb": peak_rss_mb()}


def part_asr(folder: Path, runs: int) -> dict[str, Any]:
    from audiogpt.core import media
    from audiogpt.models.speech.asr_lite import FasterWhisperTinyEn
    from audiogpt.models.speech.metrics import wer

    inputs = {t: media.decode_audio(folder / f"in_{t:g}.wav") for t in TARGETS}
    n = len(SENTENCES) * WER_ROUNDS
    rt_wav = [media.decode_audio(folder / f"rt_{i}.wav") for i in range(n)]
    rt_ogg = [media.decode_audio(folder / f"rt_{i}.ogg", sample_rate=16_000) for i in range(n)]

    base = current_rss_mb()
    backend = FasterWhisperTinyEn()
    t0 = time.perf_counter()
    model = backend.load()
    load_s = time.perf_counter() - t0
    after_load = current_rss_mb()

    t0 = time.perf_counter()
    backend.run(model, audio=inputs[5.0])
    first_s = time.perf_counter() - t0

    rtf: dict[str, float] = {}
    for target, audio in inputs.items():
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            backend.run(model, audio=audio)
            samples.append((time.perf_counter() - t0) / audio.duration)
        rtf[f"{target:g}"] = p50(samples)

    hyp_wav = [backend.run(model, audio=a).data["transcript"] for a in rt_wav]
    hyp_ogg = [backend.run(model, audio=a).data["transcript"] for a in rt_ogg]
    return {"load_s": load_s, "first_s": first_s, "rtf": rtf, "base_mb": base,
            "loaded_mb": after_load, "peak_mb": peak_rss_mb(),
            "wer_wav": wer(SENTENCES * WER_ROUNDS, hyp_wav), "wer_ogg": wer(SENTENCES * WER_ROUNDS, hyp_ogg),
            "hyps": hyp_wav[: len(SENTENCES)]}


# --- driver ---------------------------------------------------------------------------------


def run_part(part: str, folder: Path, runs: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--part", part, "--dir", str(folder), "--runs", str(runs)],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{part} part failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--part", choices=["tts", "asr"])
    ap.add_argument("--dir", type=Path)
    args = ap.parse_args()
    if args.part:
        fn = part_tts if args.part == "tts" else part_asr
        print(json.dumps(fn(args.dir, args.runs)))
        return

    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        folder = Path(tmp)
        tts = run_part("tts", folder, args.runs)
        asr = run_part("asr", folder, args.runs)

    print(f"lite speech on {os.cpu_count()} x {cpu_name()}, Python {platform.python_version()}, "
          f"{args.runs} runs per RTF (p50, after a warm-up)\n")
    head = ("| backend | load s | first call s | RTF 5 s | RTF 15 s | RTF 30 s | "
            "RSS base / loaded / peak MB | round-trip WER |")
    print(head)
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    wer_cell = (f"{asr['wer_wav']:.1%} (WAV), {asr['wer_ogg']:.1%} (via OGG/Opus 48k); "
                f"{len(SENTENCES)} sentences x {WER_ROUNDS}")
    for name, r, w in (("faster-whisper-tiny.en (ASR)", asr, wer_cell),
                       ("piper-en_US-joe-medium (TTS)", tts, "(speaker side of the same test)")):
        print(f"| {name} | {r['load_s']:.2f} | {r['first_s']:.2f} | {r['rtf']['5']:.3f} | {r['rtf']['15']:.3f} | "
              f"{r['rtf']['30']:.3f} | {r['base_mb']:.0f} / {r['loaded_mb']:.0f} / {r['peak_mb']:.0f} | {w} |")
    print("\nround-trip transcripts, first round (Whisper tiny.en on Piper speech):")
    for ref, hyp in zip(SENTENCES, asr["hyps"], strict=True):
        print(f"  ref: {ref}\n  hyp: {hyp}")


if __name__ == "__main__":
    main()
