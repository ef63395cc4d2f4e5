"""Test helpers shipped with the tests: scripted chat model, small backends, file makers."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable

from audiogpt.core.events import Attachment
from audiogpt.models.base import Audio, BackendInfo, BackendResult, OutputFile

Script = Callable[[list[BaseMessage]], AIMessage]


class ScriptedChatModel(BaseChatModel):
    """A chat model whose answers come from a Python function of the messages."""

    script: Any
    calls: int = 0
    delay: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, BaseMessage]:
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        import time

        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        return ChatResult(generations=[ChatGeneration(message=self.script(messages))])


def call(name: str, args: dict[str, Any], cid: str = "c1") -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": cid, "type": "tool_call"}])


class GainBackend:
    """A real (tiny) DSP backend used to exercise the job path: halves the level."""

    name = "test-gain"
    task = "speech_enhancement"
    kind = "lite"

    def __init__(self, fail: bool = False, sleep: float = 0.0) -> None:
        self.fail = fail
        self.sleep = sleep
        self.loads = 0
        self.intervals: list[tuple[float, float]] = []

    def describe(self) -> BackendInfo:
        return BackendInfo(self.name, self.task, "lite", "none", "Apache-2.0", True, memory_mb=1)

    def load(self) -> Any:
        self.loads += 1
        return object()

    def run(self, model: Any, *, audio: Audio) -> BackendResult:
        import time

        t0 = time.monotonic()
        if self.sleep:
            time.sleep(self.sleep)
        self.intervals.append((t0, time.monotonic()))
        if self.fail:
            raise RuntimeError("boom")
        return BackendResult(text="halved", outputs=[OutputFile("enhanced", audio=Audio(audio.samples * 0.5, audio.sample_rate))],
                             data={"gain": 0.5})


def tone_wav(seconds: float = 1.0, sr: int = 16000, freq: float = 440.0) -> bytes:
    t = np.arange(int(seconds * sr)) / sr
    x = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(x.tobytes())
    return buf.getvalue()


def bytes_attachment(data: bytes, name: str, mime: str = "audio/wav", size: int | None = None) -> Attachment:
    async def fetch() -> bytes:
        return data

    return Attachment(name=name, mime=mime, size=len(data) if size is None else size, fetch=fetch)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
