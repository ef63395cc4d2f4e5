"""Speech tools benchmark: per tool and lite backend, load time, real-time factor, peak memory, quality.

Run:  .venv/bin/python bench/speech.py

Each backend runs in its own subprocess (so peak RSS is that model's). Test
audio is made here: Piper speech (the project's TTS), white noise at 5 dB SNR
for enhancement, a 0 dB mixture of a Piper voice and the same voice shifted up
~7 semitones for separation (a second synthetic speaker), a higher-pitched
reference for style transfer. Quality figures: WER (ASR, TTS round trip),
SI-SDR gain (enhancement, separation), median-F0 error (style transfer);
translation quality needs foreign-language speech this machine cannot make
well (see tests/test_speech_multilingual.py for the measured word recall).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import table

TEXT = ("The meeting starts at nine in the small conference room. Please send me the quarterly report "
        "before Friday afternoon. Turn left at the second traffic light and park behind the library.")

CASES = {
    "speech_recognition/faster-whisper-base": ("audiogpt.models.speech.whisper_base", "FasterWhisperBase"),
    "speech_recognition/faster-whisper-tiny.en": ("audiogpt.models.speech.asr_lite", "FasterWhisperTinyEn"),
    "text_to_speech/piper-en_US-joe-medium": ("audiogpt.models.speech.tts_piper", "PiperJoeMedium"),
    "speech_translation/whisper-base-translate": ("audiogpt.models.speech.whisper_base", "WhisperBaseTranslate"),
    "style_transfer/piper-world-pitch-formant": ("audiogpt.models.speech.style_lite", "PiperWorldStyle"),
    "speech_enhancement/deepfilternet3": ("audiogpt.models.speech.enhance_lite", "DeepFilterNet3Lite"),
    "speech_separation/harmonic-pitch-separation": ("audiogpt.models.speech.separate_lite", "HarmonicPitchSeparation"),
}


def child(case: str) -> dict[str, object]:
    import importlib

    import numpy as np

    from audiogpt.models.base import Audio
    from audiogpt.models.speech.dsp import to_mono_rate
    from audiogpt.models.speech.metrics import si_sdr, wer
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    tts = PiperJoeMedium()
    tmodel = tts.load()
    speech = tts.run(tmodel, text=TEXT).outputs[0].audio
    speech16 = Audio(to_mono_rate(speech, 16000).astype(np.float32), 16000)
    mod, cls = CASES[case]
    backend = getattr(importlib.import_module(mod), cls)()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    model = backend.load()
    load_s = time.perf_counter() - t0
    quality = ""
    rng = np.random.default_rng(0)
    task = case.split("/")[0]
    t0 = time.perf_counter()
    if task == "speech_recognition":
        res = backend.run(model, audio=speech16)
        dur = speech16.duration
        quality = f"WER {wer(TEXT, res.data['transcript']):.1%}"
    elif task == "text_to_speech":
        res = backend.run(model, text=TEXT)
        dur = res.outputs[0].audio.duration
        from audiogpt.models.speech.whisper_base import FasterWhisperBase

        asr = FasterWhisperBase()
        hyp = asr.run(asr.load(), audio=res.outputs[0].audio).data["transcript"]
        quality = f"round-trip WER {wer(TEXT, hyp):.1%}"
    elif task == "speech_translation":
        res = backend.run(model, audio=speech16, target_language="en")
        dur = speech16.duration
        quality = "English in -> transcript; see tests for de/es recall"
    elif task == "style_transfer":
        ref = tts.run(tmodel, text="This is my voice, a little higher than the default one.").outputs[0].audio
        up = Audio(to_mono_rate(Audio(ref.samples, int(ref.sample_rate * 1.35)), 22050).astype(np.float32), 22050)
        res = backend.run(model, text=TEXT, reference=up)
        dur = res.outputs[0].audio.duration
        d = res.data
        quality = f"F0 error {abs(d['output_f0_median'] - d['reference_f0_median']) / d['reference_f0_median']:.1%}"
    elif task == "speech_enhancement":
        x = speech16.samples
        noise = rng.standard_normal(x.size).astype(np.float32)
        noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (5 / 10))
        res = backend.run(model, audio=Audio((x + noise).astype(np.float32), 16000))
        dur = speech16.duration
        y = res.outputs[0].audio.samples[: x.size]
        quality = f"SI-SDR {si_sdr(y, x) - si_sdr(x + noise, x):+.1f} dB (white, 5 dB SNR)"
    else:
        a = speech16.samples
        other = tts.run(tmodel, text="Our new office opens next month on the corner of Market Street, near the station.").outputs[0].audio
        b = to_mono_rate(Audio(other.samples, int(other.sample_rate / 1.5)), 16000)  # ~7 semitones up
        n = min(a.size, b.size)
        a, b = a[:n], b[:n] * np.sqrt(np.mean(a[:n] ** 2) / np.mean(b[:n] ** 2))
        mix = (a + b).astype(np.float32)
        res = backend.run(model, audio=Audio(mix, 16000))
        dur = n / 16000
        outs = [o.audio.samples[:n] for o in res.outputs]
        best = max((si_sdr(outs[0], a) + si_sdr(outs[1], b), si_sdr(outs[0], b) + si_sdr(outs[1], a)))
        quality = f"SI-SDR {best / 2 - (si_sdr(mix, a) + si_sdr(mix, b)) / 2:+.1f} dB (2 voices, 0 dB)"
    run_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "load_s": load_s, "rtf": run_s / max(dur, 1e-6), "audio_s": dur,
            "peak_mb": peak, "model_mb": peak - rss0, "quality": quality}


def main() -> str:
    rows = []
    for case in CASES:
        proc = subprocess.run([sys.executable, __file__, "--child", case], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            rows.append([case, "-", "-", "-", "-", f"failed: {proc.stderr.strip().splitlines()[-1][:60]}"])
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append([case, round(r["load_s"], 2), round(r["rtf"], 3), round(r["audio_s"], 1), round(r["peak_mb"]), r["quality"]])
    out = "Speech tools, lite backends, this CPU\n" + table(
        ["tool/backend", "load s", "RTF", "audio s", "peak RSS MB", "quality"], rows)
    print(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
    else:
        main()
