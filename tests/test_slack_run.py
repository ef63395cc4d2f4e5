"""The product as it is checked from outside: ``audiogpt run`` in HTTP mode against a fake Slack,
and the ``audiogpt slack manifest`` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

import aiohttp
from typer.testing import CliRunner

from tests.fake_slack import FakeSlack
from tests.slack_helpers import event_body, mention, signed_headers

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_audiogpt_run_serves_slack_events_and_answers_through_the_fake(tmp_path: Path) -> None:
    fake = await FakeSlack().start()
    fake.add_team("xoxb-x", "T1")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "AUDIOGPT_", "OPENAI_"))}
    env.update(SLACK_BOT_TOKEN="xoxb-x", SLACK_SIGNING_SECRET="s", SLACK_API_URL=fake.api_url, SLACK_MODE="http",
               SLACK_PORT=str(port), AUDIOGPT_LLM="offline", AUDIOGPT_DATA_DIR=str(tmp_path / "data"))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "audiogpt.bots.cli", "run", cwd=tmp_path, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 90
            while True:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert proc.returncode is None, "audiogpt run exited early"
                assert time.monotonic() < deadline, "the Slack HTTP server did not come up"
                await asyncio.sleep(0.2)
            body = event_body(mention("hello there", "1700.0001"))
            async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body.encode(),
                                 headers=signed_headers(body, secret="s")) as resp:
                assert resp.status == 200
            async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body.encode(),
                                 headers=signed_headers(body, secret="wrong")) as resp:
                assert resp.status == 401
        post = (await fake.wait_for("chat.postMessage", timeout=60))[0]
        assert post.args["thread_ts"] == "1700.0001" and post.args["channel"] == "C1" and post.args["text"]
        assert post.token == "xoxb-x"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            _, err = await proc.communicate()
        await fake.close()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"xoxb-x" not in err


def test_manifest_command_prints_a_complete_manifest(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.bots.cli import app
    from audiogpt.config import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    res = runner.invoke(app, ["slack", "manifest"])
    assert res.exit_code == 0, res.output
    m = json.loads(res.output)
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    assert {"files:read", "files:write", "chat:write", "app_mentions:read", "im:history", "commands"} <= scopes
    assert {"app_mention", "message.im", "app_uninstalled", "tokens_revoked"} <= set(
        m["settings"]["event_subscriptions"]["bot_events"])
    assert m["settings"]["socket_mode_enabled"] is True and "request_url" not in m["settings"]["event_subscriptions"]
    assert m["features"]["slash_commands"][0]["command"] == "/audiogpt"

    res = runner.invoke(app, ["slack", "manifest", "--mode", "http", "--url", "https://bot.example.com/"])
    m = json.loads(res.output)
    url = "https://bot.example.com/slack/events"
    assert m["settings"]["socket_mode_enabled"] is False
    assert m["settings"]["event_subscriptions"]["request_url"] == url
    assert m["settings"]["interactivity"]["request_url"] == url
    assert m["features"]["slash_commands"][0]["url"] == url
    assert m["oauth_config"]["redirect_urls"] == ["https://bot.example.com/slack/oauth_redirect"]
    assert runner.invoke(app, ["slack", "manifest", "--mode", "carrier-pigeon"]).exit_code == 2


def test_workspace_settings_command(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.bots.cli import app
    from audiogpt.config import get_settings

    monkeypatch.setenv("AUDIOGPT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        res = runner.invoke(app, ["slack", "settings", "T1", "voice_replies=off", "disabled_tools=talking_head,text_to_music",
                                  "rate_user_per_minute=3"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output) == {"voice_replies": False, "disabled_tools": ["talking_head", "text_to_music"],
                                          "rate_user_per_minute": 3, "rate_workspace_per_minute": None}
        assert json.loads(runner.invoke(app, ["slack", "settings", "T1"]).output)["rate_user_per_minute"] == 3
        bad = runner.invoke(app, ["slack", "settings", "T1", "colour=blue"])
        assert bad.exit_code == 2 and "not a workspace setting" in bad.output
    finally:
        get_settings.cache_clear()
