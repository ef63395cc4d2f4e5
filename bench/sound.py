"""Sound tools benchmark: per tool and backend, load time, real-time factor, peak memory, quality.

Run:  .venv/bin/python bench/sound.py            (about a minute on 2 CPU cores)

A 60 s scene is built here at known times: a noise floor throughout, Piper
speech (the project's TTS) at 5 s and 35 s, 1 kHz beeps at 20 s and 50 s.
Each backend runs in its own subprocess, so peak RSS is that backend's.
Quality figures:
- sound_detection: |start|/|end| error of the detected speech segments (s), and
  whether the beeps were found;
- target_sound_detection: IoU of the segments with the truth for "speech" and "a beep";
- sound_extraction: SI-SDR gain (dB) of the extracted beeps and speech over the mix;
- audio_to_text: whether the caption of a speech-only clip names speech, and the
  scene's caption.
Full backends are measured only where their weights are installed (a GPU host).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import table

SR = 16_000
DUR = 60.0
SPEECH_AT = (5.0, 35.0)
BEEPS_AT = (20.0, 50.0)
CASES = {
    "sound_detection/yamnet-int8": ("audiogpt.models.sound.detect_lite", "YamnetSoundDetection"),
    "target_sound_detection/yamnet-int8-minilm": ("audiogpt.models.sound.detect_lite", "YamnetTargetDetection"),
    "sound_extraction/yamnet-mask": ("audiogpt.models.sound.extract_lite", "YamnetMaskExtraction"),
    "audio_to_text/yamnet-events-caption": ("audiogpt.models.sound.caption_lite", "YamnetCaption"),
    "sound_detection/ast-audioset": ("audiogpt.models.sound.full_ast", "AstSoundDetection"),
    "target_sound_detection/clap-htsat": ("audiogpt.models.sound.full_clap", "ClapTargetDetection"),
    "sound_extraction/clap-mask": ("audiogpt.models.sound.full_clap", "ClapExtraction"),
    "audio_to_text/qwen2-audio": ("audiogpt.models.sound.full_caption", "Qwen2AudioCaption"),
}


def make_speech(path: Path) -> None:
    import numpy as np

    from audiogpt.models.speech.dsp import to_mono_rate
    from audiogpt.models.speech.full_common import trim_silence
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    tts = PiperJoeMedium()
    audio = tts.run(tts.load(), text="Turn left at the second traffic light and park behind the library.").outputs[0].audio
    np.save(path, trim_silence(to_mono_rate(audio, SR), SR))


def scene(speech):  # type: ignore[no-untyped-def]
    import numpy as np

    n = int(DUR * SR)
    t = np.arange(int(1.5 * SR)) / SR
    beep = (0.3 * np.sin(2 * np.pi * 1000 * t) * ((t % 0.5) < 0.25)).astype(np.float32)
    src = {"speech": np.zeros(n, np.float32), "beep": np.zeros(n, np.float32)}
    truth: dict[str, list[tuple[float, float]]] = {"speech": [], "beep": []}
    for at in SPEECH_AT:
        i = int(at * SR)
        src["speech"][i : i + speech.size] = 0.8 * speech
        truth["speech"].append((at, at + speech.size / SR))
    for at in BEEPS_AT:
        i = int(at * SR)
        src["beep"][i : i + beep.size] = beep
        truth["beep"].append((at, at + 1.25))
    floor = (0.03 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)
    return floor + src["speech"] + src["beep"], src, truth


def iou(segs: list[tuple[float, float]], truth: list[tuple[float, float]]) -> float:
    import numpy as np

    grid = np.arange(0, DUR, 0.01)
    a = np.zeros(grid.size, bool)
    b = np.zeros(grid.size, bool)
    for s, e in segs:
        a |= (grid >= s) & (grid < e)
    for s, e in truth:
        b |= (grid >= s) & (grid < e)
    return float((a & b).sum() / max(1, (a | b).sum()))


def child(case: str, speech_path: str) -> dict[str, object]:
    import importlib

    import numpy as np

    from audiogpt.models.base import Audio
    from audiogpt.models.speech.metrics import si_sdr

    mod, cls = CASES[case]
    backend = getattr(importlib.import_module(mod), cls)()
    info = backend.describe()
    if not info.installed:
        return {"case": case, "skipped": info.reason}
    speech = np.load(speech_path)
    mix, src, truth = scene(speech)
    audio = Audio(mix, SR)
    t0 = time.perf_counter()
    model = backend.load()
    load_s = time.perf_counter() - t0
    task = case.split("/")[0]
    t0 = time.perf_counter()
    runs = 1
    if task == "sound_detection":
        res = backend.run(model, audio=audio)
        sp = sorted((e["start"], e["end"]) for e in res.data["events"] if e["label"] == "Speech")
        errs = []
        for s, e in truth["speech"]:
            near = [x for x in sp if x[1] > s - 1 and x[0] < e + 1]
            if near:
                errs.append((abs(near[0][0] - s), abs(near[-1][1] - e)))
        beeps = any(e["label"] == "Beep, bleep" for e in res.data["events"])
        quality = (f"speech found {len(errs)}/2, start/end err {np.mean([a for a, _ in errs]):.2f}/"
                   f"{np.mean([b for _, b in errs]):.2f} s; beeps {'found' if beeps else 'missed'}") if errs else "speech missed"
    elif task == "target_sound_detection":
        figures = []
        for q, key in (("speech", "speech"), ("a beep", "beep")):
            res = backend.run(model, audio=audio, query=q)
            figures.append(f"IoU '{q}' {iou([(s['start'], s['end']) for s in res.data.get('segments', [])], truth[key]):.2f}")
        runs = 2
        quality = ", ".join(figures)
    elif task == "sound_extraction":
        figures = []
        for q, key in (("the beeps", "beep"), ("speech", "speech")):
            res = backend.run(model, audio=audio, query=q)
            if res.outputs:
                gain = si_sdr(res.outputs[0].audio.samples, src[key]) - si_sdr(mix, src[key])
                figures.append(f"'{q}' SI-SDR +{gain:.1f} dB")
            else:
                figures.append(f"'{q}' not extracted")
        runs = 2
        quality = ", ".join(figures)
    else:
        res = backend.run(model, audio=audio)
        only = np.zeros(int(10 * SR), np.float32)
        only[SR : SR + speech.size] = 0.8 * speech
        only += (0.002 * np.random.default_rng(1).standard_normal(only.size)).astype(np.float32)
        solo = backend.run(model, audio=Audio(only, SR)).data["caption"]
        named = any(w in solo.lower() for w in ("speak", "speech", "talk", "voice", "narrat"))
        runs = 1
        quality = f"speech clip named: {'yes' if named else 'no'} ('{solo}'); scene: '{res.data['caption']}'"
    took = (time.perf_counter() - t0) / runs
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "load_s": round(load_s, 2), "rtf": round(took / DUR, 4), "peak_mb": round(rss),
            "quality": quality}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        speech_path = Path(tmp) / "speech.npy"
        make_speech(speech_path)
        rows = []
        for case in CASES:
            out = subprocess.run([sys.executable, __file__, "--child", case, str(speech_path)],
                                 capture_output=True, text=True, timeout=600)
            try:
                r = json.loads(out.stdout.strip().splitlines()[-1])
            except (IndexError, json.JSONDecodeError):
                rows.append([case, "-", "-", "-", f"failed: {out.stderr.strip().splitlines()[-1:]}"])
                continue
            if "skipped" in r:
                rows.append([case, "-", "-", "-", f"not installed: {r['skipped']}"])
            else:
                rows.append([case, r["load_s"], r["rtf"], r["peak_mb"], r["quality"]])
    print(f"Sound tools on a {DUR:.0f} s scene (speech at {SPEECH_AT}, beeps at {BEEPS_AT}, noise floor):")
    print(table(["tool/backend", "load s", "RTF", "peak MB", "quality"], rows))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
    else:
        main()
