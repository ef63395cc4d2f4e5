"""Slack: mentions, DMs, threads, audio clips, ``/audiogpt``, progress, and OAuth installs.

A thin adapter on slack-bolt (AsyncApp) and slack-sdk: ``payloads`` turns Slack events into
``Incoming``, ``posting`` and ``progress`` turn ``Outgoing`` / ``Progress`` into Web API calls,
``commands`` holds the slash command's pieces, ``oauth`` the multi-workspace install, and
``manifest`` the app manifest. It never talks to a model.

Heavy imports wait for :func:`make_adapter`, so ``audiogpt slack manifest`` stays light.
"""

from __future__ import annotations

from typing import Any


def make_adapter(app: Any) -> Any:
    """The launcher's ``PlatformAdapter`` for Slack (Socket Mode or HTTP by settings).

    Settings that cannot work stop the process with one sentence saying what is missing.
    """
    import sys

    from audiogpt.bots.slack.adapter import SlackAdapter, SlackConfigError

    try:
        return SlackAdapter(app)
    except SlackConfigError as exc:
        print(f"Slack: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


__all__ = ["make_adapter"]
