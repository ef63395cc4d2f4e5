"""AUDIOGPT_RUNNER=ray on a local Ray (one per module: it is slow to start on small machines).

A turn runs its model job on a Serve replica (job row: runner, replica; progress
streamed back); a replica killed with SIGKILL mid-job is replaced and the job is
retried and answered once; concurrent lite ASR requests are batched by
``@serve.batch`` into one Whisper decode.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from audiogpt.config import Settings
from audiogpt.core.events import Progress
from audiogpt.models.base import Audio, BackendInfo, BackendResult, OutputFile, ProgressReport
from audiogpt.storage.schema import Job
from tests.helpers import ScriptedChatModel, bytes_attachment, tone_wav
from tests.test_dialogue import enhance_script, incoming, registry_with

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parent.parent


class SlowGain:
    """Halves the level; a clip longer than 1.5 s takes 6 s (time to kill its replica)."""

    name = "test-slow-gain"
    task = "speech_enhancement"
    kind = "lite"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        return object()

    def run(self, model: Any, *, audio: Audio, progress: ProgressReport | None = None) -> BackendResult:
        if progress is not None:
            progress(0.5, "halving the level")
        if audio.duration > 1.5:
            time.sleep(6)
        return BackendResult(text="halved (lite: test-slow-gain)",
                             outputs=[OutputFile("enhanced", audio=Audio(audio.samples * 0.5, audio.sample_rate))])


@pytest.fixture(scope="module")
def ray_cluster():  # type: ignore[no-untyped-def]
    import ray
    from ray import serve

    # replicas import this test module (SlowGain) and tests.helpers
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), saved or "") if p)
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="audiogpt")
        yield
    finally:
        serve.shutdown()
        ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def ray_settings(tmp_path: Path, app_name: str, **kw: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm="offline", database_url=None, runner="ray", ray_app_name=app_name,
                    ray_num_cpus=0.25, ray_min_replicas=1, ray_max_replicas=1, ray_max_ongoing_requests=8,
                    job_lease_seconds=30.0, job_max_attempts=4, _env_file=None, **kw)  # type: ignore[call-arg]


async def test_turn_on_ray_records_replica_and_survives_a_killed_replica(ray_cluster, app_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = await app_factory(settings=ray_settings(tmp_path, "t-gain"), model=ScriptedChatModel(script=enhance_script),
                            registry=registry_with(SlowGain()))
    events: list[Progress] = []

    async def progress(ev: Progress) -> None:
        events.append(ev)

    out = await app.dialogue.handle(incoming("clean this", bytes_attachment(tone_wav(1.0), "a.wav"), message_id="m1"),
                                    progress)
    assert out.text == "Cleaned up: a2."
    assert out.tool_calls[0].backend == "test-slow-gain" and out.tool_calls[0].ok
    assert ("step", "halving the level") in [(e.kind, e.message) for e in events]
    async with app.db.sessions() as s:
        job = (await s.execute(select(Job))).scalar_one()
    assert (job.status, job.runner, job.attempts) == ("done", "ray", 1)
    assert job.replica and job.replica.startswith("speech#")
    first_replica = job.replica
    # the output was written by the replica into the store, and registered by the bot
    assert Path(out.artifacts[0].path).read_bytes()[:4] == b"RIFF"

    # --- kill -9 the replica in the middle of the next job
    task = asyncio.create_task(app.dialogue.handle(
        incoming("clean this", bytes_attachment(tone_wav(2.0), "b.wav"), message_id="m2")))

    async def running_on_replica() -> Job | None:
        async with app.db.sessions() as s:
            j = (await s.execute(select(Job).where(Job.tool_call_id == "c1", Job.status == "running",
                                                   Job.replica.is_not(None)))).scalar_one_or_none()
        return j

    loop = asyncio.get_running_loop()
    end = loop.time() + 120
    job2 = None
    while loop.time() < end and job2 is None:
        job2 = await running_on_replica()
        await asyncio.sleep(0.1)
    assert job2 is not None, "the second job never reached a replica"
    pid = int(job2.replica.rsplit(":", 1)[1])
    os.kill(pid, signal.SIGKILL)
    out2 = await asyncio.wait_for(task, 240)
    assert out2.text == "Cleaned up: a4."
    async with app.db.sessions() as s:
        job2 = (await s.execute(select(Job).where(Job.id == job2.id))).scalar_one()
    assert job2.status == "done" and job2.attempts == 2
    assert job2.replica != first_replica and not job2.replica.endswith(f":{pid}")
    sent: list[str] = []

    async def send(o):  # type: ignore[no-untyped-def]
        sent.append(o.text)
        return "msg-1"

    assert await app.dialogue.deliver(out2, send) is True
    assert await app.dialogue.deliver(out2, send) is False
    assert sent == ["Cleaned up: a4."]


@pytest.mark.parametrize("asr", ["faster-whisper-base", "faster-whisper-tiny.en"])
async def test_concurrent_lite_asr_requests_are_batched(ray_cluster, app_factory, tmp_path, asr) -> None:  # type: ignore[no-untyped-def]
    """The default ASR (Whisper base, no setting) and tiny.en both batch: each has a run_batch."""
    from audiogpt.core.media import encode_audio
    from audiogpt.models.speech.tts_piper import PiperJoeMedium

    tts = PiperJoeMedium()
    if not tts.describe().installed:
        pytest.skip("Piper is not installed (tts-piper-gpl extra)")
    speech = tts.run(tts.load(), text="Please turn off the lights in the kitchen.").outputs[0].audio
    chosen = {} if asr == "faster-whisper-base" else {"speech_recognition": asr}  # the default needs no setting
    app = await app_factory(settings=ray_settings(tmp_path, f"t-{asr.replace('.', '-')}", ray_batch_size=8,
                                                  ray_batch_wait_s=0.5, backends=chosen))
    conv = await app.repo.get_or_create_conversation("test:asr", "test")
    art = await app.artifacts.ingest(conv.id, encode_audio(speech, "wav"), name="speech.wav", mime="audio/wav")
    outcomes = await asyncio.gather(*(app.runner.submit(conv.id, None, f"call-{i}", "speech_recognition",
                                                        {"audio": art.short_id}) for i in range(6)))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    transcripts = {o.data["transcript"] for o in outcomes}
    assert len(transcripts) == 1 and "kitchen" in transcripts.pop().lower()
    assert {o.backend for o in outcomes} == {asr}
    assert max(getattr(o, "batch_size", 1) or 1 for o in outcomes) > 1
    assert {getattr(o, "runner", None) for o in outcomes} == {"ray"}
    assert all((getattr(o, "replica", "") or "").startswith("asr#") for o in outcomes)


class AnyNameBatcher:
    """Halves the level; has a run_batch, and a name no table knows: the runner must still batch it."""

    name = "test-any-name-batcher"
    task = "speech_enhancement"
    kind = "lite"

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        return object()

    def run(self, model: Any, *, audio: Audio) -> BackendResult:
        return self.run_batch(model, [{"audio": audio}])[0]  # type: ignore[return-value]

    def run_batch(self, model: Any, inputs: list[dict[str, Any]]) -> list[BackendResult | Exception]:
        time.sleep(0.3)  # one call for the whole batch
        return [BackendResult(text=f"halved in a batch of {len(inputs)}",
                              outputs=[OutputFile("enhanced", audio=Audio(kw["audio"].samples * 0.5,
                                                                          kw["audio"].sample_rate))])
                for kw in inputs]


async def test_a_backend_with_run_batch_is_batched_whatever_its_name(ray_cluster, app_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = await app_factory(settings=ray_settings(tmp_path, "t-batcher", ray_batch_size=8, ray_batch_wait_s=0.5),
                            registry=registry_with(AnyNameBatcher()))
    conv = await app.repo.get_or_create_conversation("test:batcher", "test")
    art = await app.artifacts.ingest(conv.id, tone_wav(0.5), name="tone.wav", mime="audio/wav")
    outcomes = await asyncio.gather(*(app.runner.submit(conv.id, None, f"call-{i}", "speech_enhancement",
                                                        {"audio": art.short_id}) for i in range(6)))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert {o.backend for o in outcomes} == {"test-any-name-batcher"}
    assert max(getattr(o, "batch_size", 1) or 1 for o in outcomes) > 1
    assert all((getattr(o, "replica", "") or "").startswith("speech#") for o in outcomes)
