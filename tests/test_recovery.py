"""A job left running by a killed process is run again at start, and its reply is posted once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from audiogpt.storage.schema import Job
from tests.helpers import GainBackend, ScriptedChatModel
from tests.test_dialogue import enhance_script, registry_with

ROOT = Path(__file__).resolve().parent.parent


async def _wait_for_running_job(app, timeout: float = 60.0) -> Job:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        async with app.db.sessions() as s:
            job = (await s.execute(select(Job).where(Job.status == "running"))).scalar_one_or_none()
        if job is not None:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError("the child never started its job")


async def test_sigkill_mid_job_then_recover_posts_once(app_factory, settings, db_url) -> None:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"database_url": db_url})
    backend = GainBackend()
    app = await app_factory(settings=s, model=ScriptedChatModel(script=enhance_script), registry=registry_with(backend))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "tests.recovery_child", str(s.data_dir), s.resolved_database_url],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        job = await _wait_for_running_job(app)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert b"should have been killed" not in child.stdout.read()
    assert job.attempts == 1

    sent: list[str] = []

    async def send(out):  # type: ignore[no-untyped-def]
        sent.append(out.text)

    delivered = await app.recover(send)
    assert [o.text for o in delivered] == ["Cleaned up: a2."]
    assert sent == ["Cleaned up: a2."]
    async with app.db.sessions() as ss:
        jobs = (await ss.execute(select(Job))).scalars().all()
    assert [(j.status, j.attempts) for j in jobs] == [("done", 2)]
    turn = await app.repo.get_turn(delivered[0].turn_id)
    assert turn.status == "done" and turn.delivery == "delivered"
    # a second start finds nothing to do: the reply is not posted again
    assert await app.recover(send) == []
    assert sent == ["Cleaned up: a2."]
    assert backend.loads == 1
