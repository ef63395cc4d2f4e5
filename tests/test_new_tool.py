"""Proof of the catalogue's shape: a new tool from one catalogue entry plus one backend module.

The tool lives in a package of its own (written into a temporary folder), announced through
the ``audiogpt.tools`` and ``audiogpt.backends`` entry-point groups the way a third-party
package would: no file of this project is touched. Then, in real ``audiogpt`` processes:
the planner routes requests to it, ``audiogpt tools`` lists it with its backend and licence,
the Ray runner puts it in its family, progress names it in its own words, and a turn posts
its result (an audio artifact).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

TOOL_MODULE = '''
"""One catalogue entry: play a recording backwards."""
from audiogpt.core.catalogue.spec import ToolArgs, ToolSpec, artifact_field


class AudioReverseArgs(ToolArgs):
    audio: str = artifact_field("audio", "Artifact id of the recording to play backwards.")


SPEC = ToolSpec(
    name="audio_reverse",
    description="Play a recording backwards: returns the same audio reversed in time (a reverse effect).",
    args=AudioReverseArgs,
    produces=("audio",),
    family="dsp-effects",
    label="Reversed audio",
    phrase="play the recording backwards",
    progress="reversing the audio",
    roles=frozenset({"reverse"}),
    per_file=True,
    exemplars=(
        "reverse the audio", "play this recording backwards", "reverse this clip", "play it backwards",
        "can you flip the audio so it plays in reverse", "make this voice note run backwards",
        "I want to hear this track in reverse", "backwards version of this sound please",
        "reverse the recording so the end comes first", "turn this clip around in time",
    ),
)
'''

BACKEND_MODULE = '''
"""One backend module: numpy reversal, which is exact."""
from typing import Any

from audiogpt.models.base import Audio, BackendBase, BackendResult, OutputFile


class NumpyReverse(BackendBase):
    name = "numpy-reverse"
    task = "audio_reverse"
    kind = "lite"
    info_model = "time reversal (numpy)"
    info_licence = "Apache-2.0"

    def load(self) -> Any:
        return None

    def run(self, model: Any, *, audio: Audio, **_: Any) -> BackendResult:
        rev = Audio(audio.samples[..., ::-1].copy(), audio.sample_rate)
        return BackendResult(text=f"Reversed {audio.duration:.1f} s of audio.",
                             outputs=[OutputFile("reversed", audio=rev, description="the recording backwards")])


def backends(config: Any) -> list[Any]:
    return [NumpyReverse()]
'''

ENTRY_POINTS = """\
[audiogpt.tools]
audio_reverse = audiogpt_reverse_tool.tool:SPEC

[audiogpt.backends]
numpy-reverse = audiogpt_reverse_tool.backend:backends
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    pkg = site / "audiogpt_reverse_tool"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tool.py").write_text(textwrap.dedent(TOOL_MODULE))
    (pkg / "backend.py").write_text(textwrap.dedent(BACKEND_MODULE))
    dist = site / "audiogpt_reverse_tool-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: audiogpt-reverse-tool\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    return site


def _env(tmp: Path, site: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "DATABASE_URL", "AUDIOGPT_"))}
    env.update({"AUDIOGPT_DATA_DIR": str(tmp / "data"), "AUDIOGPT_LLM": "offline"})
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _cli(tmp: Path, site: Path | None, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "audiogpt.bots.cli", *args], cwd=tmp, env=_env(tmp, site),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.strip()][-1])


def _clip(path: Path) -> Path:
    t = np.arange(16000) / 16000
    x = (0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t) * 32767).astype("<i2")  # a rising chirp
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(x.tobytes())
    return path


def test_the_new_tool_is_listed_with_its_backend(tmp_path: Path, plugin: Path) -> None:
    tools = {t["name"]: t for t in _cli(tmp_path, plugin, "tools", "--json")["tools"]}
    assert len(tools) == 18
    new = tools["audio_reverse"]
    assert new["available"] and new["backend"] == "numpy-reverse"
    assert new["backends"][0]["licence"] == "Apache-2.0"


def test_requests_route_to_it_and_the_turn_posts_its_result(tmp_path: Path, plugin: Path) -> None:
    clip = _clip(tmp_path / "chirp.wav")
    for ask in ("play this backwards", "could you reverse this recording for me?"):
        out = _cli(tmp_path, plugin, "ask", ask, "--attach", str(clip), "--json")
        assert [c["tool"] for c in out["tool_calls"]] == ["audio_reverse"], out
        produced = [a for a in out["artifacts"] if a["kind"] == "audio" and a["id"] != "a1"]
        assert produced, out
    # Without the plug-in the same request is declined: the entry points did the work.
    out = _cli(tmp_path, None, "ask", "play this backwards", "--attach", str(clip), "--json")
    assert out["tool_calls"] == []


def test_ray_family_and_progress_wording_come_from_its_entry(tmp_path: Path, plugin: Path) -> None:
    script = textwrap.dedent("""
        import json
        from audiogpt.config import Settings
        from audiogpt.core.events import Progress
        from audiogpt.core.gate import progress_label
        from audiogpt.core.runner_ray import family_of
        label = progress_label(Progress(conversation="c", job_id=1, tool="audio_reverse", kind="step", fraction=0.5))
        print(json.dumps({"family": family_of("audio_reverse", Settings().ray_deployments), "label": label}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=_env(tmp_path, plugin),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["family"] == "dsp-effects"
    assert got["label"].startswith("reversing the audio")
