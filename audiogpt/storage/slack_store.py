"""Slack installations and OAuth states in our SQL database, behind bolt's async store contracts.

slack-sdk ships SQLAlchemy stores, but they are synchronous (they would block the event
loop on every request); these implement the same ``AsyncInstallationStore`` /
``AsyncOAuthStateStore`` interfaces on our async engine, so PostgreSQL and SQLite work alike
and Alembic owns the tables (``schema_slack.py``).

Tokens are encrypted at rest with the ``AUDIOGPT_SECRET_KEY`` cipher (``secretbox.py``): sealed
on every write, opened on every read; plaintext rows from before are read as they are and
sealed by :meth:`SQLInstallationStore.prepare` at start (or by migration 0004).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from audiogpt.storage.db import Database
from audiogpt.storage.schema_slack import SlackInstallation, SlackOAuthState, SlackThread
from audiogpt.storage.secretbox import (
    KEY_SETTING,
    SecretKeyError,
    TokenCipher,
    decrypt_or_explain,
    is_encrypted,
)

log = logging.getLogger(__name__)

# Fields of an Installation that are not secrets; kept in the row's JSON ``data``.
_PLAIN_FIELDS = ("app_id", "enterprise_name", "enterprise_url", "team_name", "bot_id", "bot_user_id",
                 "incoming_webhook_url", "incoming_webhook_channel", "incoming_webhook_channel_id",
                 "incoming_webhook_configuration_url", "token_type")
# Columns that hold credentials; encrypted at rest.
TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")


def _key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None) -> tuple[str, str]:
    """An org-wide install is keyed by the enterprise alone (Slack sends varying team ids)."""
    if is_enterprise_install:
        return enterprise_id or "", ""
    return enterprise_id or "", team_id or ""


def _ts(when: datetime) -> float:
    """Unix seconds; SQLite hands back naive datetimes, which are UTC here."""
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


class SQLInstallationStore(AsyncInstallationStore):
    """One row per (app, workspace, installer); the latest row of a workspace holds its bot token."""

    def __init__(self, db: Database, client_id: str = "", cipher: TokenCipher | None = None) -> None:
        self.db = db
        self.client_id = client_id or ""
        self.cipher = cipher

    def _seal(self, value: str | None) -> str | None:
        return self.cipher.encrypt(value) if self.cipher is not None else value

    def _open(self, value: str | None) -> str | None:
        return decrypt_or_explain(self.cipher, value)

    async def prepare(self) -> int:
        """At start: seal plaintext tokens (returns how many rows), or say in one sentence why not.

        Encrypted rows without a key cannot be served, so that is an error; plaintext rows
        without a key still work, with a warning that they are stored in clear.
        """
        cols = [getattr(SlackInstallation, c) for c in TOKEN_COLUMNS]
        async with self.db.sessions() as s:
            rows = (await s.execute(select(SlackInstallation).where(or_(*(c.is_not(None) for c in cols))))).scalars().all()
        values = [[getattr(r, c) for c in TOKEN_COLUMNS] for r in rows]
        sealed = [v for vs in values for v in vs if is_encrypted(v)]
        plain = [r for r, vs in zip(rows, values, strict=True) if any(v and not is_encrypted(v) for v in vs)]
        if self.cipher is None:
            if sealed:
                raise SecretKeyError(f"{len(rows)} Slack installation(s) are stored with encrypted tokens but "
                                     f"{KEY_SETTING} is not set; set the key they were encrypted with and start again.")
            log.warning("%s: set %s (make one with `audiogpt slack secret-key`) to encrypt Slack tokens in the "
                        "database", f"{len(plain)} Slack installation(s) are stored with unencrypted tokens"
                        if plain else "Slack tokens of new installations will be stored unencrypted", KEY_SETTING)
            return 0
        if sealed:
            self.cipher.decrypt(sealed[0])  # the wrong key fails here, in one sentence, not on the first event
        async with self.db.sessions() as s:
            for r in plain:
                await s.execute(update(SlackInstallation).where(SlackInstallation.id == r.id).values(
                    **{c: self._seal(getattr(r, c)) for c in TOKEN_COLUMNS}))
            await s.commit()
        if plain:
            log.info("encrypted the stored tokens of %d Slack installation(s)", len(plain))
        return len(plain)

    @property
    def logger(self) -> logging.Logger:
        return log

    # --- save ------------------------------------------------------------------------

    async def async_save(self, installation: Installation) -> None:
        ent, team = _key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        data: dict[str, Any] = {f: getattr(installation, f) for f in _PLAIN_FIELDS}
        data["bot_scopes"] = list(installation.bot_scopes or [])
        data["user_scopes"] = list(installation.user_scopes or [])
        data["custom_values"] = dict(installation.custom_values or {})
        values = {
            "app_id": installation.app_id,
            "is_enterprise_install": bool(installation.is_enterprise_install),
            "bot_token": self._seal(installation.bot_token),
            "bot_refresh_token": self._seal(installation.bot_refresh_token),
            "bot_token_expires_at": installation.bot_token_expires_at,
            "user_token": self._seal(installation.user_token),
            "user_refresh_token": self._seal(installation.user_refresh_token),
            "user_token_expires_at": installation.user_token_expires_at,
            "data": data,
            "installed_at": datetime.fromtimestamp(installation.installed_at, UTC),
        }
        await self._upsert(ent, team, installation.user_id or "", values)
        log.info("saved the Slack installation of team %s (enterprise %s)", team or "-", ent or "-")

    async def async_save_bot(self, bot: Bot) -> None:
        """Token rotation of a bot-only lookup: refresh the bot token on the workspace's rows."""
        ent, team = _key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        async with self.db.sessions() as s:
            res = await s.execute(update(SlackInstallation).where(*self._where(ent, team)).values(
                bot_token=self._seal(bot.bot_token), bot_refresh_token=self._seal(bot.bot_refresh_token),
                bot_token_expires_at=bot.bot_token_expires_at))
            await s.commit()
        if not res.rowcount:
            await self.async_save(Installation(
                app_id=bot.app_id, enterprise_id=bot.enterprise_id, enterprise_name=bot.enterprise_name,
                team_id=bot.team_id, team_name=bot.team_name, bot_token=bot.bot_token, bot_id=bot.bot_id,
                bot_user_id=bot.bot_user_id, bot_scopes=bot.bot_scopes, bot_refresh_token=bot.bot_refresh_token,
                bot_token_expires_at=bot.bot_token_expires_at, user_id="",
                is_enterprise_install=bot.is_enterprise_install, installed_at=bot.installed_at,
                custom_values=bot.custom_values))

    async def _upsert(self, ent: str, team: str, user_id: str, values: dict[str, Any]) -> None:
        where = (*self._where(ent, team), SlackInstallation.user_id == user_id)
        for _ in range(2):  # an insert racing another insert becomes an update
            async with self.db.sessions() as s:
                res = await s.execute(update(SlackInstallation).where(*where).values(**values))
                if res.rowcount:
                    await s.commit()
                    return
                s.add(SlackInstallation(client_id=self.client_id, enterprise_id=ent, team_id=team,
                                        user_id=user_id, **values))
                try:
                    await s.commit()
                    return
                except IntegrityError:
                    await s.rollback()

    # --- find ------------------------------------------------------------------------

    def _where(self, ent: str, team: str) -> tuple[Any, ...]:
        conds: list[Any] = [SlackInstallation.client_id == self.client_id, SlackInstallation.team_id == team]
        if ent or not team:  # a workspace of unknown enterprise matches whatever enterprise it has
            conds.append(SlackInstallation.enterprise_id == ent)
        return tuple(conds)

    async def _latest(self, ent: str, team: str, *, user_id: str | None = None,
                      with_bot: bool = False) -> SlackInstallation | None:
        q = select(SlackInstallation).where(*self._where(ent, team))
        if user_id is not None:
            q = q.where(SlackInstallation.user_id == user_id)
        if with_bot:
            q = q.where(SlackInstallation.bot_token.is_not(None))
        q = q.order_by(SlackInstallation.installed_at.desc(), SlackInstallation.id.desc()).limit(1)
        async with self.db.sessions() as s:
            return (await s.execute(q)).scalar_one_or_none()

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        row = await self._latest(*_key(enterprise_id, team_id, is_enterprise_install), with_bot=True)
        if row is None or not row.bot_token:
            return None
        d = row.data or {}
        return Bot(app_id=row.app_id, enterprise_id=row.enterprise_id or None,
                   enterprise_name=d.get("enterprise_name"), team_id=row.team_id or None,
                   team_name=d.get("team_name"), bot_token=self._open(row.bot_token), bot_id=d.get("bot_id") or "",
                   bot_user_id=d.get("bot_user_id") or "", bot_scopes=d.get("bot_scopes") or [],
                   bot_refresh_token=self._open(row.bot_refresh_token), bot_token_expires_at=row.bot_token_expires_at,
                   is_enterprise_install=row.is_enterprise_install, installed_at=_ts(row.installed_at),
                   custom_values=d.get("custom_values") or {})

    async def async_find_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                      user_id: str | None = None,
                                      is_enterprise_install: bool | None = False) -> Installation | None:
        row = await self._latest(*_key(enterprise_id, team_id, is_enterprise_install), user_id=user_id)
        if row is None:
            return None
        d = row.data or {}
        return Installation(
            enterprise_id=row.enterprise_id or None, team_id=row.team_id or None, user_id=row.user_id,
            bot_token=self._open(row.bot_token), bot_refresh_token=self._open(row.bot_refresh_token),
            bot_token_expires_at=row.bot_token_expires_at, bot_scopes=d.get("bot_scopes") or [],
            user_token=self._open(row.user_token), user_refresh_token=self._open(row.user_refresh_token),
            user_token_expires_at=row.user_token_expires_at, user_scopes=d.get("user_scopes") or [],
            is_enterprise_install=row.is_enterprise_install, installed_at=_ts(row.installed_at),
            custom_values=d.get("custom_values") or {},
            **{f: d.get(f) for f in _PLAIN_FIELDS},
        )

    async def team_ids(self) -> list[str]:
        """Workspaces that have a bot token (for operators and tests)."""
        async with self.db.sessions() as s:
            rows = (await s.execute(select(SlackInstallation.team_id).where(
                SlackInstallation.client_id == self.client_id, SlackInstallation.bot_token.is_not(None)))).scalars()
            return sorted(set(rows))

    # --- delete ----------------------------------------------------------------------

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """The bot token was revoked: forget it (rows that still hold a user token stay)."""
        ent, team = _key(enterprise_id, team_id, not team_id)
        async with self.db.sessions() as s:
            await s.execute(update(SlackInstallation).where(*self._where(ent, team)).values(
                bot_token=None, bot_refresh_token=None, bot_token_expires_at=None))
            await s.execute(delete(SlackInstallation).where(*self._where(ent, team),
                                                            SlackInstallation.user_token.is_(None)))
            await s.commit()
        log.info("deleted the bot token of team %s", team or "-")

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        ent, team = _key(enterprise_id, team_id, not team_id)
        q = delete(SlackInstallation).where(*self._where(ent, team))
        if user_id is not None:
            q = q.where(SlackInstallation.user_id == user_id)
        async with self.db.sessions() as s:
            await s.execute(q)
            await s.commit()
        log.info("deleted the installation(s) of team %s", team or "-")

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class SQLOAuthStateStore(AsyncOAuthStateStore):
    """One-time OAuth ``state`` values; a state is valid once, for ``expiration_seconds``.

    Anyone may GET ``/slack/install`` and each visit issues a state, so the table is bounded:
    expired states go on every issue, and beyond ``max_states`` live ones the oldest go too
    (a flood can then only make a slow installer start again, never fill the database).
    """

    def __init__(self, db: Database, expiration_seconds: int = 600, max_states: int = 1000) -> None:
        self.db = db
        self.expiration_seconds = expiration_seconds
        self.max_states = max(1, max_states)

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        async with self.db.sessions() as s:
            await s.execute(delete(SlackOAuthState).where(SlackOAuthState.expire_at < now))
            s.add(SlackOAuthState(state=state, expire_at=now + timedelta(seconds=self.expiration_seconds)))
            await s.flush()
            # the newest max_states stay: the id of the oldest of them bounds what goes
            keep_from = (await s.execute(select(SlackOAuthState.id).order_by(SlackOAuthState.id.desc())
                                         .offset(self.max_states - 1).limit(1))).scalar_one_or_none()
            if keep_from is not None:
                dropped = await s.execute(delete(SlackOAuthState).where(SlackOAuthState.id < keep_from))
                if dropped.rowcount:
                    log.warning("more than %d Slack install links outstanding; dropped the %d oldest",
                                self.max_states, dropped.rowcount)
            await s.commit()
        return state

    async def async_consume(self, state: str) -> bool:
        async with self.db.sessions() as s:
            row = (await s.execute(select(SlackOAuthState).where(SlackOAuthState.state == state))).scalar_one_or_none()
            if row is None:
                return False
            res = await s.execute(delete(SlackOAuthState).where(SlackOAuthState.id == row.id))
            await s.commit()
        expire_at = row.expire_at if row.expire_at.tzinfo else row.expire_at.replace(tzinfo=UTC)
        return bool(res.rowcount) and expire_at > datetime.now(UTC)


class SQLThreadLinks:
    """Threads that continue an earlier conversation: (team, channel, thread ts) -> conversation key."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def link(self, team_id: str, channel: str, thread_ts: str, conversation: str) -> None:
        async with self.db.sessions() as s:
            s.add(SlackThread(team_id=team_id, channel=channel, thread_ts=thread_ts, conversation=conversation))
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()

    async def find(self, team_id: str, channel: str, thread_ts: str) -> str | None:
        async with self.db.sessions() as s:
            return (await s.execute(select(SlackThread.conversation).where(
                SlackThread.team_id == team_id, SlackThread.channel == channel,
                SlackThread.thread_ts == thread_ts))).scalar_one_or_none()
