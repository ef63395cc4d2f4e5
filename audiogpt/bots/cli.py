"""The ``audiogpt`` command: run the bot, chat in the console, ask once, run a tool, list tools, eval.

``--json`` output is a contract: the last line printed is one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer

from audiogpt.bots.discord_cli import app as discord_cli
from audiogpt.bots.models_cli import app as models_cli
from audiogpt.bots.slack.cli import cli as slack_cli
from audiogpt.config import Settings, get_settings

app = typer.Typer(add_completion=False, no_args_is_help=False, help="AudioGPT: an audio assistant for team chat.")
log = logging.getLogger("audiogpt")
app.add_typer(discord_cli, name="discord")
app.add_typer(slack_cli, name="slack")
app.add_typer(models_cli, name="models")


def setup_logging(settings: Settings, *, quiet: bool) -> None:
    """Log to data/audiogpt.log at the configured level; stderr only shows warnings when ``quiet``."""
    root = logging.getLogger()
    if getattr(setup_logging, "_done", False):
        return
    setup_logging._done = True  # type: ignore[attr-defined]
    root.setLevel(logging.DEBUG)
    for handler in log_handlers(settings, quiet=quiet):
        root.addHandler(handler)
    for noisy in ("httpx", "httpcore", "openai", "aiosqlite", "alembic", "faster_whisper"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_handlers(settings: Settings, *, quiet: bool) -> list[logging.Handler]:
    """The file and stderr handlers, each formatting through the redaction of :mod:`audiogpt.logsafe`.

    Redaction is on the handlers, not on chosen loggers, so a record from any library
    (aiohttp, slack-sdk, discord.py, the database drivers) is scrubbed alike.
    """
    from audiogpt.logsafe import RedactingFormatter, secret_values

    secrets = secret_values(settings)
    inner = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.log_json:  # one JSON object a line with job/conversation ids
        from audiogpt.bots.ops import JsonFormatter

        inner = JsonFormatter(secrets)
    fmt = RedactingFormatter(inner, secrets)
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    handlers: list[logging.Handler] = []
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(settings.data_dir / "audiogpt.log", encoding="utf-8")
        fh.setLevel(level)
        fh.setFormatter(fmt)
        handlers.append(fh)
    except OSError:
        pass
    sh = logging.StreamHandler(sys.stderr)
    sh.setLevel(logging.WARNING if quiet else level)
    sh.setFormatter(fmt)
    handlers.append(sh)
    return handlers


def fail(msg: str, code: int = 2) -> None:
    typer.echo(msg, err=True)
    raise typer.Exit(code)


def file_attachment(path: Path) -> Any:
    from audiogpt.core.events import Attachment

    if not path.is_file():
        fail(f"There is no file at {path}.")

    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Attachment(name=path.name, mime=mime, size=path.stat().st_size, fetch=fetch)


async def _open_app(settings: Settings, **kw: Any) -> Any:
    from audiogpt.core.app import App
    from audiogpt.storage.db import DatabaseUnavailable

    try:
        return await App.open(settings, **kw)
    except DatabaseUnavailable as exc:
        fail(str(exc), 3)


def print_outgoing(out: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(out.to_dict(), ensure_ascii=False, default=str))
        return
    typer.echo(out.text)
    for a in out.artifacts:
        dur = f", {a.duration:.1f} s" if a.duration else ""
        typer.echo(f"  [{a.id}] {a.kind} {a.mime}{dur}: {a.path}")


@app.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context) -> None:
    """With no command: ``run``."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


@app.command()
def run() -> None:
    """Start the configured platforms; the console when no platform token is set."""
    settings = get_settings()
    from audiogpt.bots.launcher import configured_platforms, run_platforms

    platforms = configured_platforms(settings)
    if not platforms:
        chat()
        return
    setup_logging(settings, quiet=False)
    asyncio.run(run_platforms(settings, platforms))


