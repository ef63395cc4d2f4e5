"""The tool-calling LLM loop and the chat models it drives (OpenAI-compatible or offline)."""
