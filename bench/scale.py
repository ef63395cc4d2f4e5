"""Scale-out benchmark: ASR jobs at 1, 4 and 16 at once, LocalRunner vs Ray Serve.

Three runners on the same machine and the same clip (Piper speech, the default ASR,
Whisper base; ``--asr faster-whisper-tiny.en`` for the English-only one):
``local`` (in-process, ``job_concurrency`` = the level), ``ray`` one by one (one
replica, no batching) and ``ray-batched`` (one replica, ``@serve.batch`` up to 16).
For each level it submits that many jobs at once, ``rounds`` times, and reports
throughput (jobs/s over the wall time) and queue wait: for the local runner the time
a job waited for a slot; on Ray the time from the request leaving the bot to the
replica starting it (``queue_s``) plus the bot-side wait. Prints a table, then a JSON
line with every figure and the batched / one-by-one throughput ratio at 16.

    .venv/bin/python bench/scale.py [--rounds 1] [--levels 1,4,16] [--asr NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import pct, table  # noqa: E402


def speech_wav() -> bytes:
    from audiogpt.core.media import encode_audio
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    tts = PiperJoeMedium()
    if tts.describe().installed:
        audio = tts.run(tts.load(), text="Please turn off the lights in the kitchen.").outputs[0].audio
        return encode_audio(audio, "wav")
    from tests.helpers import tone_wav

    return tone_wav(2.5)


async def run_mode(mode: str, levels: list[int], rounds: int, wav: bytes, tmp: Path,
                   asr: str = "") -> list[dict[str, Any]]:
    from audiogpt.config import Settings
    from audiogpt.core.app import App

    base = dict(data_dir=tmp / mode, llm="offline", database_url=None, job_timeout=600.0,
                backends={"speech_recognition": asr} if asr else {}, _env_file=None)  # "" = the default ASR
    if mode == "local":
        extra: dict[str, Any] = dict(runner="local", job_concurrency=max(levels))
    else:
        extra = dict(runner="ray", ray_app_name=f"bench-{mode}", ray_num_cpus=1.0, ray_min_replicas=1,
                     ray_max_replicas=1, ray_max_ongoing_requests=max(levels),
                     ray_batch_size=max(levels) if mode == "ray-batched" else 0, ray_batch_wait_s=0.05)
    app = await App.open(Settings(**base, **extra))  # type: ignore[arg-type]
    rows = []
    try:
        conv = await app.repo.get_or_create_conversation(f"bench:{mode}", "bench")
        art = await app.artifacts.ingest(conv.id, wav, name="speech.wav", mime="audio/wav")
        warm = await app.runner.submit(conv.id, None, "warm", "speech_recognition", {"audio": art.short_id})
        assert warm.ok, warm.error
        n = 0
        for level in levels:
            waits: list[float] = []
            total_jobs, wall = 0, 0.0
            batches: list[int] = []
            ran: set[str] = set()
            for _ in range(rounds):
                async def one(i: int, rnd: int = n) -> tuple[float, Any]:
                    t0 = time.perf_counter()
                    o = await app.runner.submit(conv.id, None, f"j{rnd}-{i}", "speech_recognition", {"audio": art.short_id})
                    return time.perf_counter() - t0, o

                t0 = time.perf_counter()
                res = await asyncio.gather(*(one(i) for i in range(level)))
                wall += time.perf_counter() - t0
                n += 1
                total_jobs += level
                for latency, o in res:
                    assert o.ok, o.error
                    ran.add(o.backend or "?")
                    if mode == "local":
                        waits.append(max(0.0, latency - o.seconds))
                    else:
                        waits.append(float(getattr(o, "queue_seconds", 0.0) or 0.0))
                        batches.append(int(getattr(o, "batch_size", 1) or 1))
            rows.append({"runner": mode, "concurrency": level, "jobs": total_jobs,
                         "throughput": total_jobs / wall, "p50_wait": pct(waits, 50), "p99_wait": pct(waits, 99),
                         "max_batch": max(batches) if batches else 1, "backend": ",".join(sorted(ran))})
    finally:
        await app.close()
    return rows


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--levels", default="1,4,16")
    ap.add_argument("--modes", default="local,ray,ray-batched")
    ap.add_argument("--asr", default="", help="speech_recognition backend name; empty = the default (Whisper base)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    modes = args.modes.split(",")
    wav = speech_wav()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if any(m.startswith("ray") for m in modes):
            import ray

            ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False, namespace="audiogpt")
        try:
            for mode in modes:
                rows += await run_mode(mode, levels, args.rounds, wav, Path(tmp), args.asr)
        finally:
            if any(m.startswith("ray") for m in modes):
                from ray import serve

                serve.shutdown()
                ray.shutdown()
    print(table(["runner", "backend", "concurrent", "jobs", "jobs/s", "p50 wait s", "p99 wait s", "max batch"],
                [[r["runner"], r["backend"], r["concurrency"], r["jobs"], r["throughput"], r["p50_wait"],
                  r["p99_wait"], r["max_batch"]] for r in rows]))
    top = max(levels)
    by = {(r["runner"], r["concurrency"]): r for r in rows}
    ratio = None
    if ("ray-batched", top) in by and ("ray", top) in by:
        ratio = by[("ray-batched", top)]["throughput"] / by[("ray", top)]["throughput"]
    print(json.dumps({"bench": "scale", "cpus": os.cpu_count(), "rows": rows,
                      f"batched_over_one_by_one_at_{top}": ratio}))


if __name__ == "__main__":
    asyncio.run(main())
