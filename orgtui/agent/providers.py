"""Model adapters for the builtin agent: anthropic Messages and openai Responses.

The only module that imports the SDKs. Each adapter keeps the conversation in its own wire
format and answers ``step()`` with a neutral ``Turn``. Retries are ours, not the SDK's, so
the pane can show them: 429 and 5xx back off (honouring ``retry-after``), 401/403 raise
``AuthFailed``. Keys and base URLs come from the environment, read by the SDKs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orgtui.agent.tools import TOOLS
from orgtui.errors import OrgtuiError

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-5"}
KEY_VARS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
MAX_TOKENS = 8192
MAX_ATTEMPTS = 6
BACKOFF_CAP_S = 60.0


class ProviderError(OrgtuiError):
    """The model could not be reached or refused the request."""


class AuthFailed(ProviderError):
    """The key was refused (401/403); retrying will not help."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Turn:
    text: str
    calls: tuple[ToolCall, ...]
    usage: dict[str, int] = field(default_factory=dict)


def anthropic_usage(u: Any) -> dict[str, int]:
    """Messages ``usage``: input_tokens already leaves out the cache writes and reads."""
    if u is None:
        return {}
    return {
        "input_tokens": u.input_tokens or 0,
        "output_tokens": u.output_tokens or 0,
        "cache_write_tokens": getattr(u, "cache_creation_input_tokens", None) or 0,
        "cache_read_tokens": getattr(u, "cache_read_input_tokens", None) or 0,
    }


def openai_usage(u: Any) -> dict[str, int]:
    """Responses ``usage``: input_tokens includes the cached tokens, counted apart here;
    output_tokens already includes the reasoning tokens."""
    if u is None:
        return {}
    details = getattr(u, "input_tokens_details", None)
    cached = min(getattr(details, "cached_tokens", None) or 0, u.input_tokens or 0)
    return {
        "input_tokens": (u.input_tokens or 0) - cached,
        "output_tokens": u.output_tokens or 0,
        "cache_write_tokens": 0,
        "cache_read_tokens": cached,
    }


def _backoff_s() -> float:
    try:
        return float(os.environ.get("ORGTUI_AGENT_BACKOFF_S", "1"))
    except ValueError:
        return 1.0


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def with_retries(call: Callable[[], Any], sdk: Any, say: Callable[[str], None]) -> Any:
    """Run ``call``; back off on rate limits, 5xx and dropped connections."""
    delay = _backoff_s()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return call()
        except (sdk.AuthenticationError, sdk.PermissionDeniedError) as error:
            raise AuthFailed(
                f"the model API refused the key ({error.status_code}): check "
                "the key in the environment of the supervisor"
            ) from None
        except (sdk.RateLimitError, sdk.InternalServerError, sdk.APIConnectionError) as error:
            if attempt == MAX_ATTEMPTS:
                raise ProviderError(
                    f"model API still failing after {attempt} tries: {error}"
                ) from None
            wait = _retry_after(error)
            wait = min(wait if wait is not None else delay, BACKOFF_CAP_S)
            status = getattr(error, "status_code", "connection")
            say(f"model API answered {status}; retrying in {wait:g}s ({attempt}/{MAX_ATTEMPTS})")
            time.sleep(wait)
            delay = min(delay * 2, BACKOFF_CAP_S)
        except sdk.APIStatusError as error:
            raise ProviderError(f"model API error {error.status_code}: {error.message}") from None
    raise AssertionError("unreachable")


class AnthropicProvider:
    def __init__(self, model: str, system: str, say: Callable[[str], None]) -> None:
        import anthropic

        self.sdk = anthropic
        self.client = anthropic.Anthropic(max_retries=0)
        self.model, self.system, self.say = model, system, say
        self.messages: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        self.tools = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in TOOLS
        ]

    def add_user(self, text: str) -> None:
        self.pending.append({"type": "text", "text": text})

    def add_results(self, results: list[tuple[ToolCall, str]]) -> None:
        blocks = [
            {"type": "tool_result", "tool_use_id": call.id, "content": output}
            for call, output in results
        ]
        self.pending[:0] = blocks  # tool results must come first in the user turn

    def step(self) -> Turn:
        self.messages.append({"role": "user", "content": self.pending})
        self.pending = []
        response = with_retries(
            lambda: self.client.messages.create(
                model=self.model,
                max_tokens=MAX_TOKENS,
                system=self.system,
                messages=self.messages,
                tools=self.tools,
            ),
            self.sdk,
            self.say,
        )
        content = [block.model_dump(exclude_none=True) for block in response.content]
        self.messages.append({"role": "assistant", "content": content})
        text = "".join(b.text for b in response.content if b.type == "text")
        calls = tuple(
            ToolCall(b.id, b.name, dict(b.input or {}))
            for b in response.content
            if b.type == "tool_use"
        )
        return Turn(text, calls, anthropic_usage(response.usage))


class OpenAIProvider:
    def __init__(self, model: str, system: str, say: Callable[[str], None]) -> None:
        import openai

        self.sdk = openai
        self.client = openai.OpenAI(max_retries=0)
        self.model, self.system, self.say = model, system, say
        self.items: list[dict[str, Any]] = []
        self.tools = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
            }
            for t in TOOLS
        ]

    def add_user(self, text: str) -> None:
        self.items.append({"role": "user", "content": text})

    def add_results(self, results: list[tuple[ToolCall, str]]) -> None:
        self.items += [
            {"type": "function_call_output", "call_id": call.id, "output": output}
            for call, output in results
        ]

    def step(self) -> Turn:
        response = with_retries(
            lambda: self.client.responses.create(
                model=self.model, instructions=self.system, input=self.items, tools=self.tools
            ),
            self.sdk,
            self.say,
        )
        calls, texts = [], []
        for item in response.output:
            self.items.append(item.model_dump(exclude_none=True))
            if item.type == "function_call":
                try:
                    args = json.loads(item.arguments or "{}")
                except ValueError:
                    args = {}
                calls.append(
                    ToolCall(item.call_id, item.name, args if isinstance(args, dict) else {})
                )
            elif item.type == "message":
                texts += [c.text for c in item.content if getattr(c, "type", "") == "output_text"]
        return Turn("".join(texts), tuple(calls), openai_usage(response.usage))


def open_provider(
    provider: str | None, model: str | None, system: str, say: Callable[[str], None]
) -> AnthropicProvider | OpenAIProvider:
    """The adapter for a seat; a clear error when its key is not in the environment."""
    name = provider or "anthropic"
    if name not in KEY_VARS:
        raise ProviderError(f"unknown provider {name!r}; use anthropic or openai")
    if not os.environ.get(KEY_VARS[name]):
        raise AuthFailed(f"{KEY_VARS[name]} is not set in the environment of the supervisor")
    cls = AnthropicProvider if name == "anthropic" else OpenAIProvider
    return cls(model or DEFAULT_MODELS[name], system, say)
