"""The Slack app manifest, so a person creates the app in one paste (api.slack.com/apps ->
Create New App -> From a manifest), and ``audiogpt slack manifest`` to print it.

Socket Mode needs no public URL; HTTP mode points events, the slash command and buttons at
one request URL (``SLACK_PUBLIC_URL`` + ``SLACK_PATH``) and, with OAuth, adds the redirect URL.
Kept free of slack-bolt imports so ``audiogpt slack manifest`` is instant.
"""

from __future__ import annotations

from typing import Any

from audiogpt.config import Settings

BOT_EVENTS = ["app_mention", "message.im", "app_uninstalled", "tokens_revoked", "assistant_thread_started",
              "assistant_thread_context_changed"]
REQUIRED_SCOPES = ["app_mentions:read", "chat:write", "commands", "files:read", "files:write", "im:history",
                   "im:read", "im:write"]


def build_manifest(settings: Settings, *, mode: str = "socket", public_url: str | None = None,
                   name: str = "AudioGPT") -> dict[str, Any]:
    """A manifest dict for ``mode`` ("socket" or "http")."""
    if mode not in ("socket", "http"):
        raise ValueError("mode must be 'socket' or 'http'")
    base = (public_url or settings.slack_public_url or "https://YOUR-HOST.example").rstrip("/")
    request_url = base + settings.slack_path
    scopes = list(dict.fromkeys([*REQUIRED_SCOPES, *settings.slack_scopes]))
    events = [e for e in BOT_EVENTS if not e.startswith("assistant_") or "assistant:write" in scopes]
    command: dict[str, Any] = {"command": settings.slack_command, "description": "Ask AudioGPT (speech, sound, music)",
                               "usage_hint": "say hello in a calm voice", "should_escape": False}
    settings_block: dict[str, Any] = {
        "event_subscriptions": {"bot_events": events},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": mode == "socket",
        "token_rotation_enabled": False,
    }
    oauth: dict[str, Any] = {"scopes": {"bot": scopes}}
    if mode == "http":
        command["url"] = request_url
        settings_block["event_subscriptions"]["request_url"] = request_url
        settings_block["interactivity"]["request_url"] = request_url
        oauth["redirect_urls"] = [base + "/slack/oauth_redirect"]
    features: dict[str, Any] = {
        "app_home": {"home_tab_enabled": False, "messages_tab_enabled": True,
                     "messages_tab_read_only_enabled": False},
        "bot_user": {"display_name": name, "always_online": True},
        "slash_commands": [command],
    }
    if "assistant:write" in scopes:
        features["assistant_view"] = {"assistant_description": "Speech, sound and music tasks: ask or send a clip."}
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "An audio assistant: transcribe, speak, separate, enhance and generate audio.",
            "background_color": "#2c2d30",
        },
        "features": features,
        "oauth_config": oauth,
        "settings": settings_block,
    }
