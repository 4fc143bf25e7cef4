"""The Bedrock adapter, pure parts: OpenAI request → Converse request, Converse answers and ConverseStream event
streams (the golden fixtures, framed by the fake's encoder) → OpenAI completions and chunks, usage, stop
reasons, error classification, the region rule and the signed URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.session
import msgspec
import pytest

from dataplane.errors import GatewayError, InvalidParameterError, UpstreamAuthError
from dataplane.providers import bedrock, bedrock_decode
from dataplane.retry import FailureClass, classify_failure
from dataplane.translate.openai_types import ChatRequest
from shared.usage import TokenUsage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "bedrock"
PNG = "iVBORw0KGgo="


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def encoded(request: dict[str, Any]) -> dict[str, Any]:
    body = msgspec.json.encode({"model": "chat", **request})
    result: dict[str, Any] = msgspec.json.decode(
        bedrock.encode_request(msgspec.json.decode(body, type=ChatRequest), body=body)
    )
    return result


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


SONG_CALL = {"id": "tooluse_1", "type": "function", "function": {"name": "top_song", "arguments": '{"sign":"WZPZ"}'}}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "top_song", "description": "Most played.", "parameters": {"type": "object"}},
    },
    {"type": "function", "function": {"name": "current_time"}},
]
TOOL_SPECS = [
    {"toolSpec": {"name": "top_song", "inputSchema": {"json": {"type": "object"}}, "description": "Most played."}},
    {"toolSpec": {"name": "current_time", "inputSchema": {"json": {"type": "object", "properties": {}}}}},
]

ENCODING_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "system and developer messages become system blocks",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "No emoji."},
                user("Hi"),
            ]
        },
        {
            "system": [{"text": "Be brief."}, {"text": "No emoji."}],
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        },
    ),
    (
        "multi-turn keeps order; neighbouring user turns merge",
        {"messages": [user("Hi"), {"role": "assistant", "content": "Hello!"}, user("One"), user("Two")]},
        {
            "messages": [
                {"role": "user", "content": [{"text": "Hi"}]},
                {"role": "assistant", "content": [{"text": "Hello!"}]},
                {"role": "user", "content": [{"text": "One"}, {"text": "Two"}]},
            ]
        },
    ),
    (
        "base64 images become image blocks with their bytes",
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What?"}, image(f"data:image/jpeg;base64,{PNG}")]}
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"text": "What?"}, {"image": {"format": "jpeg", "source": {"bytes": PNG}}}],
                }
            ]
        },
    ),
    (
        "tool calls become toolUse blocks, results one user turn of toolResult blocks (images too)",
        {
            "messages": [
                user("Top songs?"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [SONG_CALL, {**SONG_CALL, "id": "tooluse_2", "function": {"name": "current_time"}}],
                },
                {"role": "tool", "tool_call_id": "tooluse_1", "content": "Elemental Hotel"},
                {"role": "tool", "tool_call_id": "tooluse_2", "content": [image(f"data:image/png;base64,{PNG}")]},
            ],
            "tools": TOOLS,
        },
        {
            "messages": [
                {"role": "user", "content": [{"text": "Top songs?"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"toolUse": {"toolUseId": "tooluse_1", "name": "top_song", "input": {"sign": "WZPZ"}}},
                        {"toolUse": {"toolUseId": "tooluse_2", "name": "current_time", "input": {}}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "Elemental Hotel"}]}},
                        {
                            "toolResult": {
                                "toolUseId": "tooluse_2",
                                "content": [{"image": {"format": "png", "source": {"bytes": PNG}}}],
                            }
                        },
                    ],
                },
            ],
            "toolConfig": {"tools": TOOL_SPECS},
        },
    ),
    (
        "tool choices: required is any, a named function is tool",
        {
            "messages": [user("Hi")],
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "top_song"}},
        },
        {
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "toolConfig": {"tools": TOOL_SPECS, "toolChoice": {"tool": {"name": "top_song"}}},
        },
    ),
    (
        "tool_choice none sends no tools while the conversation has no tool calls",
        {"messages": [user("Hi")], "tools": TOOLS, "tool_choice": "none"},
        {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
    ),
    (
        "sampling parameters and stop sequences go to inferenceConfig",
        {"messages": [user("Hi")], "max_completion_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop": "END"},
        {
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
        },
    ),
    (
        "a json_schema response format is structured output with the schema as a JSON string",
        {
            "messages": [user("Hi")],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "song",
                    "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
                },
            },
        },
        {
            "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
            "outputConfig": {
                "textFormat": {
                    "type": "json_schema",
                    "structure": {
                        "jsonSchema": {
                            "name": "song",
                            "schema": '{"type":"object","properties":{"title":{"type":"string"}}}',
                        }
                    },
                }
            },
        },
    ),
]


@pytest.mark.parametrize(
    ("request_", "expected"), [case[1:] for case in ENCODING_CASES], ids=[c[0] for c in ENCODING_CASES]
)
def test_openai_requests_encode_to_converse(request_: dict[str, Any], expected: dict[str, Any]) -> None:
    assert encoded(request_) == expected


def test_required_tool_choice_is_any() -> None:
    assert encoded({"messages": [user("Hi")], "tools": TOOLS, "tool_choice": "required"})["toolConfig"][
        "toolChoice"
    ] == {"any": {}}


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        ({"messages": [{"role": "user", "content": [image("https://example.com/cat.png")]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "user", "content": [image("data:image/bmp;base64,Qk0=")]}]}, "messages[0].content[0]"),
        (
            {"messages": [{"role": "system", "content": [image(f"data:image/png;base64,{PNG}")]}]},
            "messages[0].content[0]",
        ),
        ({"messages": [user("Hi")], "response_format": {"type": "json_object"}}, "response_format.type"),
        ({"messages": [user("Hi")], "n": 2}, "n"),
        ({"messages": [user("Hi")], "tool_choice": "required"}, "tool_choice"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        (
            {
                "messages": [
                    user("Hi"),
                    {"role": "assistant", "tool_calls": [SONG_CALL]},
                    {"role": "tool", "tool_call_id": "tooluse_1", "content": "x"},
                ],
                "tools": TOOLS,
                "tool_choice": "none",
            },
            "tool_choice",
        ),
        (
            {
                "messages": [
                    {"role": "assistant", "tool_calls": [{**SONG_CALL, "function": {"name": "f", "arguments": "{"}}]}
                ]
            },
            ("messages[0].tool_calls[0].function.arguments"),
        ),
    ],
)
def test_what_converse_cannot_take_is_a_400_naming_the_field(request_: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as refused:
        encoded(request_)
    assert refused.value.status == 400 and refused.value.param == param


def test_the_answer_becomes_a_completion_with_usage() -> None:
    completion = bedrock_decode.openai_completion(
        bedrock_decode.decode_response(fixture("converse/good.json")), created=1, seed="abc", model="m"
    )
    choice = completion.choices[0]
    assert choice.message.content is not None and choice.message.content.startswith("Here is a list of 3 pop songs")
    assert (choice.finish_reason, choice.provider_finish_reason) == ("stop", "end_turn")
    assert completion.id == "chatcmpl-abc" and completion.model == "m"
    assert completion.usage is not None and (completion.usage.prompt_tokens, completion.usage.total_tokens) == (
        125,
        185,
    )


def test_cache_reads_and_writes_are_prompt_tokens_and_their_own_classes() -> None:
    answer = bedrock_decode.decode_response(fixture("converse/cache_usage.json"))
    assert answer.usage is not None
    usage = bedrock_decode.openai_usage(answer.usage)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2092, 15, 2107)
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 2048
    assert bedrock_decode.token_usage(answer.usage) == TokenUsage(
        input=12, cached_input=2048, cache_write=32, output=15
    )


def test_tool_use_blocks_become_tool_calls_with_bedrock_ids_and_empty_input_as_braces() -> None:
    answer = bedrock_decode.decode_response(fixture("converse/parallel_tool_use.json"))
    completion = bedrock_decode.openai_completion(answer, created=1, seed="s", model="m")
    message = completion.choices[0].message
    assert message.content == "I'll look up the top songs on both stations and check the time."
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []] == [
        ("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "top_song", '{"sign":"WZPZ"}'),
        ("tooluse_7XqJ1dXvQ0a2Hn3bGfYtWg", "top_song", '{"sign":"WKRP"}'),
        ("tooluse_Zt2cE8sLSPqU3nBbQ6a9kA", "current_time", "{}"),
    ]
    assert completion.choices[0].finish_reason == "tool_calls"


def test_every_documented_stop_reason_and_exception_has_a_mapping() -> None:
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    assert set(bedrock_decode.FINISH_REASONS) == set(model.shape_for("StopReason").enum)
    documented = {
        error.name for name in ("Converse", "ConverseStream") for error in model.operation_model(name).error_shapes
    }
    stream = model.shape_for("ConverseStreamOutput").members
    documented |= {shape.name for shape in stream.values() if shape.metadata.get("exception")}
    assert documented <= set(bedrock.EXCEPTIONS)
    for name in documented:
        assert bedrock.EXCEPTIONS[name][0] == model.shape_for(name).metadata["error"]["httpStatusCode"]


@pytest.mark.parametrize(
    ("name", "finish"),
    [
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_tool_use", "stop"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_stop_reasons_map_with_the_original_kept(name: str, finish: str) -> None:
    answer = bedrock_decode.decode_response(fixture(f"converse/stop_{name}.json"))
    choice = bedrock_decode.openai_completion(answer, created=1, seed="s", model="m").choices[0]
    assert (choice.finish_reason, choice.provider_finish_reason) == (finish, name)


def test_no_usage_leaves_usage_unset() -> None:
    answer = bedrock_decode.decode_response(fixture("converse/no_usage.json"))
    assert answer.usage is None
    assert bedrock_decode.openai_completion(answer, created=1, seed="s", model="m").usage is None


@pytest.mark.parametrize(
    ("status", "header", "body", "code", "failure"),
    [
        (
            400,
            "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            b'{"message":"bad"}',
            "ValidationException",
            FailureClass.CLIENT,
        ),
        (429, "ThrottlingException", b'{"message":"slow down"}', "ThrottlingException", FailureClass.RATE_LIMITED),
        (
            503,
            None,
            b'{"__type":"aws#ServiceUnavailableException","message":"x"}',
            "ServiceUnavailableException",
            FailureClass.SERVER,
        ),
        # a 408 is the provider timing out on the model: retried, then fallen over, like the gateway's own timeout
        (408, "ModelTimeoutException", b'{"message":"late"}', "ModelTimeoutException", FailureClass.TIMEOUT),
    ],
)
def test_bedrock_errors_become_openai_errors_with_the_error_type_as_code(
    status: int, header: str | None, body: bytes, code: str, failure: FailureClass
) -> None:
    error = bedrock.classify_error(status, body, {"x-amzn-errortype": header} if header else {})
    assert isinstance(error, bedrock.BedrockUpstreamError)
    assert (error.status, error.code) == (status, code)
    assert msgspec.json.decode(error.body())["error"]["code"] == code
    assert classify_failure(error) is failure


def test_refused_credentials_are_the_gateways_not_the_clients() -> None:
    error: GatewayError = bedrock.classify_error(403, fixture("converse/invalid_signature_exception.json"), {})
    assert isinstance(error, UpstreamAuthError) and error.status == 502