@app.command()
def chat(conversation: Annotated[str | None, typer.Option(help="Conversation key to continue.")] = None) -> None:
    """Chat in this terminal (type /help for commands)."""
    settings = get_settings()
    setup_logging(settings, quiet=True)
    from audiogpt.bots.console import run_console

    asyncio.run(run_console(settings, conversation))


@app.command()
def ask(
    text: Annotated[str, typer.Argument(help="What to ask.")],
    attach: Annotated[list[Path] | None, typer.Option("--attach", "-a", help="A file to send with it (repeatable).")] = None,
    conversation: Annotated[str | None, typer.Option(help="Conversation key; a fresh one when omitted.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (last line).")] = False,
) -> None:
    """Ask once, through the same turn path as every platform."""
    settings = get_settings()
    setup_logging(settings, quiet=True)
    atts = tuple(file_attachment(p) for p in (attach or []))

    async def go() -> int:
        from audiogpt.core.events import Incoming

        app_ = await _open_app(settings)
        try:
            await app_.recover()
            key = conversation or f"cli:{uuid.uuid4().hex[:12]}"
            out = await app_.dialogue.handle(Incoming(platform="cli", conversation=key, author="cli", text=text,
                                                      attachments=atts))
            await app_.dialogue.deliver(out, None)
            print_outgoing(out, as_json)
            return 0
        finally:
            await app_.close()

    raise typer.Exit(asyncio.run(go()))


@app.command()
def tool(
    name: Annotated[str, typer.Argument(help="Tool name, e.g. speech_recognition.")],
    input_: Annotated[list[Path] | None, typer.Option("--input", "-i", help="Input file (repeatable), fills artifact arguments in order.")] = None,
    args: Annotated[str, typer.Option("--args", help="Other arguments as a JSON object.")] = "{}",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (last line).")] = False,
) -> None:
    """Run one tool directly on files."""
    from audiogpt.core.tools import TOOLS

    settings = get_settings()
    setup_logging(settings, quiet=True)
    spec = TOOLS.get(name) if name in TOOLS else None
    if spec is None:
        fail(f"There is no tool called '{name}'; see `audiogpt tools`.")
    try:
        extra = json.loads(args)
        if not isinstance(extra, dict):
            raise ValueError
    except ValueError:
        fail("--args must be a JSON object, e.g. '{\"language\": \"en\"}'.")
    files = list(input_ or [])
    for f in files:
        if not f.is_file():
            fail(f"There is no file at {f}.")

    async def go() -> int:
        from audiogpt.core.artifacts import ArtifactError
        from audiogpt.core.events import ArtifactOut, Outgoing, ToolCallRecord

        app_ = await _open_app(settings)
        try:
            conv = await app_.repo.get_or_create_conversation(f"cli-tool:{uuid.uuid4().hex[:12]}", "cli")
            call_args = dict(extra)
            fields = [(n, k) for n, k, _r in spec.args.artifact_fields() if n not in call_args]
            problems: list[str] = []
            for f in files:
                try:
                    row = await app_.artifacts.ingest(conv.id, f.read_bytes(), name=f.name,
                                                      mime=mimetypes.guess_type(f.name)[0])
                except ArtifactError as exc:
                    problems.append(str(exc))
                    continue
                want = "image" if row.kind == "image" else "audio"
                slot = next((i for i, (_n, k) in enumerate(fields) if k == want), None)
                if slot is None:
                    problems.append(f"{f.name} is {row.kind}, and {name} has no free {want} argument for it.")
                    continue
                call_args[fields.pop(slot)[0]] = row.short_id
            if problems:
                out = Outgoing(conversation=conv.key, text=" ".join(problems),
                               tool_calls=(ToolCallRecord(name, call_args, None, 0.0, False, " ".join(problems)),))
                print_outgoing(out, as_json)
                return 1
            outcome = await app_.runner.submit(conv.id, None, f"cli-{uuid.uuid4().hex[:8]}", name, call_args)
            arts: tuple[ArtifactOut, ...] = tuple(app_.artifacts.to_out(a) for a in outcome.artifacts)
            rec = ToolCallRecord(name, call_args, outcome.backend, outcome.seconds, outcome.ok, outcome.error,
                                 data=outcome.data, runner=outcome.runner, replica=outcome.replica)
            out = Outgoing(conversation=conv.key, text=outcome.text if outcome.ok else (outcome.error or "failed"),
                           artifacts=arts, tool_calls=(rec,))
            print_outgoing(out, as_json)
            return 0 if outcome.ok else 1
        finally:
            await app_.close()

    raise typer.Exit(asyncio.run(go()))


