"""Responses API request → chat-completions request: what each feature becomes, and what is refused (a 400 that
names the parameter) instead of being dropped."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from dataplane.errors import InvalidRequestError
from dataplane.translate.responses_request import chat_request, decode_request, encode, refuse_tool_output_images

WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": True}


def translated(request: dict[str, Any], **options: bool) -> dict[str, Any]:
    body = msgspec.json.encode({"model": "route", **request})
    chat: dict[str, Any] = msgspec.json.decode(encode(chat_request(decode_request(body), **options)))
    return chat


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        (
            {"input": "Hi", "instructions": "Be brief."},
            {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]},
        ),
        (
            {"input": [{"role": "developer", "content": "Rules"}, {"role": "user", "content": "Hi"}]},
            {"messages": [{"role": "system", "content": "Rules"}, {"role": "user", "content": "Hi"}]},
        ),
        (
            {
                "input": [
                    {
                        "type": "message",
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "What is this?"},
                            {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"},
                        ],
                    }
                ]
            },
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is this?"},
                            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
                        ],
                    }
                ]
            },
        ),
        (
            {
                "input": [
                    {"role": "user", "content": "Weather and time?"},
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
                    },
                    {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city":"SF"}'},
                    {"type": "function_call", "call_id": "c2", "name": "get_time", "arguments": ""},
                    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                    {"type": "function_call_output", "call_id": "c2", "output": "noon"},
                ]
            },
            {
                "messages": [
                    {"role": "user", "content": "Weather and time?"},
                    {"role": "assistant", "content": "Checking."},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c1",
                                "function": {"name": "get_weather", "arguments": '{"city":"SF"}'},
                                "type": "function",
                            },
                            {"id": "c2", "function": {"name": "get_time", "arguments": ""}, "type": "function"},
                        ],
                    },
                    {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
                    {"role": "tool", "content": "noon", "tool_call_id": "c2"},
                ]
            },
        ),
        (
            {
                "input": [
                    {
                        "type": "function_call_output",
                        "call_id": "c1",
                        "output": [
                            {"type": "input_text", "text": "the chart"},
                            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                        ],
                    }
                ]
            },
            {
                "messages": [
                    {
                        "role": "tool",
                        "content": [
                            {"type": "text", "text": "the chart"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                        ],
                        "tool_call_id": "c1",
                    }
                ]
            },
        ),
        (
            {
                "input": "Hi",
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "name": "get_weather"},
                "parallel_tool_calls": False,
            },
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "tools": [
                    {
                        "function": {"name": "get_weather", "parameters": {"type": "object"}, "strict": True},
                        "type": "function",
                    }
                ],
                "tool_choice": {"function": {"name": "get_weather"}, "type": "function"},
                "parallel_tool_calls": False,
            },
        ),
        (
            {"input": "Hi", "tool_choice": "required", "text": {"format": {"type": "json_object"}}},
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "tool_choice": "required",
                "response_format": {"type": "json_object"},
            },
        ),
        (
            {
                "input": "Hi",
                "text": {
                    "format": {"type": "json_schema", "name": "city", "schema": {"type": "object"}, "strict": True}
                },
            },
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "city", "schema": {"type": "object"}, "strict": True},
                },
            },
        ),
        (
            {
                "input": "Hi",
                "max_output_tokens": 64,
                "temperature": 0.2,
                "top_p": 0.9,
                "stream": True,
                "user": "u1",
                "reasoning": {"effort": "low"},
                "store": False,
                "truncation": "disabled",
                "metadata": {"k": "v"},
            },
            {
                "messages": [{"role": "user", "content": "Hi"}],
                "max_tokens": 64,
                "temperature": 0.2,
                "top_p": 0.9,
                "stream": True,
                "stream_options": {"include_usage": True},
                "reasoning_effort": "low",
                "user": "u1",
            },
        ),
    ],
    ids=[
        "instructions",
        "developer-role",
        "image-url",
        "function-calls-and-outputs",
        "tool-output-with-image",
        "function-tools",
        "json-object",
        "json-schema",
        "sampling-and-stream",
    ],
)
def test_responses_fields_map_to_chat_fields(request_fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert translated(request_fields) == {"model": "route", **expected}


def test_the_output_limit_can_go_in_max_completion_tokens() -> None:
    chat = translated({"input": "Hi", "max_output_tokens": 64}, completion_tokens_field=True)
    assert chat["max_completion_tokens"] == 64 and "max_tokens" not in chat


@pytest.mark.parametrize(
    ("request_fields", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"store": True}, "store"),
        ({"background": True}, "background"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"include": ["reasoning.encrypted_content"]}, "include"),
        ({"truncation": "auto"}, "truncation"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [WEATHER, {"type": "file_search", "vector_store_ids": ["vs_1"]}]}, "tools[1].type"),
        ({"tool_choice": {"type": "web_search_preview"}}, "tool_choice.type"),
        ({"reasoning": {"effort": "low", "summary": "auto"}}, "reasoning.summary"),
        ({"text": {"format": {"type": "grammar"}}}, "text.format.type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f1"}]}]},
            "input[0].content[0].type",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f1"}]}]},
            "input[0].content[0].file_id",
        ),
        ({"input": [{"type": "reasoning", "id": "rs_1", "summary": []}]}, "input[0].type"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"role": "critic", "content": "Hi"}]}, "input[0].role"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        (
            {"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}]},
            "input[0].content",
        ),
        ({"input": []}, "input"),
    ],
)
def test_what_the_translation_cannot_carry_is_refused_with_its_param(
    request_fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        translated({"input": "Hi", **request_fields})
    assert refused.value.status == 400 and refused.value.param == param


def test_images_in_function_call_outputs_are_translated_but_refused_for_openai_protocol_targets() -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}
    outputs = [
        {"type": "function_call", "call_id": "c1", "name": "screenshot", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "Here:"}, image]},
    ]
    request = decode_request(msgspec.json.encode({"model": "route", "input": outputs}))
    assert translated({"input": outputs})["messages"][1]["content"] == [
        {"type": "text", "text": "Here:"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    with pytest.raises(InvalidRequestError) as refused:
        refuse_tool_output_images(request)
    assert refused.value.param == "input[1].output[1]"
    text_only = [*outputs[:1], {"type": "function_call_output", "call_id": "c1", "output": "sunny"}]
    refuse_tool_output_images(decode_request(msgspec.json.encode({"model": "route", "input": text_only})))
