"""``audiogpt slack ...``: print the app manifest; show or change a workspace's settings."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from audiogpt.bots.slack.manifest import build_manifest
from audiogpt.config import get_settings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help="Slack: the app manifest and workspace settings.")

# per-workspace settings the dialogue and the adapter read, with how to parse a value
WORKSPACE_SETTINGS: dict[str, str] = {
    "voice_replies": "bool",
    "disabled_tools": "list",
    "rate_user_per_minute": "int",
    "rate_workspace_per_minute": "int",
}


@cli.command("secret-key")
def secret_key_command() -> None:
    """Print a new key for AUDIOGPT_SECRET_KEY (encrypts the Slack tokens stored in the database)."""
    from audiogpt.storage.secretbox import new_key

    typer.echo(new_key())


@cli.command("manifest")
def manifest_command(
    mode: Annotated[str, typer.Option(help="socket (no public URL) or http (request URLs + OAuth redirect).")] = "socket",
    url: Annotated[str | None, typer.Option(help="Public https base URL for http mode (else SLACK_PUBLIC_URL).")] = None,
    name: Annotated[str, typer.Option(help="The app's display name.")] = "AudioGPT",
) -> None:
    """Print the app manifest as JSON: paste it at api.slack.com/apps -> Create New App -> From a manifest."""
    if mode not in ("socket", "http"):
        typer.echo("--mode must be 'socket' or 'http'.", err=True)
        raise typer.Exit(2)
    typer.echo(json.dumps(build_manifest(get_settings(), mode=mode, public_url=url, name=name), indent=2))


def parse_value(key: str, raw: str) -> Any:
    """A setting's value from ``key=value`` text; ``ValueError`` with one sentence when it does not fit."""
    kind = WORKSPACE_SETTINGS.get(key)
    if kind is None:
        raise ValueError(f"'{key}' is not a workspace setting; known: {', '.join(WORKSPACE_SETTINGS)}.")
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{key} takes true or false, not '{raw}'.")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{key} takes a whole number, not '{raw}'.") from None
    return [p.strip() for p in raw.split(",") if p.strip()]


@cli.command("settings")
def settings_command(
    team: Annotated[str, typer.Argument(help="The workspace's team id (T...), or the enterprise id (E...) of an org-wide install.")],
    changes: Annotated[list[str] | None, typer.Argument(help="key=value pairs to set, e.g. voice_replies=false.")] = None,
) -> None:
    """Show a workspace's settings, or set some (voice_replies, disabled_tools, rate limits)."""
    from audiogpt.bots.slack.payloads import workspace_scope

    updates: dict[str, Any] = {}
    for change in changes or []:
        key, sep, raw = change.partition("=")
        if not sep:
            typer.echo(f"'{change}' is not key=value.", err=True)
            raise typer.Exit(2)
        try:
            updates[key.strip()] = parse_value(key.strip(), raw.strip())
        except ValueError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None

    async def go() -> dict[str, Any]:
        from audiogpt.storage.db import Database
        from audiogpt.storage.repos import Repository

        settings = get_settings()
        db = Database(settings.resolved_database_url)
        try:
            await db.connect(retries=settings.db_connect_retries, backoff=settings.db_connect_backoff)
            repo = Repository(db)
            for k, v in updates.items():
                await repo.set_setting(workspace_scope(team), k, v)
            return await repo.settings_for(workspace_scope(team))
        finally:
            await db.close()

    current = asyncio.run(go())
    typer.echo(json.dumps({k: current.get(k) for k in WORKSPACE_SETTINGS}, indent=2))
