"""The product from outside: ``audiogpt run`` / ``audiogpt discord ...`` as subprocesses against the fake Discord.

This is how the bot is checked from outside the test suite: the unchanged CLI
with ``DISCORD_TOKEN`` and ``DISCORD_API_BASE_URL`` pointing at a server that
speaks Discord's REST and gateway protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tests.fake_discord import BOT_ID, GUILD_ID, FakeDiscord, user

AUDIOGPT = [sys.executable, "-m", "audiogpt.bots.cli"]


def env_for(fake: FakeDiscord, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIOGPT_", "DISCORD_", "SLACK_", "OPENAI_"))}
    env.update({"DISCORD_TOKEN": "x", "DISCORD_API_BASE_URL": fake.api_base, "AUDIOGPT_LLM": "offline",
                "AUDIOGPT_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})
    env.update(extra)
    return env


async def test_audiogpt_run_answers_a_mention_through_the_fake(tmp_path: Path) -> None:
    fake = await FakeDiscord().start()
    proc = await asyncio.create_subprocess_exec(*AUDIOGPT, "run", env=env_for(fake, tmp_path), cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        await fake.wait_ready(timeout=90)
        assert fake.identify is not None and fake.identify["token"] == "x"
        assert fake.identify["intents"] & (1 << 15), "the Message Content intent is requested"
        assert fake.compressions == ["zlib-stream"]
        msg = await fake.message_create(f"<@{BOT_ID}> hello", mentions=[user(BOT_ID, "audiogpt", bot=True)])
        answers = await fake.wait_for(lambda: [r for r in fake.sent("POST", rf"^/channels/{msg['id']}/messages$")
                                               if r.content and not r.content.endswith("…")], timeout=60)
        assert answers[0].content and fake.sent("POST", rf"/messages/{msg['id']}/threads$")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 30)
            if proc.returncode is None:
                proc.kill()
        out = (await proc.stdout.read()).decode(errors="replace") if proc.stdout else ""
        await fake.close()
    assert proc.returncode == 0, out[-3000:]


async def test_sync_commands_registers_in_a_guild(tmp_path: Path) -> None:
    fake = await FakeDiscord().start()
    try:
        proc = await asyncio.create_subprocess_exec(*AUDIOGPT, "discord", "sync-commands", "--guild", GUILD_ID,
                                                    env=env_for(fake, tmp_path), cwd=tmp_path,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out = (await asyncio.wait_for(proc.communicate(), 90))[0].decode()
    finally:
        await fake.close()
    assert proc.returncode == 0, out
    names = sorted(c["name"] for c in fake.commands[GUILD_ID])
    assert names == ["audiogpt", "reset", "settings", "speak", "tools", "transcribe"]
    ask = next(c for c in fake.commands[GUILD_ID] if c["name"] == "audiogpt")
    assert [(o["name"], o["type"], o.get("required", False)) for o in ask["options"]] == [
        ("prompt", 3, True), ("file", 11, False)]
    assert "Registered 6 command(s) guild" in out


async def test_invite_url_has_exactly_the_permissions_and_scopes(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(*AUDIOGPT, "discord", "invite", cwd=tmp_path,
                                                env={**os.environ, "DISCORD_TOKEN": "", "DISCORD_APPLICATION_ID": "1234567"},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    url = urlparse(out.decode().strip().splitlines()[-1])
    q = parse_qs(url.query)
    assert url.netloc == "discord.com" and url.path == "/oauth2/authorize"
    assert q["client_id"] == ["1234567"] and q["scope"] == ["bot applications.commands"]
    # View Channels, Send Messages, Attach Files, Read Message History, Create Public Threads,
    # Send Messages in Threads, Send Voice Messages -- nothing more
    bits = [10, 11, 15, 16, 35, 38, 46]
    assert int(q["permissions"][0]) == sum(1 << b for b in bits)
