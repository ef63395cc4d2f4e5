"""Every lite backend on real recordings with ground truth (``../shared/eval/real/``).

Run:  .venv/bin/python bench/real.py                  (all tasks, ~10 min on 2 busy cores)
      .venv/bin/python bench/real.py --task sed --limit 10 --json out.json

Why this exists: the lite backends were tuned on synthetic audio; this measures
them on the 159 real recordings of the shared corpus (see its README for the
truth formats, licences and caveats). The corpus is read in place and never
copied into the repository. Each task runs in its own subprocess, so the peak
memory printed is that task's backends plus the interpreter; RTF is compute
seconds over audio seconds, model loading excluded (printed apart).

Tasks and metrics (one backend call per item, as a tool call would make it):

- ``asr``: English WER, numbers spoken as words on both sides (faster-whisper-base);
- ``asr_foreign``: language-id accuracy, WER (CER for Chinese);
- ``translation``: content-word recall of the English translation (whisper-base-translate);
- ``sed``: a correct label in the top 1 / top 3 (by meaning of the truth label, see
  :data:`tables.ACCEPT`) of the detector's ranked labels (yamnet-int8);
- ``target``: IoU of the segments for each annotated query on the event scenes
  (yamnet-int8-minilm); ``DER`` on the AMI excerpts is speech-activity only (missed
  + false alarm over speech time): no lite backend diarizes, so speaker confusion
  is not scored;
- ``enh``: SI-SDR gain per clip (deepfilternet3);
- ``sep``: SI-SDR improvement, best permutation (harmonic-pitch-separation);
- ``caption``: the captions for the caption items and the music clips, the share of
  reference keywords named, and whether music is called music (yamnet-events-caption).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from common import table  # noqa: E402
from real_tables import ACCEPT, CAPTION_WORDS, accepted  # noqa: E402

CORPUS = ROOT.parent / "shared" / "eval" / "real"
TASKS = ("asr", "asr_foreign", "translation", "sed", "target", "enh", "sep", "caption")
GRID_S = 0.01


def corpus_dir() -> Path:
    return Path(os.environ.get("AUDIOGPT_REAL_CORPUS") or CORPUS)


def manifest(task: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (corpus_dir() / "manifest.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if task is None or r["task"] == task]


def load_audio(rel: str, rate: int | None = None) -> Any:
    from audiogpt.core.media.decoding import decode_audio

    return decode_audio(corpus_dir() / rel, sample_rate=rate, mono=True)


def backend(name: str) -> Any:
    """The backend called ``name``, built the way the registry builds it (``backends(config)``)."""
    from audiogpt.models import sound, speech
    from audiogpt.models.backend_config import BackendConfig

    config = BackendConfig()
    for family in (speech, sound):
        for b in family.backends(config):
            if b.name == name:
                return b
    raise KeyError(name)


class Timer:
    """Compute seconds and audio seconds, for the real-time factor."""

    def __init__(self) -> None:
        self.compute = 0.0
        self.audio = 0.0

    def run(self, fn: Callable[..., Any], audio: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(audio=audio, **kw)
        self.compute += time.perf_counter() - t0
        self.audio += audio.duration
        return out

    @property
    def rtf(self) -> float:
        return self.compute / self.audio if self.audio else float("nan")


def _loaded(name: str) -> tuple[Any, Any, float]:
    b = backend(name)
    t0 = time.perf_counter()
    model = b.load()
    return b, model, time.perf_counter() - t0


# --- per task ------------------------------------------------------------------------------------


def run_asr(limit: int | None) -> dict[str, Any]:
    from audiogpt.models.speech.metrics import wer_spoken

    b, model, load_s = _loaded("faster-whisper-base")
    items = manifest("asr")[:limit]
    timer, refs, hyps, per = Timer(), [], [], []
    for it in items:
        audio = load_audio(it["file"])
        res = timer.run(lambda **kw: b.run(model, **kw), audio)
        hyp = res.data.get("transcript", res.text)
        refs.append(it["truth"]["text"])
        hyps.append(hyp)
        per.append({"file": it["file"], "wer": round(wer_spoken(it["truth"]["text"], hyp), 3), "hyp": hyp})
    return {"backend": b.name, "items": len(items), "load_s": load_s, "rtf": timer.rtf,
            "metrics": {"WER": wer_spoken(refs, hyps)}, "per_item": per}


def run_asr_foreign(limit: int | None) -> dict[str, Any]:
    from audiogpt.models.speech.metrics import cer, wer_spoken

    b, model, load_s = _loaded("faster-whisper-base")
    items = manifest("asr_foreign")[:limit]
    timer, per = Timer(), []
    refs, hyps, cers, lid = [], [], [], []
    for it in items:
        audio = load_audio(it["file"])
        res = timer.run(lambda **kw: b.run(model, **kw), audio)
        hyp = res.data.get("transcript", res.text)
        lang = it["truth"]["language"]
        found = res.data.get("language")
        lid.append(found == lang)
        row: dict[str, Any] = {"file": it["file"], "language": lang, "found": found, "hyp": hyp}
        if lang == "zh":
            cers.append(cer(it["truth"]["text"], hyp))
            row["cer"] = round(cers[-1], 3)
        else:
            refs.append(it["truth"]["text"])
            hyps.append(hyp)
            row["wer"] = round(wer_spoken(it["truth"]["text"], hyp), 3)
        per.append(row)
    metrics = {"language id": sum(lid) / len(lid) if lid else float("nan"),
               "WER (de/fr/es/pt/ru)": wer_spoken(refs, hyps) if refs else float("nan")}
    if cers:
        metrics["CER (zh)"] = sum(cers) / len(cers)
    return {"backend": b.name, "items": len(items), "load_s": load_s, "rtf": timer.rtf, "metrics": metrics,
            "per_item": per}


def run_translation(limit: int | None) -> dict[str, Any]:
    from audiogpt.models.speech.metrics import content_recall

    b, model, load_s = _loaded("whisper-base-translate")
    items = [it for it in manifest("asr_foreign") if it["truth"].get("translation_en")][:limit]
    timer, per = Timer(), []
    for it in items:
        audio = load_audio(it["file"])
        res = timer.run(lambda **kw: b.run(model, **kw), audio)
        hyp = res.data.get("translation", "")
        per.append({"file": it["file"], "recall": round(content_recall(it["truth"]["translation_en"], hyp), 3),
                    "hyp": hyp, "ref": it["truth"]["translation_en"]})
    mean = sum(p["recall"] for p in per) / len(per) if per else float("nan")
    return {"backend": b.name, "items": len(items), "load_s": load_s, "rtf": timer.rtf,
            "metrics": {"content-word recall": mean}, "per_item": per}


def sed_items() -> list[dict[str, Any]]:
    """Clips with a positive truth label ("no bird" has none to find)."""
    return [it for it in manifest("sed_clip") if accepted(it["truth"]["labels"])]


def run_sed(limit: int | None) -> dict[str, Any]:
    b, model, load_s = _loaded("yamnet-int8")
    items = sed_items()[:limit]
    timer, per = Timer(), []
    for it in items:
        audio = load_audio(it["file"])
        res = timer.run(lambda **kw: b.run(model, **kw), audio)
        ranked = list(res.data.get("labels", []))
        ok = accepted(it["truth"]["labels"])
        per.append({"file": it["file"], "truth": it["truth"]["labels"][:3], "top": ranked[:3],
                    "top1": bool(ranked[:1] and ranked[0] in ok), "top3": any(r in ok for r in ranked[:3])})
    n = max(1, len(per))
    return {"backend": b.name, "items": len(items), "load_s": load_s, "rtf": timer.rtf,
            "metrics": {"top-1": sum(p["top1"] for p in per) / n, "top-3": sum(p["top3"] for p in per) / n},
            "per_item": per}


def iou(segs: list[tuple[float, float]], truth: list[tuple[float, float]], duration: float) -> float:
    import numpy as np

    grid = np.arange(0.0, duration, GRID_S)
    a = np.zeros(grid.size, bool)
    t = np.zeros(grid.size, bool)
    for s, e in segs:
        a |= (grid >= s) & (grid < e)
    for s, e in truth:
        t |= (grid >= s) & (grid < e)
    union = int((a | t).sum())
    return float((a & t).sum() / union) if union else 1.0


def activity_der(segs: list[tuple[float, float]], truth: list[tuple[float, float]], duration: float) -> float:
    """(missed + false alarm) / speech time on a 10 ms grid: DER without the speaker-confusion term."""
    import numpy as np

    grid = np.arange(0.0, duration, GRID_S)
    a = np.zeros(grid.size, bool)
    t = np.zeros(grid.size, bool)
    for s, e in segs:
        a |= (grid >= s) & (grid < e)
    for s, e in truth:
        t |= (grid >= s) & (grid < e)
    return float(((t & ~a).sum() + (a & ~t).sum()) / max(1, t.sum()))


def run_target(limit: int | None) -> dict[str, Any]:
    b, model, load_s = _loaded("yamnet-int8-minilm")
    timer, per, ders = Timer(), [], []
    queries: list[tuple[dict[str, Any], str, list[tuple[float, float]]]] = []
    for it in manifest("sed_events"):
        events = it["truth"]["events"]
        if any(lab.startswith("speaker:") for lab, _s, _e in events):
            continue
        for lab in dict.fromkeys(lab for lab, _s, _e in events):
            queries.append((it, lab.replace("_", " "), [(s, e) for lab2, s, e in events if lab2 == lab]))
    for it, query, truth in queries[:limit]:
        audio = load_audio(it["file"])
        res = timer.run(lambda **kw: b.run(model, **kw), audio, query=query)
        segs = [(s["start"], s["end"]) for s in res.data.get("segments", [])]
        per.append({"file": it["file"], "query": query, "iou": round(iou(segs, truth, audio.duration), 3),
                    "matched": res.data.get("matched_labels", []), "fired": res.data.get("fired_labels", []),
                    "segments": segs[:6]})
    for it in manifest("sed_events")[: (limit or 99)]:
        events = it["truth"]["events"]
        if not any(lab.startswith("speaker:") for lab, _s, _e in events):
            continue
        audio = load_audio(it["file"])
        res = timer.run(lambda **kw: b.run(model, **kw), audio, query="speech")
        segs = [(s["start"], s["end"]) for s in res.data.get("segments", [])]
        ders.append(activity_der(segs, [(s, e) for _lab, s, e in events], audio.duration))
        per.append({"file": it["file"], "query": "speech (activity DER)", "der": round(ders[-1], 3)})
    ious = [p["iou"] for p in per if "iou" in p]
    metrics: dict[str, Any] = {"mean IoU": sum(ious) / len(ious) if ious else float("nan"),
                               "queries at 0": sum(1 for v in ious if v == 0.0)}
    if ders:
        metrics["activity DER (AMI)"] = sum(ders) / len(ders)
    return {"backend": b.name, "items": len(per), "load_s": load_s, "rtf": timer.rtf, "metrics": metrics,
            "per_item": per}


def run_enh(limit: int | None) -> dict[str, Any]:
    import numpy as np

    from audiogpt.models.speech.metrics import si_sdr

    b, model, load_s = _loaded("deepfilternet3")
    timer, per = Timer(), []
    for it in manifest("enh")[:limit]:
        noisy = load_audio(it["file"])
        clean = load_audio(it["truth"]["clean"])
        res = timer.run(lambda **kw: b.run(model, **kw), noisy)
        out = res.outputs[0].audio.samples if res.outputs else noisy.samples
        ref = np.asarray(clean.samples)
        before = si_sdr(noisy.samples, ref)
        after = si_sdr(out, ref)
        per.append({"file": it["file"], "input_db": round(before, 2), "gain_db": round(after - before, 2),
                    "method": res.data.get("method", ""), "fallback": bool(res.data.get("fallback"))})
    gains = [p["gain_db"] for p in per]
    return {"backend": b.name, "items": len(per), "load_s": load_s, "rtf": timer.rtf,
            "metrics": {"mean SI-SDR gain dB": sum(gains) / len(gains) if gains else float("nan"),
                        "worst gain dB": min(gains) if gains else float("nan")}, "per_item": per}


def run_sep(limit: int | None) -> dict[str, Any]:
    from itertools import permutations

    from audiogpt.models.speech.metrics import si_sdr

    b, model, load_s = _loaded("harmonic-pitch-separation")
    timer, per = Timer(), []
    for it in manifest("sep")[:limit]:
        mix = load_audio(it["file"])
        srcs = [load_audio(s).samples for s in it["truth"]["sources"]]
        res = timer.run(lambda **kw: b.run(model, **kw), mix, speakers=len(srcs))
        outs = [o.audio.samples for o in res.outputs]
        base = sum(si_sdr(mix.samples, s) for s in srcs) / len(srcs)
        best = max(sum(si_sdr(outs[p[i]], srcs[i]) for i in range(len(srcs))) / len(srcs)
                   for p in permutations(range(len(outs)), len(srcs)))
        per.append({"file": it["file"], "gain_db": round(best - base, 2)})
    gains = [p["gain_db"] for p in per]
    return {"backend": b.name, "items": len(per), "load_s": load_s, "rtf": timer.rtf,
            "metrics": {"mean SI-SDRi dB": sum(gains) / len(gains) if gains else float("nan")}, "per_item": per}


def run_caption(limit: int | None) -> dict[str, Any]:
    from audiogpt.models.speech.metrics import normalize

    b, model, load_s = _loaded("yamnet-events-caption")
    timer, per = Timer(), []
    items = (manifest("caption") + manifest("music"))[:limit]
    music_named, hits = [], []
    for it in items:
        audio = load_audio(it["file"])
        res = timer.run(lambda **kw: b.run(model, **kw), audio)
        caption = res.data.get("caption", res.text)
        words = set(normalize(caption))
        row: dict[str, Any] = {"file": it["file"], "caption": caption}
        want = CAPTION_WORDS.get(it["file"], [])
        if want:
            got = [w for w in want if any(v in words for v in w.split("|"))]
            row["keywords"] = f"{len(got)}/{len(want)}"
            hits.append(len(got) / len(want))
        if it["task"] == "music":
            music_named.append("music" in words)
        per.append(row)
    metrics: dict[str, Any] = {}
    if hits:
        metrics["keyword recall"] = sum(hits) / len(hits)
    if music_named:
        metrics["music named"] = sum(music_named) / len(music_named)
    return {"backend": b.name, "items": len(items), "load_s": load_s, "rtf": timer.rtf, "metrics": metrics,
            "per_item": per}


RUNNERS: dict[str, Callable[[int | None], dict[str, Any]]] = {
    "asr": run_asr, "asr_foreign": run_asr_foreign, "translation": run_translation, "sed": run_sed,
    "target": run_target, "enh": run_enh, "sep": run_sep, "caption": run_caption,
}


def child(task: str, limit: int | None) -> dict[str, Any]:
    out = RUNNERS[task](limit)
    out["task"] = task
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def run_task(task: str, limit: int | None, timeout: float = 900) -> dict[str, Any]:
    """One task in a fresh interpreter (its own peak memory); the JSON result or an error row."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", task]
    if limit:
        cmd += ["--limit", str(limit)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    lines = proc.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"task": task, "error": " | ".join(tail) or f"exit {proc.returncode}"}


