"""Run every CPU benchmark, each in its own process, and print their tables.

Separate processes keep one benchmark's loaded models and threads out of the next one's
figures (and keep ``bench/discord.py`` from shadowing the ``discord`` package).
``bench/gpu_batching.py`` is left out: it is meant for a GPU machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_cold_start.py", "bench_turn_overhead.py", "bench_lite_speech.py", "sound.py", "generation.py",
           "transform.py", "discord.py", "slack.py", "scale.py")

if __name__ == "__main__":
    failed = []
    for script in SCRIPTS:
        print(f"\n## {script}\n", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], check=False).returncode:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)
