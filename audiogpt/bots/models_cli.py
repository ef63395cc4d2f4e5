"""``audiogpt models ...``: list, pull, verify and remove the full backends' weights.

The bot itself never downloads (``make run`` stays offline-safe); this is the one explicit way to
fetch weights, so it also says plainly when there is no network (one sentence, exit 2) instead of
hanging or printing a traceback. Every command takes ``--json`` for scripts and CI.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from audiogpt.config import get_settings
from audiogpt.core.model_store import ModelRow, ModelStore, NoNetwork, PullError
from audiogpt.core.model_store import open_store as _open_store

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Full models: list what is configured and on disk, pull, verify, remove.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
TasksArg = Annotated[list[str] | None, typer.Argument(help="Tasks (or backend names); none = every task.",
                                                      show_default=False)]
LICENCE_MARK = {"commercial": "commercial", "non-commercial": "NON-COMMERCIAL", "check": "check terms"}


def open_store() -> ModelStore:
    """The store for this process's settings (tests replace it with one over a fake registry)."""
    return _open_store(get_settings())


def _emit(obj: dict[str, Any]) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False))


def _fail(msg: str, code: int, as_json: bool, **extra: Any) -> None:
    if as_json:
        _emit({"error": msg, **extra})
    else:
        typer.echo(msg, err=True)
    raise typer.Exit(code)


def _backends_or_fail(store: ModelStore, names: list[str], as_json: bool) -> None:
    try:
        store.backends(names)
    except KeyError as exc:
        _fail(str(exc.args[0]), 2, as_json)


def human_size(n: int) -> str:
    if n <= 0:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _model_cell(row: ModelRow) -> str:
    if not row.repos:
        return row.model
    return " + ".join(f"{r.id}@{r.revision or 'main'}" for r in row.repos)


@app.command("list")
def list_(tasks: TasksArg = None, as_json: JsonOpt = False,
          lite: Annotated[bool, typer.Option("--lite", help="Also list the lite backends.")] = False) -> None:
    """Per task: model id and revision, size on disk, licence class, presence and device."""
    store = open_store()
    names = tasks or []
    _backends_or_fail(store, names, as_json)
    rows = store.rows(names, lite=lite)
    where = {"device": store.registry.config.device, "hf_cache": str(store.default_cache),
             "models_dir": str(store.models_dir) if store.models_dir else None}
    if as_json:
        _emit({**where, "models": [r.as_json() for r in rows]})
        return
    typer.echo(f"device {where['device']}  hf cache {where['hf_cache']}  models dir {where['models_dir'] or '(unset)'}")
    typer.echo(f"{'task':<22} {'backend':<28} {'present':<8} {'size':>9}  {'licence':<14} {'device':<6} model")
    for r in rows:
        present = ("yes" if r.ready else "files") if r.present else "no"
        typer.echo(f"{r.task:<22} {r.backend:<28} {present:<8} {human_size(r.size_bytes):>9}  "
                   f"{LICENCE_MARK[r.licence_class]:<14} {r.device:<6} {_model_cell(r)}")
    typer.echo("present: yes = ready to run, files = weights here but the backend reports something missing "
               "(`audiogpt tools` says what); `audiogpt models pull TASK` downloads.")


@app.command()
def pull(tasks: TasksArg = None, all_: Annotated[bool, typer.Option("--all", help="Every full backend.")] = False,
         as_json: JsonOpt = False) -> None:
    """Download the files the named tasks' loaders read (resumable; HF_TOKEN for gated models)."""
    names = tasks or []
    if not names and not all_:
        _fail("Name the tasks to pull (see `audiogpt models list`) or pass --all.", 2, as_json)
    store = open_store()
    _backends_or_fail(store, names, as_json)
    repos, skipped = store.pull_plan(names)
    pulled: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    for repo in repos:
        def started(files: list[str], repo: Any = repo) -> None:
            if not as_json:
                typer.echo(f"pulling {repo.label}@{repo.revision or 'main'} ({len(files)} files)", err=True)

        try:
            res = store.pull(repo, progress=not as_json, on_start=started)
        except NoNetwork as exc:
            _fail(str(exc), 2, as_json, network=False, pulled=pulled)
        except PullError as exc:
            failed.append({"repo": repo.label, "error": str(exc)})
            if not as_json:
                typer.echo(str(exc), err=True)
            continue
        pulled.append(res.__dict__)
        if not as_json:
            typer.echo(f"{res.repo}: {res.files} files, {human_size(res.size_bytes)} in {res.path}")
    if as_json:
        _emit({"pulled": pulled, "skipped": skipped, "failed": failed})
    else:
        for s in skipped:
            typer.echo(f"skipped: {s}")
    raise typer.Exit(1 if failed else 0)


@app.command()
def verify(tasks: TasksArg = None, as_json: JsonOpt = False) -> None:
    """Load each present model through its backend and run a one-second input; load time and memory."""
    store = open_store()
    names = tasks or []
    _backends_or_fail(store, names, as_json)
    results = [store.verify(b) for b in store.backends(names)]
    if as_json:
        _emit({"device": store.registry.config.device, "verified": [r.__dict__ for r in results]})
    else:
        for r in results:
            timing = ""
            if r.load_s is not None:
                timing = f" (load {r.load_s:.2f} s"
                timing += f", run {r.run_s:.2f} s" if r.run_s is not None else ""
                timing += f", +{r.memory_mb:.0f} MB)" if r.memory_mb is not None else ")"
            typer.echo(f"{r.status:<7} {r.task:<22} {r.backend:<28} {r.message}{timing}")
        ok = sum(r.status == "ok" for r in results)
        typer.echo(f"{ok} of {len(results)} full backends load here.")
    raise typer.Exit(1 if any(r.status == "failed" for r in results) else 0)


@app.command("rm")
def rm(tasks: TasksArg = None, all_: Annotated[bool, typer.Option("--all", help="Every full backend.")] = False,
       yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
       include_shared: Annotated[bool, typer.Option(
           "--include-shared", help="Also remove models other tasks still use.")] = False,
       as_json: JsonOpt = False) -> None:
    """Remove the named tasks' downloaded weights (the HF cache revision or the AUDIOGPT_MODELS_DIR copy)."""
    names = tasks or []
    if not names and not all_:
        _fail("Name the tasks whose models to remove or pass --all.", 2, as_json)
    store = open_store()
    _backends_or_fail(store, names, as_json)
    gone, kept = store.removal_plan(names, include_shared=include_shared or all_)
    total = sum(s.size_bytes for s in gone)
    if gone and not yes:
        if as_json:
            _fail("Pass --yes to remove without asking.", 2, as_json, would_remove=[s.__dict__ for s in gone])
        for s in gone:
            typer.echo(f"{s.id}@{s.revision or 'main'}  {human_size(s.size_bytes)}  {s.path}")
        if not typer.confirm(f"Remove these ({human_size(total)})?"):
            raise typer.Exit(1)
    freed = store.remove(gone)
    if as_json:
        _emit({"removed": [s.__dict__ for s in gone], "kept": kept, "freed_bytes": freed})
        return
    for k in kept:
        typer.echo(k)
    typer.echo(f"Removed {len(gone)} model(s), {human_size(freed)} freed." if gone else "Nothing to remove.")
