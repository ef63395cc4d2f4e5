"""``audiogpt discord ...``: the invite URL and slash-command registration.

Kept apart from the ``audiogpt.bots.discord`` package so ``audiogpt --help``
works without discord.py installed; each command imports it when run.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated

import typer

from audiogpt.config import Settings, get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Discord: the invite URL, slash-command registration.")

SCOPES = ("bot", "applications.commands")


def bot_permissions() -> int:
    """Exactly what the bot uses: read and answer in channels and threads, start threads, upload files
    and voice messages, read the message a reply points at."""
    import discord

    return discord.Permissions(
        view_channel=True, send_messages=True, send_messages_in_threads=True, create_public_threads=True,
        attach_files=True, read_message_history=True, send_voice_messages=True,
    ).value


def application_id(settings: Settings) -> str | None:
    """DISCORD_APPLICATION_ID, else the bot user id encoded in the token's first part (the same id)."""
    if settings.discord_application_id:
        return settings.discord_application_id.strip()
    token = (settings.discord_token.get_secret_value() if settings.discord_token else "").strip()
    if not token or "." not in token:
        return None
    head = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if decoded.isdigit() else None


def invite_url(app_id: str) -> str:
    import discord

    return discord.utils.oauth_url(app_id, permissions=discord.Permissions(bot_permissions()), scopes=SCOPES)


@app.command()
def invite() -> None:
    """Print the OAuth2 URL that adds the bot to a server, with exactly the permissions it needs."""
    settings = get_settings()
    app_id = application_id(settings)
    if not app_id:
        typer.echo("Set DISCORD_APPLICATION_ID (Developer Portal -> your application -> General Information -> "
                   "Application ID) or DISCORD_TOKEN.", err=True)
        raise typer.Exit(2)
    typer.echo(invite_url(app_id))


@app.command("sync-commands")
def sync_commands(
    guild: Annotated[str | None, typer.Option(help="Register in this guild only (instant); default: "
                                                   "AUDIOGPT_DISCORD_COMMAND_GUILD, else global (may take up to an hour).")] = None,
) -> None:
    """Register the slash commands with Discord."""
    settings = get_settings()
    if not settings.discord_token:
        typer.echo("Set DISCORD_TOKEN to register slash commands.", err=True)
        raise typer.Exit(2)
    target = guild or settings.discord_command_guild

    async def go() -> list[str]:
        import discord

        from audiogpt.bots.discord.client import configure_endpoints
        from audiogpt.bots.discord.commands import build_tree

        configure_endpoints(settings)
        client = discord.Client(intents=discord.Intents.none())
        tree = build_tree(client, None)  # type: ignore[arg-type]  # definitions only, to register them
        try:
            await client.login(settings.discord_token.get_secret_value())
            if target:
                where = discord.Object(id=int(target))
                tree.copy_global_to(guild=where)
                cmds = await tree.sync(guild=where)
            else:
                cmds = await tree.sync()
        finally:
            await client.close()
        return [c.name for c in cmds]

    try:
        names = asyncio.run(go())
    except Exception as exc:  # one sentence, not a traceback
        typer.echo(f"Could not register the commands: {exc}", err=True)
        raise typer.Exit(1) from None
    where = f"guild {target}" if target else "globally (it may take up to an hour to show everywhere)"
    typer.echo(f"Registered {len(names)} command(s) {where}: " + ", ".join(f"/{n}" for n in names))
