"""Secrets stay out of reprs and logs: every secret setting is a SecretStr, and the handlers that
``audiogpt`` installs redact every line (plain and JSON), whichever logger wrote it."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiogpt.bots import cli
from audiogpt.config import Settings

SLACK_BOT = "xoxb-111-222-verysecretbot"
SLACK_APP = "xapp-1-A1-verysecretapp"
SIGNING = "signing-secret-0123456789"
CLIENT_SECRET = "client-secret-abcdef123"
DISCORD = "MTA5ODc2NTQzMjEwOTg3NjU0.GabCdE." + "z" * 38
OPENAI = "sk-proj-verysecretopenaikey01"
DB_PASSWORD = "db-pass-hunter22"
SECRETS = (SLACK_BOT, SLACK_APP, SIGNING, CLIENT_SECRET, DISCORD, OPENAI, DB_PASSWORD)


def secret_settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", llm="offline", slack_bot_token=SLACK_BOT, slack_app_token=SLACK_APP,
                    slack_signing_secret=SIGNING, slack_client_secret=CLIENT_SECRET, discord_token=DISCORD,
                    openai_api_key=OPENAI, database_url=f"postgresql://bot:{DB_PASSWORD}@db:5432/audiogpt",
                    _env_file=None, **kw)  # type: ignore[call-arg]


def test_settings_repr_str_and_dump_show_no_secret(tmp_path: Path) -> None:
    s = secret_settings(tmp_path)
    copied = s.model_copy(update={"slack_bot_token": SLACK_BOT + "x", "discord_token": DISCORD + "y"})
    for shown in (repr(s), str(s), s.model_dump_json(), repr(s.model_dump()), repr(copied), str(copied)):
        for secret in SECRETS:
            assert secret not in shown
    # the real values are one explicit call away, and the app still reaches its database
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == SLACK_BOT
    assert copied.discord_token is not None and copied.discord_token.get_secret_value() == DISCORD + "y"
    assert s.resolved_database_url == f"postgresql+asyncpg://bot:{DB_PASSWORD}@db:5432/audiogpt"


@contextlib.contextmanager
def installed_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run ``setup_logging`` as the CLI does, then take its handlers off the root logger again."""
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    monkeypatch.setattr(cli.setup_logging, "_done", False, raising=False)
    try:
        yield
    finally:
        for h in [h for h in root.handlers if h not in before]:
            root.removeHandler(h)
            h.close()
        root.setLevel(level)


def log_everything(name: str) -> None:
    """Secrets in the message, in %-args, in an exception's message and in a header-carrying repr."""
    log = logging.getLogger(name)
    log.warning("posting with token %s to %s", SLACK_BOT, f"postgresql://bot:{DB_PASSWORD}@db/x")
    log.warning("headers: %r", {"Authorization": f"Bearer {SLACK_BOT}", "X-Key": OPENAI})
    log.warning("discord says hi to Bot %s; app %s; signing %s; client %s", DISCORD, SLACK_APP, SIGNING, CLIENT_SECRET)
    try:
        raise RuntimeError(f"request failed: Authorization: Bearer {SLACK_BOT} ({OPENAI})")
    except RuntimeError:
        log.exception("download failed")
    log.warning("an unknown workspace token xoxb-999-888-notinsettings and key sk-abcdefghijklmnop0123")


def test_every_logger_is_redacted_at_the_handlers_plain_and_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for json_logs in (False, True):
        s = secret_settings(tmp_path / str(json_logs), log_json=json_logs)
        with installed_logging(monkeypatch), caplog.at_level(logging.WARNING):
            cli.setup_logging(s, quiet=True)
            log_everything("audiogpt.core.somewhere")  # not a Slack logger
            log_everything("aiohttp.client")  # nor ours
            for h in logging.getLogger().handlers:
                h.flush()
        text = (s.data_dir / "audiogpt.log").read_text()
        assert text.count("download failed") == 2 and "RuntimeError" in text and "Traceback" in text
        for secret in (*SECRETS, "xoxb-999-888-notinsettings", "sk-abcdefghijklmnop0123"):
            assert secret not in text, (json_logs, secret)
        assert "postgresql://bot:***@db/x" in text
        if json_logs:
            entries = [json.loads(line) for line in text.splitlines()]
            assert {e["logger"] for e in entries} == {"audiogpt.core.somewhere", "aiohttp.client"}
            assert any("exception" in e for e in entries)
    # redaction formats a copy: other handlers (this capture, a host app's own) get the record as logged
    assert any(r.args == (SLACK_BOT, f"postgresql://bot:{DB_PASSWORD}@db/x") for r in caplog.records)
