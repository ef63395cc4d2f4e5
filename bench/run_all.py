"""Run every benchmark and print their tables."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    for script in ("bench_cold_start.py", "bench_turn_overhead.py", "bench_lite_speech.py"):
        print(f"\n## {script}\n", flush=True)
        runpy.run_path(str(HERE / script), run_name="__main__")
