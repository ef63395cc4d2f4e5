"""The LLM path over real HTTP: langchain-openai + the openai client against a fake server on loopback."""

from __future__ import annotations

import json
from typing import Any

from audiogpt.core.engine.llm import engine_name, make_chat_model
from audiogpt.core.events import Incoming
from tests.fake_openai import FakeOpenAI, text_reply, tool_call_reply
from tests.helpers import GainBackend, bytes_attachment, tone_wav
from tests.test_dialogue import registry_with


def _tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    msgs = body["messages"]
    last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
    return [json.loads(m["content"]) for m in msgs[last_user:] if m["role"] == "tool"]


async def test_scripted_tool_call_over_http(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    def script(body: dict[str, Any]) -> dict[str, Any]:
        res = _tool_results(body)
        if not res:
            return tool_call_reply("speech_enhancement", json.dumps({"audio": "a1"}))
        return text_reply(f"Here you go: {res[0]['artifacts'][0]['id']}")

    with FakeOpenAI(script) as fake:
        s = settings.model_copy(update={"llm": "auto", "openai_api_key": "sk-test", "openai_base_url": fake.base_url,
                                        "llm_model": "gpt-test"})
        assert engine_name(s) == "openai:gpt-test"
        app = await app_factory(settings=s, model=make_chat_model(s), registry=registry_with(GainBackend()))
        out = await app.dialogue.handle(Incoming(platform="test", conversation="c", author="u", text="clean this",
                                                 attachments=(bytes_attachment(tone_wav(), "x.wav"),)))
    assert out.text == "Here you go: a2"
    assert [c.tool for c in out.tool_calls] == ["speech_enhancement"] and out.tool_calls[0].ok
    first = fake.requests[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer sk-test"
    body = first["body"]
    assert body["model"] == "gpt-test"
    names = [t["function"]["name"] for t in body["tools"]]
    assert len(names) == 17 and "speech_enhancement" in names
    enh = next(t for t in body["tools"] if t["function"]["name"] == "speech_enhancement")["function"]
    assert enh["parameters"]["properties"]["audio"]["artifact"] == "audio"
    assert "[Available: lite backend test-gain.]" in enh["description"]
    assert "a1 (audio, x.wav" in body["messages"][0]["content"]
    assert "[Attached: a1" in body["messages"][1]["content"]
    second = fake.requests[1]["body"]["messages"]
    assert second[-2]["role"] == "assistant" and second[-2]["tool_calls"][0]["function"]["name"] == "speech_enhancement"
    assert second[-1]["role"] == "tool" and json.loads(second[-1]["content"])["ok"] is True


async def test_malformed_tool_arguments_are_fed_back(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    def script(body: dict[str, Any]) -> dict[str, Any]:
        res = _tool_results(body)
        if not res:
            return tool_call_reply("speech_enhancement", '{"audio": a1')  # not JSON
        return text_reply("error seen: " + res[0]["error"])

    with FakeOpenAI(script) as fake:
        s = settings.model_copy(update={"llm": "openai:gpt-test", "openai_api_key": "k", "openai_base_url": fake.base_url})
        app = await app_factory(settings=s, model=make_chat_model(s), registry=registry_with(GainBackend()))
        out = await app.dialogue.handle(Incoming(platform="test", conversation="c", author="u", text="x"))
    assert out.text.startswith("error seen: The tool call's arguments were not valid JSON")
    assert out.tool_calls == ()


async def test_llm_that_times_out(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI(lambda b: text_reply("too late"), delay=2.0) as fake:
        s = settings.model_copy(update={"llm": "openai:gpt-test", "openai_api_key": "k", "openai_base_url": fake.base_url,
                                        "llm_timeout": 0.5, "llm_max_retries": 0})
        app = await app_factory(settings=s, model=make_chat_model(s))
        out = await app.dialogue.handle(Incoming(platform="test", conversation="c", author="u", text="hello"))
    assert out.text == "The language model did not answer within 0.5 seconds; please try again."
    turn = await app.repo.get_turn(out.turn_id)
    assert turn.status == "failed"


async def test_unreachable_llm_server(app_factory, settings) -> None:  # type: ignore[no-untyped-def]
    s = settings.model_copy(update={"llm": "openai:gpt-test", "openai_api_key": "k",
                                    "openai_base_url": "http://127.0.0.1:9/v1", "llm_max_retries": 0})
    app = await app_factory(settings=s, model=make_chat_model(s))
    out = await app.dialogue.handle(Incoming(platform="test", conversation="c", author="u", text="hello"))
    assert out.text.startswith("The language model could not be reached (")
