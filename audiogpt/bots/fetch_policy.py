"""Where a platform file URL may be fetched from, and a download that checks every redirect hop.

A file URL in a platform payload is data, not a promise: Slack documents that the
``url_private`` of a remote file is the external URL its creator gave and "can point to
any host" that must not get a Slack token; a Discord attachment URL should be Discord's
CDN. So a credential goes only to the platform's own file hosts over https, and to the one
origin an operator named explicitly (the API base URL setting, which is how the tests'
fake platforms on loopback are reached). Nothing else extends the set.

Redirects are followed by hand (``allow_redirects=False``): each hop's scheme and host are
checked again, ``Authorization`` is dropped for good once a hop leaves the allowed set
(aiohttp would keep it on same-host hops only, but would follow to anywhere), and the
number of hops is capped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_HOPS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}

# Slack's file and API hosts: slack.com and GovSlack's slack-gov.com, with their subdomains
# (files.slack.com serves url_private / url_private_download). The same set slack-go sends
# tokens to since its fix for remote files (GHSA-3q3v-34v2-g88f).
SLACK_DOMAINS = ("slack.com", "slack-gov.com")
# Discord's attachment CDN and its media proxy
DISCORD_CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")


class FetchRefused(Exception):
    """A URL outside the allowed set; ``user_message`` is the one sentence the user gets."""

    def __init__(self, reason: str, user_message: str) -> None:
        super().__init__(reason)
        self.user_message = user_message


class FetchFailed(RuntimeError):
    """A download that went wrong; ``str()`` says why, for the log (never headers or tokens)."""


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or DEFAULT_PORTS[scheme]


@dataclass(frozen=True)
class HostPolicy:
    """The hosts a platform credential may be sent to.

    ``domains``: https on port 443 to the domain or any subdomain; ``hosts``: https on 443 to
    exactly these; ``origins``: exactly these (scheme, host, port), from explicit settings.
    """

    domains: frozenset[str] = field(default_factory=frozenset)
    hosts: frozenset[str] = field(default_factory=frozenset)
    origins: frozenset[tuple[str, str, int]] = field(default_factory=frozenset)

    @classmethod
    def of(cls, *, domains: Iterable[str] = (), hosts: Iterable[str] = (),
           base_urls: Iterable[str | None] = ()) -> HostPolicy:
        origins = {o for o in (_origin(u) for u in base_urls if u) if o is not None}
        return cls(frozenset(d.lower() for d in domains), frozenset(h.lower() for h in hosts), frozenset(origins))

    def allows(self, url: str) -> bool:
        origin = _origin(url)
        if origin is None:
            return False
        if origin in self.origins:
            return True
        scheme, host, port = origin
        if scheme != "https" or port != 443:
            return False
        return host in self.hosts or any(host == d or host.endswith("." + d) for d in self.domains)


def slack_policy(api_url: str | None) -> HostPolicy:
    """Slack's hosts plus the origin of ``SLACK_API_URL`` (a fake Slack in tests)."""
    return HostPolicy.of(domains=SLACK_DOMAINS, base_urls=(api_url,))


def discord_policy(api_base_url: str | None) -> HostPolicy:
    """Discord's CDN plus the origin of ``DISCORD_API_BASE_URL`` (a fake Discord in tests)."""
    return HostPolicy.of(hosts=DISCORD_CDN_HOSTS, base_urls=(api_base_url,))


async def fetch(session: aiohttp.ClientSession, url: str, *, policy: HostPolicy,
                credentials: Mapping[str, str] | None = None, max_bytes: int, timeout: float = 120.0,
                max_hops: int = MAX_HOPS, refused: str = "") -> tuple[bytes, str]:
    """The body and content type at ``url``, with ``credentials`` (headers) sent only to allowed hosts.

    The first URL must be allowed (else :class:`FetchRefused` with ``refused`` as the user's
    sentence, before any request); a redirect to a host outside the set is followed without
    the credentials, and they are not sent again on later hops.
    """
    if not policy.allows(url):
        raise FetchRefused(f"{_where(url)} is not an allowed file host", refused or
                           "I did not open that file: its link points outside the platform's file servers.")
    headers = dict(credentials or {})
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    for _hop in range(max_hops + 1):
        if _origin(url) is None:
            raise FetchFailed(f"a redirect led to {_where(url)}, which is not an http(s) URL")
        if headers and not policy.allows(url):
            headers = {}  # this hop leaves the platform: no credentials, now or later
        async with session.get(url, headers=headers, allow_redirects=False, timeout=client_timeout) as resp:
            if resp.status in REDIRECTS:
                location = resp.headers.get("Location")
                if not location:
                    raise FetchFailed(f"HTTP {resp.status} from {_where(url)} without a Location")
                url = str(resp.url.join(URL(location)))
                continue
            if resp.status != 200:
                raise FetchFailed(f"HTTP {resp.status} from {_where(url)}")
            data = bytearray()
            async for chunk in resp.content.iter_chunked(1 << 16):
                data += chunk
                if len(data) > max_bytes:
                    raise FetchFailed("the file is larger than the upload limit")
            return bytes(data), resp.content_type
    raise FetchFailed(f"more than {max_hops} redirects")


def _where(url: str) -> str:
    """Scheme and host of a URL for a log line (its path and query may carry signatures)."""
    o = _origin(url)
    return f"{o[0]}://{o[1]}:{o[2]}" if o else "a URL that is not http(s)"
