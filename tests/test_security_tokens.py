"""Platform credentials go only to the platform's file hosts: Slack files and Discord attachments.

Real servers on loopback record what reached them: the fake Slack and fake Discord (the
allowed origins, named by their base-URL settings) and a ``Recorder`` on another port
standing for any other host. The Slack adapter, the Discord adapter and the dialogue run
for real; nothing between them is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from langchain_core.messages import AIMessage

from audiogpt.bots.fetch_policy import (
    FetchFailed,
    FetchRefused,
    discord_policy,
    fetch,
    slack_policy,
)
from audiogpt.config import Settings
from audiogpt.core.events import Attachment, Incoming
from tests.fake_discord import BOT_ID, FakeDiscord, user
from tests.fake_slack import FakeSlack
from tests.helpers import ScriptedChatModel, tone_wav
from tests.slack_helpers import BOT_TOKEN, dm, slack_rig
from tests.test_slack import slack_settings

NOT_SLACK = "its download link does not point to Slack's file servers"


class Recorder:
    """An HTTP server that records each request's path and Authorization header.

    ``redirects`` maps a path to the Location it answers with (302); other paths serve bytes.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.redirects: dict[str, str] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> Recorder:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._any)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _any(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, request.headers.get("Authorization")))
        if request.path in self.redirects:
            return web.Response(status=302, headers={"Location": self.redirects[request.path]})
        return web.Response(body=tone_wav(0.2), content_type="audio/wav")


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    r = await Recorder().start()
    yield r
    await r.close()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    f = await FakeSlack().start()
    f.add_team(BOT_TOKEN, "T1")
    yield f
    await f.close()


# --- the policy -------------------------------------------------------------------------------


def test_slack_hosts_are_https_slack_domains_plus_the_configured_api_origin_only() -> None:
    p = slack_policy("https://slack.com/api/")
    assert p.allows("https://files.slack.com/files-pri/T1-F1/a.m4a")
    assert p.allows("https://files.slack-gov.com/files-pri/T1-F1/a.m4a")
    for url in ("http://files.slack.com/files-pri/T1-F1/a.m4a",  # plain http
                "https://files.slack.com:8443/a", "https://slack.com.evil.example/a", "https://evilslack.com/a",
                "https://files.slack.com@evil.example/a", "ftp://files.slack.com/a", "files.slack.com/a", ""):
        assert not p.allows(url), url
    fake = slack_policy("http://127.0.0.1:4010/api/")
    assert fake.allows("http://127.0.0.1:4010/files-pri/F1/a.wav")
    assert not fake.allows("http://127.0.0.1:4011/files-pri/F1/a.wav")  # another port is another host
    assert not fake.allows("http://localhost:4010/files-pri/F1/a.wav")
    assert not fake.allows("https://127.0.0.1:4010/a")  # the scheme is part of the origin


def test_discord_attachments_come_from_the_cdn_plus_the_configured_api_origin_only() -> None:
    p = discord_policy("https://discord.com/api/v10")
    assert p.allows("https://cdn.discordapp.com/attachments/1/2/a.ogg")
    assert p.allows("https://media.discordapp.net/attachments/1/2/a.ogg")
    for url in ("http://cdn.discordapp.com/attachments/1/2/a.ogg", "https://cdn.discordapp.com.evil.example/a",
                "https://evil.example/a.ogg", "https://discordapp.com/a", "http://169.254.169.254/latest/meta-data"):
        assert not p.allows(url), url
    assert discord_policy("http://127.0.0.1:4020/api/v10").allows("http://127.0.0.1:4020/attachments/1/a.wav")


# --- redirects, hop by hop ----------------------------------------------------------------------


