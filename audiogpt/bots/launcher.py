"""Starting the configured chat platforms."""

from __future__ import annotations

import sys

from audiogpt.config import Settings


async def run_platforms(settings: Settings, platforms: list[str]) -> None:
    # The Discord and Slack adapters are separate issues; until they land, say so plainly.
    names = " and ".join(platforms)
    print(f"A token for {names} is set, but this build has no {names} adapter yet; "
          "unset the token to use the console.", file=sys.stderr)
    raise SystemExit(2)
