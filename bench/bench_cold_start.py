"""Cold start: process start to a ready console (database migrated, runner started, no model loaded).

Runs ``audiogpt chat`` with stdin closed and measures until its banner line appears.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import pct, table


def once(data_dir: str) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AUDIOGPT_", "DATABASE_URL"))}
    env.update({"AUDIOGPT_DATA_DIR": data_dir, "AUDIOGPT_LLM": "offline"})
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "audiogpt.bots.cli", "chat"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    took = time.perf_counter() - t0
    proc.stdin.close()  # type: ignore[union-attr]
    proc.wait(30)
    if "AudioGPT console" not in line:
        raise RuntimeError(f"unexpected first line: {line!r}")
    return took


def main(runs: int = 5) -> str:
    rows = []
    with tempfile.TemporaryDirectory() as fresh_root:
        first = once(os.path.join(fresh_root, "fresh"))  # creates the SQLite file and migrates
        warm = [once(os.path.join(fresh_root, "fresh")) for _ in range(runs)]
    rows.append(["fresh data dir (creates + migrates SQLite)", first])
    rows.append([f"existing data dir, p50 of {runs}", pct(warm, 50)])
    rows.append([f"existing data dir, max of {runs}", max(warm)])
    out = "Cold start to a ready console (goal <= 3 s)\n" + table(["case", "seconds"], rows)
    print(out)
    return out


if __name__ == "__main__":
    main()
