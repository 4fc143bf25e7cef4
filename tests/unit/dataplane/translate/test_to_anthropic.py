from __future__ import annotations

from typing import Any

import msgspec
import pytest

from dataplane.errors import InvalidParameterError
from dataplane.translate.openai_types import ChatRequest
from dataplane.translate.to_anthropic import DEFAULT_MAX_TOKENS, anthropic_request


def translated(request: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    chat = msgspec.convert({"model": "claude", **request}, ChatRequest)
    result: dict[str, Any] = msgspec.to_builtins(anthropic_request(chat, stream=stream))
    return result


USER_HI = {"role": "user", "content": [{"type": "text", "text": "Hi"}]}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "system and developer prompts join into system; max_tokens defaults",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hi"},
            ]
        },
        {"system": "Be brief.\n\nAnswer in French.", "messages": [USER_HI], "max_tokens": DEFAULT_MAX_TOKENS},
    ),
    (
        "multi-turn keeps the order; empty assistant text is left out",
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "How are you?"},
            ],
            "max_tokens": 50,
        },
        {
            "messages": [
                USER_HI,
                {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
                {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
            ],
            "max_tokens": 50,
        },
    ),
    (
        "tool calls (one without arguments) and their results, merged into alternating turns",
        {
            "messages": [
                {"role": "user", "content": "Weather and time?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                        },
                        {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}},
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
                {"role": "user", "content": "Thanks"},
            ],
            "max_completion_tokens": 100,
            "max_tokens": 5,
        },
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather and time?"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                        {"type": "tool_use", "id": "call_2", "name": "time", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "call_1",
                            "content": [{"type": "text", "text": "Sunny"}],
                        },
                        {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
                        {"type": "text", "text": "Thanks"},
                    ],
                },
            ],
            "max_tokens": 100,
        },
    ),
    (
        "tools, required tool choice and no parallel calls",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "description": "Weather",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    },
                },
                {"type": "function", "function": {"name": "time"}},
            ],
            "tool_choice": "required",
            "parallel_tool_calls": False,
        },
        {
            "messages": [USER_HI],
            "max_tokens": DEFAULT_MAX_TOKENS,
            "tools": [
                {
                    "name": "weather",
                    "description": "Weather",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
                {"name": "time", "input_schema": {"type": "object", "properties": {}}},
            ],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        },
    ),
    (
        "a named tool choice",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"type": "function", "function": {"name": "time"}}],
            "tool_choice": {"type": "function", "function": {"name": "time"}},
        },
        {
            "messages": [USER_HI],
            "max_tokens": DEFAULT_MAX_TOKENS,
            "tools": [{"name": "time", "input_schema": {"type": "object", "properties": {}}}],
            "tool_choice": {"type": "tool", "name": "time"},
        },
    ),
    (
        "images by URL and base64",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "low"}},
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                    ],
                }
            ],
            "max_tokens": DEFAULT_MAX_TOKENS,
        },
    ),
    (
        "sampling, stop sequences and the user",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "END",
            "user": "u-1",
        },
        {
            "messages": [USER_HI],
            "max_tokens": DEFAULT_MAX_TOKENS,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
        },
    ),
]


@pytest.mark.parametrize(("request_", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_openai_requests_translate_to_anthropic(request_: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translated(request_) == {"model": "claude", **expected}


def test_a_stream_request_asks_anthropic_to_stream() -> None:
    assert translated({"messages": [{"role": "user", "content": "Hi"}]}, stream=True)["stream"] is True


REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("several choices", {"n": 2}, "n"),
    ("json mode", {"response_format": {"type": "json_object"}}, "response_format"),
    (
        "an audio part",
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "messages[0].content[0]",
    ),
    (
        "an image URL that is neither http nor base64",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}]}]},
        "messages[0].content[0]",
    ),
    (
        "tool arguments that are not a JSON object",
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]},
            ]
        },
        "messages[1].tool_calls[0].function.arguments",
    ),
    ("an unknown role", {"messages": [{"role": "critic", "content": "Hi"}]}, "messages[0].role"),
    ("only a system prompt", {"messages": [{"role": "system", "content": "Hi"}]}, "messages"),
]


@pytest.mark.parametrize(("request_", "param"), [(c[1], c[2]) for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_what_anthropic_cannot_express_is_refused_naming_the_field(request_: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        translated({"messages": [{"role": "user", "content": "Hi"}], **request_})
    assert caught.value.param == param
    assert caught.value.status == 400