def fmt_metrics(m: dict[str, Any]) -> str:
    return "; ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in m.items())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", action="append", choices=TASKS, help="run only this task (repeatable)")
    ap.add_argument("--limit", type=int, default=None, help="at most this many items per task")
    ap.add_argument("--json", type=Path, default=None, help="write every figure and per-item row here")
    ap.add_argument("--verbose", action="store_true", help="print the per-item rows too")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.limit), default=float))
        return 0
    if not (corpus_dir() / "manifest.jsonl").is_file():
        print(f"The real-audio corpus is not at {corpus_dir()}: nothing to measure.", file=sys.stderr)
        return 2
    results = [run_task(t, args.limit) for t in (args.task or TASKS)]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["task"], "-", "-", "-", "-", "-", f"failed: {r['error']}"])
            continue
        rows.append([r["task"], r["backend"], r["items"], round(r["load_s"], 2), round(r["rtf"], 4), r["peak_mb"],
                     fmt_metrics(r["metrics"])])
        if args.verbose:
            for p in r["per_item"]:
                print(f"  {r['task']}: {json.dumps(p, ensure_ascii=False)}")
    print(f"Lite backends on real recordings ({corpus_dir()}):")
    print(table(["task", "backend", "items", "load s", "RTF", "peak MB", "metrics"], rows))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=float))
    return 0 if all("error" not in r for r in results) else 1


__all__ = ["ACCEPT", "main", "manifest", "run_task"]

if __name__ == "__main__":
    raise SystemExit(main())
