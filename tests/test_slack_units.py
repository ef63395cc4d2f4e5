"""Slack adapter pieces on their own: payload parsing, mrkdwn and limits, progress throttling, SQL stores."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.web.async_client import AsyncWebClient

from audiogpt.bots.slack.payloads import (
    clean_text,
    conversation_key,
    parse_key,
    parse_message,
    to_incoming,
)
from audiogpt.bots.slack.posting import (
    BLOCKS_LIMIT,
    SECTION_LIMIT,
    event_table,
    render,
    to_mrkdwn,
)
from audiogpt.bots.slack.progress import ProgressView
from audiogpt.core.events import Progress
from audiogpt.core.text_split import split_text
from audiogpt.storage.db import Database
from audiogpt.storage.slack_store import SQLInstallationStore, SQLOAuthStateStore, SQLThreadLinks
from tests.fake_slack import FakeSlack

# --- payloads ----------------------------------------------------------------------------


def test_message_parsing_keys_and_clips() -> None:
    ev = {"type": "message", "subtype": "file_share", "channel": "D1", "channel_type": "im", "user": "U1",
          "text": "<@UBOT> hi <@U2|bob> see <https://x.org|x> &amp; more", "ts": "5.1", "team": "T1",
          "files": [{"id": "F1", "name": "doc.pdf", "mimetype": "application/pdf"},
                    {"id": "F2", "name": "audio_message", "mimetype": "audio/webm", "subtype": "slack_audio",
                     "size": 10, "url_private_download": "http://x/F2"}]}
    msg = parse_message(ev, "T1", "UBOT")  # type: ignore[arg-type]
    assert msg is not None and msg.is_dm and msg.is_clip and msg.thread_ts == "5.1"
    assert msg.text == "hi @U2 see https://x.org & more"
    inc = to_incoming(msg, conversation=conversation_key("T1", "D1", "5.1"), token="t", get=None)  # type: ignore[arg-type]
    assert inc.is_voice and inc.attachments[0].name == "audio_message.webm"  # the clip goes first
    assert inc.message_id == "5.1" and inc.workspace == "slack:T1" and inc.reply_to == "5.1"
    assert parse_key(inc.conversation) == ("T1", "D1", "5.1")
    for ignored in ({**ev, "bot_id": "B1"}, {**ev, "subtype": "message_changed"}, {**ev, "user": "UBOT"}):
        assert parse_message(ignored, "T1", "UBOT") is None  # type: ignore[arg-type]
    assert clean_text("<!here> ping", None) == "@here ping"


# --- posting -----------------------------------------------------------------------------


def test_markdown_becomes_mrkdwn_and_code_is_left_alone() -> None:
    assert to_mrkdwn("**bold** and *it*") == "*bold* and _it_"
    assert to_mrkdwn("see [docs](https://a.b/c)") == "see <https://a.b/c|docs>"
    assert to_mrkdwn("# Title\n`a<b` **x**") == "*Title*\n`a&lt;b` *x*"
    assert to_mrkdwn("```\n**not bold**\n```") == "```\n**not bold**\n```"


def test_long_answers_are_split_under_slack_limits() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "word " * 150 for i in range(80))
    pieces = split_text(text, SECTION_LIMIT)
    assert all(len(p) <= SECTION_LIMIT for p in pieces) and "".join(pieces).replace("\n", "").replace(" ", "") \
        == text.replace("\n", "").replace(" ", "")
    code = "```\n" + "x = 1\n" * 1500 + "```"
    pieces = split_text(code, SECTION_LIMIT)
    assert len(pieces) > 1 and all(p.count("```") % 2 == 0 and len(p) <= SECTION_LIMIT for p in pieces)
    messages = render("a " * 200_000)
    assert len(messages) > 1 and all(len(m.blocks) <= BLOCKS_LIMIT and len(m.text) <= 4000 for m in messages)


def test_sound_events_become_a_table_block() -> None:
    data = {"events": [{"label": "Dog", "start": 0.5, "end": 1.25, "score": 0.91},
                       {"label": "Speech", "onset": 2.0, "offset": 3.0}]}
    table = event_table(data)
    assert table is not None and "Dog" in table and "1.25" in table and table.startswith("```")
    blocks = render("Found 2 sounds.", data)[0].blocks
    assert [b["type"] for b in blocks] == ["section", "section"] and "Speech" in blocks[1]["text"]["text"]
    assert event_table({"events": [1, 2]}) is None


# --- progress ----------------------------------------------------------------------------


async def test_progress_edits_at_most_once_a_second_and_shows_the_latest() -> None:
    fake = await FakeSlack().start()
    fake.add_team("xoxb-p")
    client = AsyncWebClient(token="xoxb-p", base_url=fake.api_url)
    view = ProgressView(client, "C1", "1.1", use_status=False, delay=0.0, interval=1.0)
    try:
        view.start()
        await fake.wait_for("chat.postMessage")
        t0 = time.monotonic()
        for i in range(30):  # a chatty backend: 30 events in 1.5 s
            await view(Progress("k", 1, "text_to_speech", "step", f"chunk {i}", fraction=i / 30))
            await asyncio.sleep(0.05)
        # the latest label shows up with the next allowed edit
        await fake.wait_for("chat.update", text="Working… chunk 29… 97%", timeout=10)
        elapsed = time.monotonic() - t0
        ts = await view.finish()
    finally:
        await fake.close()
    updates = fake.calls_to("chat.update")
    assert ts == "1800000000.000001"
    assert 1 <= len(updates) <= elapsed + 1  # 30 events, at most one edit per second
    assert all(b.at - a.at >= 0.8 for a, b in itertools.pairwise(updates))  # (+ HTTP jitter)


# --- stores ------------------------------------------------------------------------------


@pytest.fixture
async def db(db_url: str):  # type: ignore[no-untyped-def]
    """SQLite, and the PostgreSQL on 127.0.0.1:5432 where it runs (conftest's ``db_url``)."""
    d = Database(db_url)
    await d.connect(retries=1)
    yield d
    await d.close()


async def test_installation_store_keeps_one_row_per_installer_and_the_latest_bot(db: Database) -> None:
    store = SQLInstallationStore(db, client_id="c")
    await store.async_save(Installation(team_id="T1", user_id="U1", bot_token="xoxb-old", bot_id="B1",
                                        bot_user_id="UB", bot_scopes="chat:write", installed_at=1000.0))
    await store.async_save(Installation(team_id="T1", user_id="U2", bot_token="xoxb-new", bot_id="B1",
                                        bot_user_id="UB", bot_scopes=["chat:write", "files:read"],
                                        user_token="xoxp-u2", installed_at=2000.0))
    await store.async_save(Installation(team_id="T1", user_id="U1", bot_token="xoxb-old2", installed_at=1500.0))
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-new" and bot.bot_scopes == ["chat:write", "files:read"]
    inst = await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U1")
    assert inst is not None and inst.bot_token == "xoxb-old2"
    assert await SQLInstallationStore(db, client_id="other").async_find_bot(enterprise_id=None, team_id="T1") is None
    await store.async_delete_bot(enterprise_id=None, team_id="T1")
    assert await store.async_find_bot(enterprise_id=None, team_id="T1") is None
    inst = await store.async_find_installation(enterprise_id=None, team_id="T1", user_id="U2")
    assert inst is not None and inst.user_token == "xoxp-u2" and inst.bot_token is None  # the user's token stays
    await store.async_delete_all(enterprise_id=None, team_id="T1")
    assert await store.async_find_installation(enterprise_id=None, team_id="T1") is None


async def test_oauth_state_is_valid_once_and_expires(db: Database) -> None:
    states = SQLOAuthStateStore(db, expiration_seconds=600)
    s = await states.async_issue()
    assert await states.async_consume(s) is True
    assert await states.async_consume(s) is False
    assert await states.async_consume("never-issued") is False
    old = await SQLOAuthStateStore(db, expiration_seconds=-1).async_issue()
    assert await states.async_consume(old) is False


async def test_thread_links(db: Database) -> None:
    links = SQLThreadLinks(db)
    await links.link("T1", "C1", "9.9", "slack:T1:C1:cmd-x")
    await links.link("T1", "C1", "9.9", "slack:T1:C1:cmd-x")  # idempotent
    assert await links.find("T1", "C1", "9.9") == "slack:T1:C1:cmd-x"
    assert await links.find("T1", "C1", "9.8") is None


async def test_migration_0002_downgrades_cleanly(db: Database) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from audiogpt.storage.db import alembic_config

    def down_and_up(conn) -> list[list[str]]:  # type: ignore[no-untyped-def]
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
        before = sorted(t for t in inspect(conn).get_table_names() if t.startswith("slack"))
        command.upgrade(cfg, "head")
        after = sorted(t for t in inspect(conn).get_table_names() if t.startswith("slack"))
        return [before, after]

    async with db.engine.begin() as conn:
        before, after = await conn.run_sync(down_and_up)
    assert before == [] and after == ["slack_installations", "slack_oauth_states", "slack_threads"]


def test_log_records_are_redacted() -> None:
    import logging

    from audiogpt.bots.slack.logs import RedactSecrets, redacting_logger

    f = RedactSecrets(["sig-secret-123"])
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "body: %s", ({"access_token": "xoxb-1-2-abc",
                            "refresh_token": "xoxe-1-zzz", "rotated": "xoxe.xoxp-1-yy", "app": "xapp-1-A-1"},), None)
    assert f.filter(rec)
    msg = rec.getMessage()
    assert "xox" not in msg and "xapp-" not in msg and msg.count("[redacted]") == 4
    try:
        raise RuntimeError("signature sig-secret-123 bad")
    except RuntimeError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    f.filter(rec)
    assert "sig-secret-123" not in (rec.exc_text or "") and "[redacted]" in (rec.exc_text or "")
    log = redacting_logger("audiogpt.test.redact", ["a-secret"])
    redacting_logger("audiogpt.test.redact", ["b-secret"])
    assert sum(isinstance(x, RedactSecrets) for x in log.filters) == 1