async def test_redirects_keep_the_token_on_the_allowed_origin_and_drop_it_for_good_elsewhere(
        recorder: Recorder) -> None:
    other = await Recorder().start()
    try:
        policy = slack_policy(recorder.base + "/api/")
        creds = {"Authorization": f"Bearer {BOT_TOKEN}"}
        recorder.redirects["/same"] = "/files-pri/F1/a.wav"  # same origin, relative Location
        recorder.redirects["/away"] = other.base + "/elsewhere"
        other.redirects["/elsewhere"] = recorder.base + "/back"  # and back to the allowed host
        async with aiohttp.ClientSession() as s:
            data, ctype = await fetch(s, recorder.base + "/same", policy=policy, credentials=creds, max_bytes=1 << 20)
            assert data.startswith(b"RIFF") and ctype == "audio/wav"
            assert recorder.seen == [("/same", f"Bearer {BOT_TOKEN}"), ("/files-pri/F1/a.wav", f"Bearer {BOT_TOKEN}")]
            recorder.seen.clear()
            await fetch(s, recorder.base + "/away", policy=policy, credentials=creds, max_bytes=1 << 20)
        assert other.seen == [("/elsewhere", None)]
        assert recorder.seen == [("/away", f"Bearer {BOT_TOKEN}"), ("/back", None)]  # not re-sent after leaving
    finally:
        await other.close()


async def test_redirect_loops_and_odd_locations_stop_with_a_message_that_holds_no_token(recorder: Recorder) -> None:
    policy = slack_policy(recorder.base + "/api/")
    recorder.redirects["/loop"] = "/loop"
    recorder.redirects["/ftp"] = "ftp://files.slack.com/a"
    async with aiohttp.ClientSession() as s:
        with pytest.raises(FetchFailed) as loop:
            await fetch(s, recorder.base + "/loop", policy=policy,
                        credentials={"Authorization": f"Bearer {BOT_TOKEN}"}, max_bytes=1 << 20)
        assert len(recorder.seen) == 6  # the first request and 5 hops, not aiohttp's 10
        with pytest.raises(FetchFailed):
            await fetch(s, recorder.base + "/ftp", policy=policy, max_bytes=1 << 20)
        with pytest.raises(FetchRefused):
            await fetch(s, "http://127.0.0.1:1/x", policy=policy, max_bytes=1 << 20)
    assert BOT_TOKEN not in f"{loop.value} {loop.value!r}" and "redirects" in str(loop.value)


# --- Slack end to end ------------------------------------------------------------------------------


def file_payload(name: str, url: str, **extra: Any) -> dict[str, Any]:
    """A Slack file object with only ``url_private`` (no ``url_private_download``)."""
    return {"id": "FX1", "name": name, "title": name, "mimetype": "audio/wav", "filetype": "wav", "size": 1000,
            "url_private": url, **extra}


