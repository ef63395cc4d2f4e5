"""Many workspaces: bolt's OAuth flow on our SQL installation and state stores.

``/slack/install`` starts an install (a one-time ``state`` is issued into SQL; expired ones
and those beyond ``SLACK_OAUTH_MAX_STATES`` are dropped, as anyone can ask for one),
``/slack/oauth_redirect`` exchanges the code (``oauth.v2.access``) and saves the team's
tokens; each request is then authorized with its own team's bot token. Tokens that Slack
issues with a refresh token (token rotation) are refreshed before they expire and saved
again. ``app_uninstalled`` / ``tokens_revoked`` delete the team's tokens (bolt's built-in
listeners on our store). Stored tokens are encrypted with ``AUDIOGPT_SECRET_KEY``.
"""

from __future__ import annotations

import logging

from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.web.async_client import AsyncWebClient

from audiogpt.config import Settings
from audiogpt.storage.db import Database
from audiogpt.storage.secretbox import TokenCipher
from audiogpt.storage.slack_store import SQLInstallationStore, SQLOAuthStateStore

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
ROTATE_MINUTES_BEFORE_EXPIRY = 120


def oauth_enabled(settings: Settings) -> bool:
    return bool(settings.slack_client_id and settings.slack_client_secret)


def redirect_uri(settings: Settings) -> str | None:
    return f"{settings.slack_public_url.rstrip('/')}{REDIRECT_PATH}" if settings.slack_public_url else None


def build_oauth(settings: Settings, db: Database, client: AsyncWebClient
                ) -> tuple[AsyncOAuthSettings, AsyncInstallationStoreAuthorize, SQLInstallationStore]:
    """OAuth settings and the authorize step for :class:`AsyncApp` (bot tokens only, cached auth.test)."""
    assert settings.slack_client_id and settings.slack_client_secret
    cipher = TokenCipher.from_setting(settings.secret_key.get_secret_value() if settings.secret_key else None)
    store = SQLInstallationStore(db, client_id=settings.slack_client_id, cipher=cipher)
    client_secret = settings.slack_client_secret.get_secret_value()
    oauth = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=client_secret,
        scopes=list(settings.slack_scopes),
        redirect_uri=redirect_uri(settings),
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=store,
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE_EXPIRY,
        state_store=SQLOAuthStateStore(db, max_states=settings.slack_oauth_max_states),
        logger=log,
    )
    authorize = AsyncInstallationStoreAuthorize(
        logger=log,
        installation_store=store,
        client_id=settings.slack_client_id,
        client_secret=client_secret,
        token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE_EXPIRY,
        bot_only=True,
        cache_enabled=True,  # keyed by token: a rotated or new token is looked up afresh
        client=client,
    )
    return oauth, authorize, store
