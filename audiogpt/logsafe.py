"""Keep credentials out of logs, whatever logger or library wrote the record.

Redaction sits on the *handlers* (:class:`RedactingFormatter` wraps the plain and the JSON
formatter that ``audiogpt`` installs), not on a few named loggers: aiohttp, slack-sdk, bolt,
discord.py and the database drivers log through loggers of their own, and an exception's
``repr`` (aiohttp's ``ClientResponseError`` carries the request headers, ``Authorization``
included) can reach any of them. The formatter rewrites the finished line, so the message,
its ``%`` arguments, the traceback and ``stack_info`` are all covered.

Two layers: the literal values of every configured secret (:func:`secret_values`), then
shapes (Slack, Discord, OpenAI and AWS tokens, ``Bearer ...``, ``key=value`` pairs and
``user:password@`` in URLs) for credentials the settings do not know, such as a workspace
token from the OAuth store.

:func:`safe_error` is for call sites that log an exception: its type and a message with
credentials removed, never ``repr`` (which may include request headers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

MARK = "***"
MIN_SECRET_LEN = 6  # shorter literal values would blank out ordinary words

# specific shapes first, then the generic ``key=value`` (which would otherwise eat "Bearer")
_TOKEN_SHAPES = (
    re.compile(r"\b(?:xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9-]+"),  # Slack, rotated ones too (xoxe.xoxb-)
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style keys (sk-..., sk-proj-...)
    re.compile(r"\b[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40}\b"),  # Discord bot tokens
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),  # AWS access key ids
)
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)([A-Za-z0-9._~+/=-]{6,})")
_KEY_VALUE = re.compile(
    r"(?i)(authorization|token|secret|password|passwd|api[_-]?key|signing[_-]?key)"
    r"([\"']?\s*[:=]\s*[\"']?)([^\s\"',;}]{6,})")
_URL_PASSWORD = re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)@")


def reveal(value: SecretStr | str | None) -> str | None:
    """The plain value of a secret setting (``None`` stays ``None``)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def url_password(url: str | None) -> str | None:
    """The password inside a URL such as a DSN (``postgresql://bot:pw@db/x`` -> ``pw``)."""
    if not url or "@" not in url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def redact(text: str, known: Iterable[str] = (), mark: str = MARK) -> str:
    """``text`` with the ``known`` secret values and anything shaped like a credential replaced."""
    for value in sorted({k for k in known if k and len(k) >= MIN_SECRET_LEN}, key=len, reverse=True):
        text = text.replace(value, mark)
    for pat in _TOKEN_SHAPES:
        text = pat.sub(mark, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{mark}", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{mark}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{mark}@", text)


def secret_values(settings: Any) -> tuple[str, ...]:
    """The plain values of every secret setting (``SecretStr`` fields, and the DSN's password)."""
    out: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr) or (isinstance(value, str) and _secret_name(name)):
            plain = reveal(value)
            if plain:
                out.append(plain)
                pw = url_password(plain) if "url" in name else None
                if pw:
                    out.append(pw)
    return tuple(dict.fromkeys(out))


def _secret_name(name: str) -> bool:
    return any(w in name for w in ("token", "secret", "password", "api_key")) or name.endswith("_key")


def safe_error(exc: BaseException, known: Iterable[str] = ()) -> str:
    """``Type: message`` of an exception for a log line; never its ``repr`` (that may hold headers)."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the log call that reports it
        message = ""
    message = redact(message, known)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner`` (plain or JSON), on a scrubbed copy of the record, then scrubs the line.

    The copy keeps the caller's record intact for other handlers (pytest's capture, say); the
    final pass catches what the inner formatter adds itself (a traceback it renders anew).
    """

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str | SecretStr | None] = ()) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = tuple(s for s in (reveal(v) for v in secrets) if s)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(self._scrubbed(record)), self.secrets)

    def _scrubbed(self, record: logging.LogRecord) -> logging.LogRecord:
        clean = logging.makeLogRecord(record.__dict__)
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: show the template, not the arguments
            message = str(record.msg)
        clean.msg, clean.args = redact(message, self.secrets), None
        if record.exc_info:
            clean.exc_text = redact(record.exc_text or self.inner.formatException(record.exc_info), self.secrets)
        if record.stack_info:
            clean.stack_info = redact(record.stack_info, self.secrets)
        return clean


def install(handlers: Iterable[logging.Handler], secrets: Iterable[str | SecretStr | None] = ()) -> None:
    """Wrap each handler's formatter (once) so every line it writes is redacted."""
    for h in handlers:
        fmt = h.formatter or logging.Formatter()
        if isinstance(fmt, RedactingFormatter):
            fmt = fmt.inner
        h.setFormatter(RedactingFormatter(fmt, secrets))
