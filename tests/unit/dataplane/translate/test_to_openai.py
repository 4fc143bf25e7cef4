from __future__ import annotations

from typing import Any

import msgspec
import pytest

from dataplane.anthropic_wire import MessagesRequest
from dataplane.errors import InvalidParameterError
from dataplane.translate.to_openai import openai_request


def translated(request: dict[str, Any]) -> dict[str, Any]:
    anthropic = msgspec.convert({"model": "gpt", "max_tokens": 64, **request}, MessagesRequest)
    result: dict[str, Any] = msgspec.to_builtins(openai_request(anthropic))
    return result


CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "a system prompt and a plain user message",
        {"system": "Be brief.", "messages": [{"role": "user", "content": "Hi"}]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
    ),
    (
        "system text blocks (with cache_control) join",
        {
            "system": [
                {"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "B"},
            ],
            "messages": [{"role": "user", "content": "Hi"}],
        },
        {"messages": [{"role": "system", "content": "A\n\nB"}, {"role": "user", "content": "Hi"}]},
    ),
    (
        "tool use and results: results become tool messages before the rest of the turn; thinking is not replayed",
        {
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
                        {"type": "tool_use", "id": "toolu_2", "name": "time", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                        {
                            "type": "tool_result",
                            "tool_use_id": "toolu_2",
                            "content": [{"type": "text", "text": "noon"}],
                        },
                        {"type": "text", "text": "Thanks"},
                    ],
                },
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                            "type": "function",
                        },
                        {"id": "toolu_2", "function": {"name": "time", "arguments": "{}"}, "type": "function"},
                    ],
                },
                {"role": "tool", "content": "Sunny", "tool_call_id": "toolu_1"},
                {"role": "tool", "content": "noon", "tool_call_id": "toolu_2"},
                {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
            ]
        },
    ),
    (
        "images by base64 and URL",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
                        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    ],
                }
            ]
        },
    ),
    (
        "tools, tool choice any without parallel calls, sampling, stop sequences, user",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"name": "time", "description": "Time", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "temperature": 0.5,
            "top_p": 0.8,
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u-1"},
        },
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [
                {
                    "function": {"name": "time", "description": "Time", "parameters": {"type": "object"}},
                    "type": "function",
                }
            ],
            "tool_choice": "required",
            "parallel_tool_calls": False,
            "temperature": 0.5,
            "top_p": 0.8,
            "stop": ["END"],
            "user": "u-1",
        },
    ),
    (
        "a named tool choice",
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"name": "time", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "time"},
        },
        {
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"function": {"name": "time", "parameters": {"type": "object"}}, "type": "function"}],
            "tool_choice": {"function": {"name": "time"}, "type": "function"},
        },
    ),
]


@pytest.mark.parametrize(("request_", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_anthropic_requests_translate_to_openai(request_: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translated(request_) == {"model": "gpt", "max_tokens": 64, **expected}


def test_a_stream_request_asks_for_the_usage_chunk() -> None:
    result = translated({"messages": [{"role": "user", "content": "Hi"}], "stream": True})
    assert result["stream"] is True
    assert result["stream_options"] == {"include_usage": True}


REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("top_k", {"top_k": 5}, "top_k"),
    ("a server tool", {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
    (
        "an image in a tool result",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [{"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}],
                        }
                    ],
                }
            ]
        },
        "messages[0].content[0].content[0]",
    ),
    (
        "a document block",
        {
            "messages": [
                {"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]}
            ]
        },
        "messages[0].content[0]",
    ),
]


@pytest.mark.parametrize(("request_", "param"), [(c[1], c[2]) for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_what_openai_chat_cannot_express_is_refused_naming_the_field(request_: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        translated({"messages": [{"role": "user", "content": "Hi"}], **request_})
    assert caught.value.param == param
