"""The CLI contract, run as a user would: a real ``audiogpt`` process, offline engine, real lite models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(tmp_path: Path, *args: str, timeout: float = 240,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DATABASE_URL", "AUDIOGPT_"))}
    env.update({"AUDIOGPT_DATA_DIR": str(tmp_path / "data"), "AUDIOGPT_LLM": "offline", **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "audiogpt.bots.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    assert lines, f"no output; stderr:\n{proc.stderr}"
    return json.loads(lines[-1])


def test_tools_json_lists_the_17_tools(tmp_path: Path) -> None:
    proc = cli(tmp_path, "tools", "--json")
    assert proc.returncode == 0, proc.stderr
    tools = {t["name"]: t for t in last_json(proc)["tools"]}
    assert len(tools) == 17
    asr = tools["speech_recognition"]
    assert asr["available"] and asr["backend"] == "faster-whisper-base"
    assert {b["name"] for b in asr["backends"]} >= {"faster-whisper-base", "faster-whisper-tiny.en", "whisper-transformers"}
    assert any(b["licence"] == "MIT" and b["kind"] == "lite" for b in asr["backends"])
    for name in ("speech_translation", "style_transfer", "speech_enhancement", "speech_separation"):
        assert tools[name]["available"], tools[name]["reason"]
    tts = tools["text_to_speech"]
    assert tts["available"] and "GPL" in tts["backends"][0]["licence"]
    # every task has a lite backend on this CPU; the full ones say what is missing (no weights here)
    for name, t in tools.items():
        assert t["available"], (name, t["reason"])
        assert all(b["licence"] for b in t["backends"]), name
        assert any(b["kind"] == "full" for b in t["backends"]), name
    music = {b["name"]: b for b in tools["text_to_music"]["backends"]}
    assert tools["text_to_music"]["backend"] == "algorithmic-composer"
    assert not music["musicgen-transformers"]["installed"] and music["musicgen-transformers"]["reason"]


def test_read_aloud_then_transcribe_round_trip(tmp_path: Path) -> None:
    proc = cli(tmp_path, "ask", "--json", "read this aloud: the meeting starts at nine")
    assert proc.returncode == 0, proc.stderr
    out = last_json(proc)
    assert [c["tool"] for c in out["tool_calls"]] == ["text_to_speech"]
    assert out["tool_calls"][0]["ok"] and out["tool_calls"][0]["backend"]
    assert "meeting starts at nine" in out["tool_calls"][0]["args"]["text"].lower()
    wav = out["artifacts"][0]
    assert wav["kind"] == "audio" and wav["mime"] == "audio/wav" and Path(wav["path"]).is_absolute()
    assert Path(wav["path"]).read_bytes()[:4] == b"RIFF" and wav["duration"] > 0.5

    proc = cli(tmp_path, "ask", "--json", "transcribe this", "--attach", wav["path"])
    assert proc.returncode == 0, proc.stderr
    out = last_json(proc)
    assert [c["tool"] for c in out["tool_calls"]] == ["speech_recognition"]
    assert "meeting" in out["text"].lower() and "nine" in out["text"].lower()
    assert out["data"]["segments"] and "meeting" in out["data"]["transcript"].lower()


def test_tool_command_fills_inputs_and_reports_data(tmp_path: Path) -> None:
    proc = cli(tmp_path, "tool", "text_to_speech", "--args", '{"text": "Hello from the tool command."}', "--json")
    assert proc.returncode == 0, proc.stderr
    out = last_json(proc)
    assert out["tool_calls"][0]["ok"] and out["artifacts"][0]["kind"] == "audio"
    proc = cli(tmp_path, "tool", "speech_recognition", "--input", out["artifacts"][0]["path"], "--json")
    assert proc.returncode == 0, proc.stderr
    res = last_json(proc)
    assert res["tool_calls"][0]["args"] == {"audio": "a1"}
    assert "hello" in res["text"].lower() and res["data"]["segments"][0]["end"] > 0


def test_bad_input_from_the_command_line(tmp_path: Path) -> None:
    proc = cli(tmp_path, "ask", "transcribe this", "--attach", str(tmp_path / "missing.wav"))
    assert proc.returncode == 2 and proc.stderr.strip() == f"There is no file at {tmp_path / 'missing.wav'}."
    proc = cli(tmp_path, "tool", "no_such_tool")
    assert proc.returncode == 2 and "There is no tool called 'no_such_tool'" in proc.stderr
    bad = tmp_path / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    proc = cli(tmp_path, "tool", "speech_recognition", "--input", str(bad), "--json")
    assert proc.returncode == 1
    out = last_json(proc)
    assert out["tool_calls"][0]["ok"] is False and out["text"].endswith(".") and "\n" not in out["text"]
    proc = cli(tmp_path, "ask", "--json", "transcribe this", "--attach", str(bad))
    assert proc.returncode == 0
    out = last_json(proc)
    assert out["tool_calls"] == [] and "corrupt.wav" in out["text"]


# Each gate is the score measured on this tree (offline engine, --dry-run, which is
# deterministic) less a small margin, so a routing regression fails here instead of hiding
# under a round 0.9. Measured: the own suite 450/471 = 0.955 (never trained on); fresh_dev
# 115/119 = 0.966 and fresh_dev2 159/169 = 0.941 (written blind by others, then used to find
# failure patterns); fresh_test 112/124 = 0.903 (written blind, never inspected, only scored).
# Raise a floor when the router gets better; never lower one to pass.
EVAL_GATES = [
    ("tests/eval/dialogues.jsonl", 80, 0.94),
    ("tests/eval/fresh_dev.jsonl", 110, 0.93),
    ("tests/eval/fresh_dev2.jsonl", 160, 0.91),  # written for a deployment with speaker_diarization on
    ("tests/eval/fresh_test.jsonl", 110, 0.87),
]


@pytest.mark.parametrize(("suite", "min_turns", "floor"), EVAL_GATES)
def test_eval_suite_dry_run_holds_its_measured_score(tmp_path: Path, suite: str, min_turns: int,
                                                     floor: float) -> None:
    extra = {"AUDIOGPT_EXTRA_TOOLS": "speaker_diarization"} if "fresh_dev2" in suite else None
    proc = cli(tmp_path, "eval", str(ROOT / suite), "--dry-run", "--json", timeout=600, extra_env=extra)
    assert proc.returncode == 0, proc.stderr
    summary = last_json(proc)
    assert summary["turns"] >= min_turns
    assert summary["score"] >= floor, json.dumps(summary["failures"], indent=1)[:4000]
