"""Building the chat model: a LangChain ``init_chat_model`` or the offline engine."""

from __future__ import annotations

import logging

from langchain_core.language_models.chat_models import BaseChatModel

from audiogpt.config import Settings

log = logging.getLogger(__name__)


def engine_name(settings: Settings) -> str:
    """``offline`` or ``provider:model`` as :func:`make_chat_model` would build it."""
    choice = settings.llm.strip()
    if choice == "offline":
        return "offline"
    if choice == "auto":
        if settings.openai_api_key or settings.openai_base_url:
            return f"openai:{settings.llm_model}"
        return "offline"
    return choice if ":" in choice else f"openai:{choice}"


def make_chat_model(settings: Settings) -> BaseChatModel:
    name = engine_name(settings)
    if name == "offline":
        from audiogpt.core.engine.offline import OfflineChatModel

        return OfflineChatModel()
    from langchain.chat_models import init_chat_model

    provider, model = name.split(":", 1)
    kwargs: dict[str, object] = {"timeout": settings.llm_timeout, "max_retries": settings.llm_max_retries}
    if provider == "openai":
        if settings.openai_base_url:
            kwargs["base_url"] = settings.openai_base_url
        # local OpenAI-compatible servers (vLLM, llama.cpp, Ollama) accept any key
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        kwargs["api_key"] = key or ("not-needed" if settings.openai_base_url else None)
    log.info("LLM engine: %s:%s%s", provider, model, f" at {settings.openai_base_url}" if settings.openai_base_url else "")
    return init_chat_model(model, model_provider=provider, **kwargs)