@app.command()
def tools(as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
          markdown: Annotated[bool, typer.Option("--markdown", help="Print the README's tool table.")] = False) -> None:
    """Every tool, its backends, licences and whether each is installed here."""
    from audiogpt.core.catalogue.view import describe_tools

    if markdown:
        from audiogpt.core.catalogue.docs import readme_block

        typer.echo(readme_block())
        return

    settings = get_settings()
    rows = describe_tools(settings)
    if as_json:
        typer.echo(json.dumps({"tools": rows}, ensure_ascii=False))
        return
    for r in rows:
        state = "ready" if r["available"] else "unavailable"
        typer.echo(f"{r['name']:<24} {state}")
        for b in r["backends"]:
            mark = "+" if b["installed"] else "-"
            typer.echo(f"    {mark} {b['kind']:<4} {b['name']:<28} {b['licence']}")
        if not r["available"]:
            typer.echo(f"      {r['reason']}")


@app.command("eval")
def eval_(
    suite: Annotated[Path, typer.Argument(help="Suite file (JSON lines).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON (last line).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Answer tool calls with placeholders instead of running models.")] = False,
) -> None:
    """Score the engine's tool choices on a dialogue suite."""
    settings = get_settings()
    setup_logging(settings, quiet=True)
    if not suite.is_file():
        fail(f"There is no suite file at {suite}.")

    async def go() -> int:
        from audiogpt.core.evaluation import SuiteError, run_suite

        with tempfile.TemporaryDirectory(prefix="audiogpt-eval-") as tmp:
            # A suite is one scorer asking hundreds of times: the per-user rate limits of a chat
            # deployment would refuse its later calls and score the limiter, not the engine.
            s = settings.model_copy(update={"data_dir": Path(tmp), "database_url": None,
                                            "rate_user_per_minute": 0, "rate_workspace_per_minute": 0})
            app_ = await _open_app(s, dry_run=dry_run)

            def show(res: dict[str, Any]) -> None:
                mark = "PASS" if res["ok"] else "FAIL"
                line = f"{mark} {res['id']}#{res['turn']}: got {res['got']}"
                if not res["ok"]:
                    line += f" expected one of {res['expected']}"
                typer.echo(line)

            try:
                report = await run_suite(app_.dialogue, suite, on_turn=show)
            except SuiteError as exc:
                fail(str(exc))
            finally:
                await app_.close()
        typer.echo(f"score: {report.passed}/{report.turns} = {report.score:.3f}")
        if as_json:
            typer.echo(json.dumps(report.summary(), ensure_ascii=False))
        return 0

    raise typer.Exit(asyncio.run(go()))


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (also done at every start)."""
    settings = get_settings()
    setup_logging(settings, quiet=False)

    async def go() -> None:
        from audiogpt.storage.db import Database, DatabaseUnavailable

        db = Database(settings.resolved_database_url)
        try:
            await db.connect(retries=settings.db_connect_retries, backoff=settings.db_connect_backoff)
        except DatabaseUnavailable as exc:
            fail(str(exc), 3)
        finally:
            await db.close()
        typer.echo(f"database at {db.safe_url} is at head")

    asyncio.run(go())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
