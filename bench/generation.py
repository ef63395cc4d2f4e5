"""Generation tools benchmark: per tool and backend, load time, speed, peak memory, listen proxies.

Run:  .venv/bin/python bench/generation.py            (lite backends, short runs)
      .venv/bin/python bench/generation.py --full     (also the full backends whose weights are installed)

Each case runs in its own subprocess (peak RSS is that backend's). Speed is seconds of audio
made per second of compute (above 1 = faster than real time). Listen proxies, measured on the
output: text-to-audio: spectral flatness of rain vs siren (broadband vs tonal) and how far a
siren's dominant frequency moves; music: tempo measured from the audio vs asked, onsets a
second for "slow sad piano" vs "fast upbeat drums"; singing: share of voiced frames within a
semitone of the written notes (Harvest, independent of the singer's own DIO check); image:
which scene cues were read.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import table

LITE = {
    "text_to_audio/procedural-sound-design": ("audiogpt.models.generation.lite", "ProceduralSoundDesign"),
    "image_to_audio/colour-cues-to-procedural": ("audiogpt.models.generation.lite", "ColourCuesToSound"),
    "text_to_music/algorithmic-composer": ("audiogpt.models.generation.lite", "AlgorithmicComposer"),
    "singing_synthesis/piper-world-singing": ("audiogpt.models.generation.lite", "WorldSinging"),
}
FULL = {
    "text_to_audio/audioldm2-diffusers": ("audiogpt.models.generation.full_audioldm", "AudioLDM2TextToAudio"),
    "image_to_audio/blip-caption-audioldm2": ("audiogpt.models.generation.full_image", "BlipAudioLDM2ImageToAudio"),
    "text_to_music/musicgen-transformers": ("audiogpt.models.generation.full_musicgen", "MusicgenTextToMusic"),
    "singing_synthesis/mms-vits-world-singing": ("audiogpt.models.generation.full_singing", "MmsWorldSinging"),
}
SECONDS = 10.0
LYRICS = "twinkle twinkle little star how I wonder what you are"
NOTES = "C4 C4 G4 G4 A4 A4 G4:2 F4 F4 E4 E4 D4 D4 C4:2"


def _meadow_png() -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    img = np.zeros((240, 320, 3))
    img[:120] = (100, 160, 235)
    img[120:] = np.clip(np.array([50, 150, 40]) + rng.normal(0, 25, (120, 320, 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(img.astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def child(case: str) -> dict[str, object]:
    import importlib

    import numpy as np

    from audiogpt.models.base import Image
    from audiogpt.models.generation import analysis, singing

    mod, cls = {**LITE, **FULL}[case]
    backend = getattr(importlib.import_module(mod), cls)()
    info = backend.describe()
    if not info.installed:
        return {"case": case, "skipped": info.reason}
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    model = backend.load()
    load_s = time.perf_counter() - t0
    task = case.split("/")[0]
    audio_s = 0.0
    run_s = 0.0
    quality = ""

    def timed(**kw: object) -> object:
        nonlocal audio_s, run_s
        t = time.perf_counter()
        res = backend.run(model, **kw)
        run_s += time.perf_counter() - t
        audio_s += res.outputs[0].audio.duration
        return res

    if task == "text_to_audio":
        rain = timed(text="heavy rain", seconds=SECONDS).outputs[0].audio
        siren = timed(text="an ambulance siren", seconds=SECONDS).outputs[0].audio
        crowd = timed(text="a crowd in a train station", seconds=SECONDS).outputs[0].audio
        r = analysis.spectral_shape(rain.samples, rain.sample_rate)
        s = analysis.spectral_shape(siren.samples, siren.sample_rate)
        c = analysis.spectral_shape(crowd.samples, crowd.sample_rate)
        quality = (f"flatness rain {r.flatness:.2f} / siren {s.flatness:.4f} / crowd {c.flatness:.3f}; "
                   f"siren peak moves {s.peak_hz_spread:.2f} oct; 90% band rain {r.bandwidth_90_hz / 1000:.1f} kHz "
                   f"vs siren {s.bandwidth_90_hz / 1000:.1f} kHz")
    elif task == "image_to_audio":
        res = timed(image=Image(_meadow_png()), seconds=SECONDS)
        quality = f"meadow picture -> {res.data.get('scene') or res.data.get('caption')}"
    elif task == "text_to_music":
        parts = []
        rates = {}
        for text, bpm in (("slow sad piano", 68.0), ("fast upbeat drums", 144.0), ("house music 128 bpm", 128.0)):
            res = timed(text=text, seconds=SECONDS)
            a = res.outputs[0].audio
            est = analysis.estimate_tempo(a.samples, a.sample_rate, bpm / 1.41, bpm * 1.41)
            rates[text] = analysis.onset_rate(a.samples, a.sample_rate)
            parts.append(f"{bpm:.0f}->{est:.0f}")
        quality = (f"tempo asked->measured {', '.join(parts)} BPM; onsets/s slow {rates['slow sad piano']:.1f} "
                   f"vs fast {rates['fast upbeat drums']:.1f}")
    else:
        res = timed(lyrics=LYRICS, notes=NOTES)
        a = res.outputs[0].audio
        f0 = singing.measure_f0(a.samples, a.sample_rate)
        target = np.zeros(f0.size)
        pos = 0
        for _syl, name, secs in res.data["layout"]:
            frames = round(secs / 0.005)
            if name != "rest":
                target[pos + int(0.25 * frames) : pos + int(0.85 * frames)] = singing.midi_hz(
                    singing.parse_notes(name)[0].midi)
            pos += frames
        acc, _n = singing.pitch_accuracy(f0, target)
        quality = f"F0 within a semitone on {acc:.0%} of voiced frames (Harvest); singer's own DIO {res.data['pitch_accuracy']:.0%}"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "load_s": load_s, "speed": audio_s / max(run_s, 1e-9), "audio_s": audio_s,
            "peak_mb": peak, "model_mb": peak - rss0, "quality": quality}


def main(full: bool) -> str:
    rows = []
    cases = {**LITE, **(FULL if full else {})}
    for case in cases:
        proc = subprocess.run([sys.executable, __file__, "--child", case], capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            rows.append([case, "-", "-", "-", "-", f"failed: {proc.stderr.strip().splitlines()[-1][:70]}"])
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        if "skipped" in r:
            rows.append([case, "-", "-", "-", "-", f"not installed: {str(r['skipped'])[:70]}"])
            continue
        rows.append([case, round(r["load_s"], 2), round(r["speed"], 2), round(r["audio_s"], 1), round(r["peak_mb"]),
                     r["quality"]])
    out = "Generation tools, this machine (speed = seconds of audio per second of compute)\n" + table(
        ["tool/backend", "load s", "audio s/s", "audio s", "peak RSS MB", "listen proxies"], rows)
    print(out)
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
    else:
        main(full="--full" in sys.argv)
