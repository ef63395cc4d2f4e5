"""Downloading a Slack file with the bot token, which goes to Slack's file hosts only.

The token rides on ``Authorization: Bearer``; :mod:`audiogpt.bots.fetch_policy` sends it
over https to Slack's hosts (or the configured ``SLACK_API_URL`` origin) and checks every
redirect hop. Slack answers a bad or missing token with its HTML sign-in page and status
200, so a download is checked for that too.
"""

from __future__ import annotations

import aiohttp

from audiogpt.bots.fetch_policy import HostPolicy, fetch
from audiogpt.bots.slack.payloads import DownloadError


async def download(session: aiohttp.ClientSession | None, url: str, token: str, *, policy: HostPolicy,
                   max_bytes: int, timeout: float = 120.0) -> bytes:
    """The bytes of a private Slack file; raises :class:`~audiogpt.bots.fetch_policy.FetchRefused`
    for a URL off Slack's hosts (before any request) and :class:`DownloadError` for the sign-in page."""
    own = session is None
    s = session or aiohttp.ClientSession()
    try:
        data, content_type = await fetch(s, url, policy=policy, credentials={"Authorization": f"Bearer {token}"},
                                         max_bytes=max_bytes, timeout=timeout)
    finally:
        if own:
            await s.close()
    if content_type == "text/html":
        raise DownloadError("Slack sent its sign-in page instead of the file (is files:read granted?)")
    return data
