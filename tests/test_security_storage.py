"""Slack tokens are encrypted at rest (SQLite and PostgreSQL): sealed on write, read back in clear,
legacy plaintext rows sealed by migration 0004 or at start, and a missing key said in one sentence."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import text

from audiogpt.storage.db import Database, alembic_config
from audiogpt.storage.secretbox import PREFIX, SecretKeyError, TokenCipher, new_key
from audiogpt.storage.slack_store import SQLInstallationStore

KEY = new_key()
TOKENS = {"bot_token": "xoxb-1-stored-bot", "bot_refresh_token": "xoxe-1-stored-refresh",
          "user_token": "xoxp-1-stored-user", "user_refresh_token": "xoxe-1-stored-user-refresh"}


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    d = Database(db_url)
    await d.connect(retries=1)
    yield d
    await d.close()


async def raw_tokens(db: Database) -> list[dict[str, Any]]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(text("SELECT team_id, bot_token, bot_refresh_token, user_token, user_refresh_token "
                                       "FROM slack_installations ORDER BY id"))
        return [dict(r._mapping) for r in rows]


def installation(team: str = "T1") -> Installation:
    return Installation(team_id=team, user_id="U1", bot_id="B1", bot_user_id="UB", bot_scopes=["chat:write"],
                        installed_at=1000.0, bot_token_expires_at=2000000000, user_token_expires_at=2000000000,
                        **TOKENS)


async def test_tokens_are_not_plaintext_in_the_database_and_read_back(db: Database) -> None:
    store = SQLInstallationStore(db, cipher=TokenCipher(KEY))
    await store.async_save(installation())
    [row] = await raw_tokens(db)
    for column, token in TOKENS.items():
        assert row[column].startswith(PREFIX) and token not in row[column] and "xox" not in row[column]
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
    inst = await store.async_find_installation(enterprise_id=None, team_id="T1")
    assert bot is not None and (bot.bot_token, bot.bot_refresh_token) == (TOKENS["bot_token"], TOKENS["bot_refresh_token"])
    assert inst is not None and (inst.user_token, inst.user_refresh_token) == (TOKENS["user_token"],
                                                                                TOKENS["user_refresh_token"])
    # token rotation writes through async_save_bot: sealed too
    await store.async_save_bot(Bot(team_id="T1", bot_token="xoxb-1-rotated", bot_refresh_token="xoxe-1-rotated",
                                   bot_id="B1", bot_user_id="UB", installed_at=1000.0, bot_token_expires_at=2000000001))
    [row] = await raw_tokens(db)
    assert "rotated" not in row["bot_token"] and "rotated" not in row["bot_refresh_token"]
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-1-rotated"


async def test_legacy_plaintext_rows_are_read_and_sealed_at_start(db: Database) -> None:
    await SQLInstallationStore(db).async_save(installation())  # written before encryption existed
    assert (await raw_tokens(db))[0]["bot_token"] == TOKENS["bot_token"]
    store = SQLInstallationStore(db, cipher=TokenCipher(KEY))
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == TOKENS["bot_token"]
    assert await store.prepare() == 1 and await store.prepare() == 0
    [row] = await raw_tokens(db)
    assert all(row[c].startswith(PREFIX) for c in TOKENS)
    bot = await store.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == TOKENS["bot_token"]


async def test_a_missing_or_wrong_key_is_one_clear_sentence(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert await SQLInstallationStore(db).prepare() == 0
    assert "AUDIOGPT_SECRET_KEY" in caplog.text and "unencrypted" in caplog.text
    await SQLInstallationStore(db, cipher=TokenCipher(KEY)).async_save(installation())
    with pytest.raises(SecretKeyError, match=r"^1 Slack installation\(s\) are stored with encrypted tokens but "
                                             r"AUDIOGPT_SECRET_KEY is not set; .*\.$"):
        await SQLInstallationStore(db).prepare()
    with pytest.raises(SecretKeyError, match="encrypted with another key"):
        await SQLInstallationStore(db, cipher=TokenCipher(new_key())).prepare()
    # rotation: a new key first, the old one after it, reads what the old one wrote
    rotated = SQLInstallationStore(db, cipher=TokenCipher(f"{new_key()},{KEY}"))
    bot = await rotated.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and bot.bot_token == TOKENS["bot_token"]
    with pytest.raises(SecretKeyError, match="not a valid Fernet key"):
        TokenCipher("not-a-key")


async def test_migration_0004_encrypts_a_legacy_row_and_downgrade_decrypts_it(db: Database) -> None:
    from alembic import command

    def run(conn: Any, action: str, target: str, key: str | None) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        cfg.attributes["secret_key"] = key
        getattr(command, action)(cfg, target)

    async with db.engine.begin() as conn:
        await conn.run_sync(run, "downgrade", "0003", None)
        await conn.execute(text(
            "INSERT INTO slack_installations (client_id, app_id, enterprise_id, team_id, is_enterprise_install, user_id,"
            " bot_token, bot_refresh_token, user_token, data, installed_at) VALUES ('c', 'A1', '', 'T7', false, 'U1',"
            " :bot, :refresh, NULL, '{}', CURRENT_TIMESTAMP)"), {"bot": TOKENS["bot_token"],
                                                                "refresh": TOKENS["bot_refresh_token"]})
        await conn.run_sync(run, "upgrade", "head", KEY)
    [row] = await raw_tokens(db)
    assert row["bot_token"].startswith(PREFIX) and row["bot_refresh_token"].startswith(PREFIX)
    assert row["user_token"] is None
    bot = await SQLInstallationStore(db, client_id="c", cipher=TokenCipher(KEY)).async_find_bot(
        enterprise_id=None, team_id="T7")
    assert bot is not None and (bot.bot_token, bot.bot_refresh_token) == (TOKENS["bot_token"],
                                                                          TOKENS["bot_refresh_token"])
    async with db.engine.begin() as conn:
        await conn.run_sync(run, "downgrade", "0003", KEY)
    assert (await raw_tokens(db))[0]["bot_token"] == TOKENS["bot_token"]
    async with db.engine.begin() as conn:
        await conn.run_sync(run, "upgrade", "head", KEY)


async def test_oauth_install_stores_sealed_tokens_and_a_start_without_the_key_says_why(
        app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    """Through bolt's real OAuth flow and the adapter's start, against the fake Slack."""
    from langchain_core.messages import AIMessage

    from audiogpt.bots.slack.adapter import SlackAdapter
    from tests.fake_slack import FakeSlack, Team
    from tests.helpers import ScriptedChatModel
    from tests.slack_helpers import SECRET, slack_rig
    from tests.test_slack_oauth import install

    fake = await FakeSlack().start()
    fake.oauth_codes = {"code-1": Team("T1", bot_user_id="UB1")}
    try:
        s = settings.model_copy(update={
            "slack_bot_token": None, "slack_signing_secret": SECRET, "slack_api_url": fake.api_url, "slack_mode": "",
            "slack_port": 0, "slack_host": "127.0.0.1", "slack_client_id": fake.client_id,
            "slack_client_secret": fake.client_secret, "slack_public_url": "https://bot.example.com", "secret_key": KEY})
        app = await app_factory(settings=s, model=ScriptedChatModel(script=lambda m: AIMessage(content="hi")))
        async with slack_rig(app, s, fake) as rig:
            status, _page = await install(rig, "code-1")
        assert status == 200
        [row] = await raw_tokens(app.db)
        assert row["team_id"] == "T1" and row["bot_token"].startswith(PREFIX)
        issued = [t for t, team in fake.tokens.items() if team.id == "T1"]
        assert issued and all(t not in str(row) for t in issued)
        adapter = SlackAdapter(app, s.model_copy(update={"secret_key": None}))
        with pytest.raises(SecretKeyError, match="AUDIOGPT_SECRET_KEY is not set"):
            await adapter.start()
    finally:
        await fake.close()
