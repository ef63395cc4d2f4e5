"""A bot process for the crash test: starts a turn whose job hangs, so the test can SIGKILL it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from audiogpt.config import Settings
from audiogpt.core.app import App
from audiogpt.core.events import Incoming
from tests.helpers import GainBackend, ScriptedChatModel, bytes_attachment, tone_wav
from tests.test_dialogue import enhance_script, registry_with


async def main(data_dir: str, db_url: str) -> None:
    s = Settings(data_dir=Path(data_dir), database_url=db_url, llm="offline", job_lease_seconds=2.0,
                 _env_file=None)  # type: ignore[call-arg]
    app = await App.open(s, model=ScriptedChatModel(script=enhance_script), registry=registry_with(GainBackend(sleep=60)))
    print("ready", flush=True)
    await app.dialogue.handle(Incoming(platform="test", conversation="crash", author="u", text="clean this",
                                       attachments=(bytes_attachment(tone_wav(), "n.wav"),), message_id="m1"))
    print("finished (should have been killed)", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
