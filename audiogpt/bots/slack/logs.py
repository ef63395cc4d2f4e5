"""Slack-named loggers with a record filter: a second line of defence behind the handlers.

The redaction every log line gets is :class:`audiogpt.logsafe.RedactingFormatter` on the
handlers ``audiogpt`` installs. When the adapter is embedded in a process that sets up its
own logging, those handlers are not there, so the Slack client and bolt (slack-sdk logs
every Web API body at DEBUG, and ``oauth.v2.access`` answers with tokens) still log through
loggers carrying :class:`RedactSecrets`, which uses the same rules (:func:`audiogpt.logsafe.redact`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pydantic import SecretStr

from audiogpt.logsafe import redact, reveal

REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and traceback with :func:`audiogpt.logsafe.redact`."""

    def __init__(self, secrets: Iterable[str | SecretStr | None] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in (reveal(v) for v in secrets) if s)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets, REDACTED)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is the logging call's problem, not ours
            return True
        clean = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


def redacting_logger(name: str, secrets: Iterable[str | SecretStr | None] = ()) -> logging.Logger:
    """The logger ``name`` with a :class:`RedactSecrets` filter (added once)."""
    logger = logging.getLogger(name)
    for f in list(logger.filters):
        if isinstance(f, RedactSecrets):
            logger.removeFilter(f)
    logger.addFilter(RedactSecrets(secrets))
    return logger
