"""The hostile-input benchmark's quick mode (bench/hostile.py --quick) as a test.

30 malformed, oversized and lying files through the turn path ``audiogpt ask`` takes, and
two each through the Discord and Slack adapters against their fakes: every one must get an
answer (a refusal in one or two sentences, or a tool's result when the file decoded after
all), no blob may be left without an artifact row, no temporary file may be left behind,
and no configured secret may appear in a log line, an answer or a request body. It runs in
a subprocess so its logging handlers and TMPDIR are its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_hostile_quick() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "hostile.py"), "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["files"] == 30 and summary["turns"] == 34, summary
    assert summary["answered_ok"] == summary["turns"], json.dumps(summary["failures"], indent=1)
    assert summary["refused"] >= 20  # most of these files must be refused before any model runs
    assert summary["blobs_without_row"] == 0 and summary["tmp_files_left"] == 0, summary
    assert summary["secrets_in_logs_or_answers"] == 0 and summary["secrets_in_request_bodies"] == 0, summary
