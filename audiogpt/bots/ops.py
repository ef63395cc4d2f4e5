"""Operations endpoints and log format: ``/healthz``, ``/readyz``, ``/metrics``, JSON logs.

``/healthz`` says the process and its event loop are alive (a load balancer's
liveness probe); ``/readyz`` says it can serve (the database answers, the job
runner is connected) so traffic and Kubernetes readiness follow it; ``/metrics``
is Prometheus text. :func:`ops_routes` gives the routes to mount on an aiohttp
app, :func:`start_ops_server` serves them alone on ``AUDIOGPT_METRICS_PORT``.

``/readyz`` and ``/metrics`` tell whoever asks how busy the deployment is and whether its
database answers, so they are not for the internet: the Slack HTTP listener is public (Slack
must reach it) and serves only ``/healthz`` unless ``AUDIOGPT_OPS_TOKEN`` is set, and with a
token set every listener wants ``Authorization: Bearer <token>`` for them. A source-address
check would not do: behind a reverse proxy on the same host every request comes from loopback.

:class:`JsonFormatter` writes one JSON object a line with the job, turn and
conversation ids of the work in progress (``core.metrics.log_context``), and
scrubs anything that looks like a credential, whatever the message says.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from audiogpt import logsafe
from audiogpt.core import metrics

log = logging.getLogger(__name__)

APP_KEY: web.AppKey[Any] = web.AppKey("audiogpt_app", object)


def ops_token(settings: Any) -> str | None:
    """The ``AUDIOGPT_OPS_TOKEN`` value, or None when unset or empty."""
    token = getattr(settings, "ops_token", None)
    value = token.get_secret_value() if token is not None else ""
    return value or None


def bearer_ok(request: web.Request, token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (compared in constant time)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def ops_routes(app: Any, *, token: str | None = None, public: bool = False) -> list[web.RouteDef]:
    """Routes for ``/healthz``, ``/readyz`` and ``/metrics`` bound to an :class:`~audiogpt.core.app.App`.

    ``token``: ``/readyz`` and ``/metrics`` answer 401 without it. ``public``: a listener the
    internet reaches (Slack's); without a token only ``/healthz`` is mounted there. ``/healthz``
    says nothing but "alive", so load balancers probe it without credentials.
    """

    async def healthz(_req: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def guarded(view: Any) -> Any:
        if token is None:
            return view

        async def check(req: web.Request) -> web.StreamResponse:
            if not bearer_ok(req, token):
                return web.json_response({"error": "unauthorized"}, status=401,
                                         headers={"WWW-Authenticate": 'Bearer realm="audiogpt-ops"'})
            return await view(req)

        return check

    async def readyz(_req: web.Request) -> web.Response:
        checks = await readiness(app)
        ok = all(checks.values())
        return web.json_response({"status": "ready" if ok else "not ready", "checks": checks}, status=200 if ok else 503)

    async def metrics_view(_req: web.Request) -> web.Response:
        await refresh_metrics(app)
        body = generate_latest(metrics.REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    routes = [web.get("/healthz", healthz)]
    if token is not None or not public:
        routes += [web.get("/readyz", guarded(readyz)), web.get("/metrics", guarded(metrics_view))]
    return routes


async def readiness(app: Any, timeout: float = 2.0) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    try:
        async with asyncio.timeout(timeout):
            async with app.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        checks["database"] = True
    except Exception as exc:
        log.warning("readiness: database check failed: %r", exc)
        checks["database"] = False
    try:
        checks["runner"] = bool(await app.runner.ready())
    except Exception:
        checks["runner"] = False
    return checks


async def refresh_metrics(app: Any) -> None:
    """Values read at scrape time: jobs by state (from SQL, all processes) and local model loads."""
    try:
        counts = await app.repo.job_counts()
        for state in ("queued", "running", "done", "failed"):
            metrics.JOBS_BY_STATE.labels(state=state).set(counts.get(state, 0))
    except Exception:
        log.warning("metrics: could not count jobs", exc_info=True)
    metrics.observe_cache_loads(getattr(app, "cache", None))


def make_ops_app(app: Any) -> web.Application:
    web_app = web.Application()
    web_app[APP_KEY] = app
    web_app.add_routes(ops_routes(app, token=ops_token(getattr(app, "settings", None))))
    return web_app


async def start_ops_server(app: Any, host: str, port: int) -> web.AppRunner:
    """Serve the ops routes on their own port; ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(make_ops_app(app), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("ops endpoints on http://%s:%d (/healthz /readyz /metrics)", host, port)
    return runner


async def start_ops_server_if_configured(app: Any) -> web.AppRunner | None:
    """The launcher's one line: serve the ops routes on ``AUDIOGPT_METRICS_PORT`` when it is set."""
    port = int(getattr(app.settings, "metrics_port", 0) or 0)
    if port <= 0:
        return None
    return await start_ops_server(app, app.settings.metrics_host, port)


# --- JSON logs --------------------------------------------------------------------------------

def redact(message: str, known: tuple[str, ...] = ()) -> str:
    """``message`` with credentials replaced by ``***`` (one rule set for every log: :mod:`audiogpt.logsafe`)."""
    return logsafe.redact(message, known)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the work's ids, exception; no secrets."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage(), self.secrets),
        }
        ctx = metrics.log_context.get() or {}
        for key, value in ctx.items():
            entry[key] = value
        for key in ("job", "conversation", "turn", "tool", "platform"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redact(record.exc_text or self.formatException(record.exc_info), self.secrets)
        return json.dumps(entry, ensure_ascii=False, default=str)


def secrets_of(settings: Any) -> tuple[str, ...]:
    """Values of settings that are credentials, so the formatter can scrub them verbatim."""
    return logsafe.secret_values(settings)
