"""``/audiogpt <text>``: acked at once, answered in the channel or only to the user, with a
"Continue in a thread" button.

In the channel, the question is posted first as a placeholder message; its ts is the
conversation's thread, the answer replaces it, and the button opens that thread. An
ephemeral answer has no thread, so its conversation is keyed by the command's trigger id,
and the button posts a public root message and links that thread to the conversation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

CONTINUE_ACTION = "audiogpt_continue"


def continue_button(conversation: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": "audiogpt_continue",
            "elements": [{"type": "button", "action_id": CONTINUE_ACTION, "value": conversation,
                          "text": {"type": "plain_text", "text": "Continue in a thread"}}]}


def asked_block(user: str, text: str) -> dict[str, Any]:
    from audiogpt.bots.slack.posting import escape

    shown = text if len(text) <= 500 else text[:497] + "…"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<@{user}> asked: {escape(shown)}"}]}


@dataclass(frozen=True)
class SlashCommand:
    """The fields of a slash-command payload the adapter uses."""

    team: str
    channel: str
    user: str
    text: str
    trigger_id: str
    response_url: str | None

    @classmethod
    def from_payload(cls, body: dict[str, Any]) -> SlashCommand:
        return cls(team=str(body.get("team_id") or ""), channel=str(body.get("channel_id") or ""),
                   user=str(body.get("user_id") or ""), text=str(body.get("text") or "").strip(),
                   trigger_id=str(body.get("trigger_id") or ""), response_url=body.get("response_url"))

    @property
    def message_id(self) -> str:
        return f"cmd-{self.trigger_id}"


HELP = ("Ask me anything about audio, e.g. `/audiogpt say hello in a calm voice`, or mention me in a channel "
        "with a file attached. In a thread, mention me to go on.")

Ack = Callable[..., Awaitable[None]]
