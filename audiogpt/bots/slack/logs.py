"""Keep Slack secrets out of the logs.

slack-sdk logs every Web API response body at DEBUG, and ``oauth.v2.access`` answers with
the new workspace's tokens; bolt and the token rotator log errors that may quote them. Every
Slack client and bolt component here logs through a logger carrying :class:`RedactSecrets`,
which rewrites a record before any handler sees it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# bot/user/app/refresh/config tokens, including rotated ones such as "xoxe.xoxb-1-..."
TOKEN = re.compile(r"\b(?:xox[a-z](?:\.xox[a-z])?|xapp)-[A-Za-z0-9\-]+")
REDACTED = "[redacted]"


class RedactSecrets(logging.Filter):
    """Replaces Slack tokens and the given literal secrets in a record's message."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        text = TOKEN.sub(REDACTED, text)
        for s in self.secrets:
            text = text.replace(s, REDACTED)
        return text

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


def redacting_logger(name: str, secrets: Iterable[str | None] = ()) -> logging.Logger:
    """The logger ``name`` with a :class:`RedactSecrets` filter (added once)."""
    logger = logging.getLogger(name)
    for f in list(logger.filters):
        if isinstance(f, RedactSecrets):
            logger.removeFilter(f)
    logger.addFilter(RedactSecrets(secrets))
    return logger
