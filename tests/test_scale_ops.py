"""Operations: /healthz, /readyz, /metrics over real HTTP, and JSON logs without secrets."""

from __future__ import annotations

import json
import logging

from aiohttp.test_utils import TestClient, TestServer

from audiogpt.bots.ops import JsonFormatter, make_ops_app, redact, secrets_of
from audiogpt.core import metrics
from audiogpt.storage.db import Database
from tests.helpers import GainBackend, ScriptedChatModel, bytes_attachment, tone_wav
from tests.test_dialogue import enhance_script, incoming, registry_with


async def test_health_ready_and_metrics(app_factory) -> None:  # type: ignore[no-untyped-def]
    app = await app_factory(model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend()))
    out = await app.dialogue.handle(incoming("clean", bytes_attachment(tone_wav(), "n.wav"), key="test:ops"))

    async def send(o):  # type: ignore[no-untyped-def]
        return "1234"

    assert await app.dialogue.deliver(out, send)
    async with TestClient(TestServer(make_ops_app(app))) as client:
        r = await client.get("/healthz")
        assert r.status == 200 and (await r.json())["status"] == "ok"
        r = await client.get("/readyz")
        assert r.status == 200 and (await r.json())["checks"] == {"database": True, "runner": True}
        r = await client.get("/metrics")
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        body = await r.text()
    assert 'audiogpt_jobs{state="done"} 1.0' in body
    assert 'audiogpt_job_run_seconds_count{backend="test-gain",runner="local",tool="speech_enhancement"}' in body
    assert 'audiogpt_job_queue_wait_seconds_count{runner="local"}' in body
    assert 'audiogpt_platform_latency_seconds_count{platform="test"}' in body
    assert 'audiogpt_model_load_seconds_count{backend="test-gain",where="local"}' in body
    assert 'audiogpt_replies_total{outcome="sent",platform="test"}' in body
    assert (await app.repo.get_turn(out.turn_id)).reply_message_id == "1234"

    # the database goes away: not ready (503), still alive
    real = app.db
    app.db = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        async with TestClient(TestServer(make_ops_app(app))) as client:
            r = await client.get("/readyz")
            assert r.status == 503 and (await r.json())["checks"]["database"] is False
            assert (await client.get("/healthz")).status == 200
    finally:
        await app.db.close()
        app.db = real


def test_json_logs_carry_ids_and_no_secrets(settings) -> None:  # type: ignore[no-untyped-def]
    token = "MTA5ODc2NTQzMjEwOTg3NjU0.GabCdE.x" + "y" * 30
    s = settings.model_copy(update={"discord_token": token,
                                    "openai_api_key": "plain-secret-value-123"})
    fmt = JsonFormatter(secrets_of(s))
    logger = logging.getLogger("audiogpt.test")
    record = logger.makeRecord("audiogpt.test", logging.WARNING, __file__, 1,
                               "posting with %s and %s, slack xoxb-1234-5678-abcdefgh, db postgresql://bot:hunter22@db/x, "
                               "key=plain-secret-value-123",
                               (token, "token: abcdefghijkl"), None)
    with metrics.logging_context(job=7, conversation="discord:1:2", turn=3):
        line = fmt.format(record)
    entry = json.loads(line)
    assert (entry["job"], entry["conversation"], entry["turn"], entry["level"]) == (7, "discord:1:2", 3, "WARNING")
    for secret in (token, "xoxb-1234-5678-abcdefgh", "hunter22", "plain-secret-value-123", "abcdefghijkl"):
        assert secret not in line
    assert "postgresql://bot:***@db/x" in entry["message"]
    # outside a job, no ids
    assert "job" not in json.loads(fmt.format(record))
    assert redact("nothing secret here") == "nothing secret here"


async def test_standalone_ops_server_on_its_port(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    import socket

    import aiohttp

    from audiogpt.bots.ops import start_ops_server_if_configured

    app = await app_factory()
    assert await start_ops_server_if_configured(app) is None  # off by default
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app.settings = settings.model_copy(update={"metrics_port": port, "metrics_host": "127.0.0.1"})
    runner = await start_ops_server_if_configured(app)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                assert r.status == 200
            async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                assert "audiogpt_jobs" in await r.text()
    finally:
        assert runner is not None
        await runner.cleanup()