async def answer_to_file(app_factory, settings: Settings, fake: FakeSlack, f: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    model = ScriptedChatModel(script=lambda m: AIMessage(content="should not be asked"))
    s = slack_settings(settings, fake)
    app = await app_factory(settings=s, model=model)
    async with slack_rig(app, s, fake) as rig:
        await rig.event(dm("", "1700.5000", files=[f]))
        answer = (await fake.wait_for("chat.postMessage"))[0]
        await rig.idle()
    assert model.calls == 0
    return str(answer.args["text"])


@pytest.mark.parametrize("where", ["other-port", "other-hostname", "plain-http-slack"])
async def test_slack_file_url_off_slacks_hosts_gets_no_token_and_one_sentence(
        app_factory, settings: Settings, fake_slack: FakeSlack, recorder: Recorder, where: str) -> None:  # type: ignore[no-untyped-def]
    url = {"other-port": f"{recorder.base}/files-pri/T1-F1/take.wav",
           "other-hostname": f"http://localhost:{fake_slack.port}/files-pri/FX1/take.wav",
           "plain-http-slack": "http://files.slack.com/files-pri/T1-FX1/take.wav"}[where]
    text = await answer_to_file(app_factory, settings, fake_slack, file_payload("take.wav", url))
    assert text == f"I did not open 'take.wav': {NOT_SLACK}."
    assert recorder.seen == [] and fake_slack.calls_to("download") == []  # no request at all, so no token


async def test_remote_slack_file_is_skipped_with_one_sentence_and_a_hosted_one_still_downloads(
        app_factory, settings: Settings, fake_slack: FakeSlack, recorder: Recorder) -> None:  # type: ignore[no-untyped-def]
    # Slack's remote files: url_private is the creator's external URL, wherever that is
    remote = file_payload("brief.wav", f"{recorder.base}/drive/brief.wav", is_external=True, external_type="gdrive",
                          mode="external")
    hosted = fake_slack.add_file("take.wav", tone_wav(0.5), "audio/wav")
    del hosted["url_private_download"]  # url_private alone is fine on Slack's own host
    seen: list[list[str]] = []

    def script(messages: Any) -> AIMessage:
        seen.append(messages[-1].additional_kwargs["audiogpt"]["attachments"])
        return AIMessage(content="Got the recording.")

    s = slack_settings(settings, fake_slack)
    app = await app_factory(settings=s, model=ScriptedChatModel(script=script))
    async with slack_rig(app, s, fake_slack) as rig:
        await rig.event(dm("what is in these?", "1700.5100", files=[remote, hosted]))
        answer = (await fake_slack.wait_for("chat.postMessage"))[0]
        await rig.idle()
    assert str(answer.args["text"]).startswith(
        "I did not open 'brief.wav': it is a link to a file stored outside Slack, so upload the file itself")
    assert str(answer.args["text"]).endswith("Got the recording.")
    assert recorder.seen == [] and seen == [["a1"]]
    assert [c.token for c in fake_slack.calls_to("download")] == [BOT_TOKEN]


async def test_a_failed_download_is_logged_by_type_without_the_request_headers(
        app_factory, recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """aiohttp's redirect-loop error carries the request (headers and all) in its repr."""
    recorder.redirects["/loop"] = "/loop"

    async def fetch_looping() -> bytes:
        async with aiohttp.ClientSession() as s, s.get(recorder.base + "/loop",
                                                        headers={"Authorization": f"Bearer {BOT_TOKEN}"}) as r:
            return await r.read()

    app = await app_factory(model=ScriptedChatModel(script=lambda m: AIMessage(content="unused")))
    att = Attachment(name="loop.wav", mime="audio/wav", size=10, fetch=fetch_looping)
    with caplog.at_level(logging.DEBUG):
        out = await app.dialogue.handle(Incoming(platform="cli", conversation="cli:sec-1", author="u", text="",
                                                 attachments=(att,)))
    assert out.text == "I could not download 'loop.wav'; please send it again."
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "TooManyRedirects" in logged and BOT_TOKEN not in logged and "Authorization" not in logged


# --- Discord end to end ------------------------------------------------------------------------------


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    f = await FakeDiscord().start()
    yield f
    await f.close()


async def test_discord_attachment_off_the_cdn_is_refused(
        app_factory, settings: Settings, fake_discord: FakeDiscord, recorder: Recorder) -> None:  # type: ignore[no-untyped-def]
    from audiogpt.bots.discord.adapter import DiscordAdapter

    s = settings.model_copy(update={"discord_token": "fake-token", "discord_api_base_url": fake_discord.api_base,
                                    "discord_status_after": 600.0})
    model = ScriptedChatModel(script=lambda m: AIMessage(content="should not be asked"))
    app = await app_factory(settings=s, model=model)
    adapter = DiscordAdapter(app)
    task = asyncio.create_task(adapter.start())
    try:
        await fake_discord.wait_ready()
        bot = user(BOT_ID, "audiogpt", bot=True)
        att = fake_discord.add_file(tone_wav(0.2), "take.wav", "audio/wav",
                                    extra={"url": f"{recorder.base}/take.wav", "proxy_url": f"{recorder.base}/take.wav"})
        msg = await fake_discord.message_create(f"<@{BOT_ID}>", mentions=[bot], attachments=[att])
        answer = await fake_discord.wait_for(lambda: fake_discord.sent("POST", rf"^/channels/{msg['id']}/messages$"))
    finally:
        await adapter.stop()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    assert answer[0].content == "I did not open 'take.wav': its link does not point to Discord's file servers."
    assert recorder.seen == [] and model.calls == 0
