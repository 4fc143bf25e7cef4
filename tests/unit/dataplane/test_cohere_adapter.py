"""The Cohere adapter, pure parts: OpenAI request → v2 Chat request, answers and streams (the golden fixtures)
→ OpenAI completions and chunks, billed usage, finish reasons and error classification."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from dataplane.config_state import ProviderCredentials
from dataplane.errors import GatewayError, InvalidParameterError, UpstreamAuthError, UpstreamUnavailableError
from dataplane.providers import cohere, cohere_decode
from dataplane.retry import FailureClass, classify_failure
from dataplane.routing import Target
from dataplane.translate.openai_types import ChatRequest
from shared.snapshot import DeploymentSpec, ProviderSpec, RouteSpec
from shared.usage import TokenUsage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "cohere" / "chat"
MODEL = "command-a-03-2025"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def encoded(request: dict[str, Any], *, stream: bool = False) -> dict[str, Any]:
    body = msgspec.json.encode({"model": "chat", **request})
    chat = msgspec.json.decode(body, type=ChatRequest)
    result: dict[str, Any] = msgspec.json.decode(cohere.encode_request(chat, body=body, model=MODEL, stream=stream))
    return result


HI = {"role": "user", "content": "Hi"}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
TIME = {"type": "function", "function": {"name": "get_time"}}

ENCODING_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "roles, images and sampling settings",
        {
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                    ],
                },
            ],
            "max_completion_tokens": 30,
            "top_p": 0.5,
            "temperature": 0.3,
            "stop": ["END"],
        },
        {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
                    ],
                },
            ],
            "max_tokens": 30,
            "p": 0.5,
            "temperature": 0.3,
            "stop_sequences": ["END"],
        },
    ),
    (
        "tool calls, tool results, required choice",
        {
            "messages": [
                HI,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": ""}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "noon"},
            ],
            "tools": [WEATHER, TIME],
            "tool_choice": "required",
        },
        {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
                    ],
                },
                {"role": "tool", "content": "noon", "tool_call_id": "c1"},
            ],
            "tools": [
                {"function": {"name": "get_weather", "parameters": {"type": "object"}}, "type": "function"},
                {"function": {"name": "get_time"}, "type": "function"},
            ],
            "tool_choice": "REQUIRED",
        },
    ),
    (
        "a named tool choice offers only that tool, required",
        {
            "messages": [HI],
            "tools": [WEATHER, TIME],
            "tool_choice": {"type": "function", "function": {"name": "get_time"}},
        },
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"function": {"name": "get_time"}, "type": "function"}],
            "tool_choice": "REQUIRED",
        },
    ),
    (
        "auto choice is left to the model; JSON schema mode",
        {
            "messages": [HI],
            "tools": [TIME],
            "tool_choice": "auto",
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        },
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"function": {"name": "get_time"}, "type": "function"}],
            "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        },
    ),
]


@pytest.mark.parametrize(("request_", "expected"), [c[1:] for c in ENCODING_CASES], ids=[c[0] for c in ENCODING_CASES])
def test_openai_requests_encode_to_cohere(request_: dict[str, Any], expected: dict[str, Any]) -> None:
    assert encoded(request_) == expected


def test_a_stream_request_says_so() -> None:
    assert encoded({"messages": [HI]}, stream=True)["stream"] is True


@pytest.mark.parametrize(
    ("request_", "param"),
    [
        ({"messages": [HI], "n": 3}, "n"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {"messages": [HI], "tools": [TIME], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
        ),
        ({"messages": [HI], "response_format": {"type": "json_schema"}}, "response_format"),
    ],
)
def test_what_cohere_cannot_take_is_a_400_naming_the_field(request_: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        encoded(request_)
    assert caught.value.param == param


def test_the_answer_becomes_a_completion_with_billed_usage() -> None:
    answer = cohere_decode.decode_response(fixture("good.json"))
    completion = cohere_decode.openai_completion(answer, created=7, model=MODEL)
    assert completion.id == "c14c80c3-18eb-4519-9460-6c92edd8cfb4" and completion.model == MODEL
    choice = completion.choices[0]
    assert choice.message.content is not None and choice.message.content.startswith("LLMs are")
    assert (choice.finish_reason, choice.provider_finish_reason) == ("stop", "COMPLETE")
    assert completion.usage is not None and (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (
        5,
        22,
    )
    assert answer.usage is not None and cohere_decode.token_usage(answer.usage) == TokenUsage(input=5, output=22)


def test_tool_calls_keep_cohere_ids_and_the_plan_is_not_shown() -> None:
    completion = cohere_decode.openai_completion(
        cohere_decode.decode_response(fixture("tool_calls.json")), created=7, model=MODEL
    )
    choice = completion.choices[0]
    assert (choice.finish_reason, choice.provider_finish_reason) == ("tool_calls", "TOOL_CALL")
    assert choice.message.content is None
    assert [(c.id, c.function.name, c.function.arguments) for c in choice.message.tool_calls or []] == [
        ("get_weather_1byjy32y4hvq", "get_weather", '{"location":"Toronto"}'),
        ("get_time_p7yd2xqm83nz", "get_time", "{}"),
    ]


def test_no_usage_leaves_usage_unset() -> None:
    answer = cohere_decode.decode_response(fixture("no_usage.json"))
    assert answer.usage is None and cohere_decode.openai_completion(answer, created=7, model=MODEL).usage is None


def test_every_documented_finish_reason_has_a_mapping() -> None:
    assert cohere_decode.FINISH_REASONS == {
        "COMPLETE": "stop",
        "STOP_SEQUENCE": "stop",
        "MAX_TOKENS": "length",
        "TOOL_CALL": "tool_calls",
        "ERROR": "stop",
        "TIMEOUT": "length",
    }
    assert cohere_decode.finish_reason("NEW_VALUE") == "stop"


def chunks_of(
    name: str, *, include_usage: bool = True, split: int = 11
) -> tuple[list[dict[str, Any]], cohere_decode.StreamTranslator]:
    translator = cohere_decode.StreamTranslator(created=7, include_usage=include_usage, model=MODEL)
    body = fixture(name)
    out: list[bytes] = []
    for start in range(0, len(body), split):
        out.extend(translator.feed(body[start : start + split]))
    out.extend(translator.end())
    assert out[-1] == b"data: [DONE]\n\n"
    return [msgspec.json.decode(event.removeprefix(b"data: ")) for event in out[:-1]], translator


def test_a_text_stream_becomes_chunks_with_finish_reason_and_usage() -> None:
    chunks, translator = chunks_of("stream.sse")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["id"] for c in chunks} == {"a8fc192e-4bb8-4e15-ae1f-a174e8b02ae8"}
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        == "Coca-Cola is a carbonated soft drink."
    )
    finishes = [
        (c["choices"][0]["finish_reason"], c["choices"][0]["provider_finish_reason"])
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert finishes == [("stop", "COMPLETE")]
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 21,
        "completion_tokens": 105,
        "total_tokens": 126,
        "prompt_tokens_details": None,
        "completion_tokens_details": None,
    }
    assert translator.usage == TokenUsage(input=21, output=105)


def test_streamed_tool_calls_assemble_and_an_argumentless_call_gets_braces() -> None:
    chunks, _ = chunks_of("stream_tool_calls.sse", include_usage=False)
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for call in chunk["choices"][0]["delta"].get("tool_calls", []):
            entry = calls.setdefault(call["index"], {"id": "", "name": "", "arguments": ""})
            entry["id"] += call.get("id", "")
            entry["name"] += call.get("function", {}).get("name", "")
            entry["arguments"] += call.get("function", {}).get("arguments", "")
    assert calls == {
        0: {"id": "get_weather_nsz5zm3w56q3", "name": "get_weather", "arguments": '{\n    "location": "Toronto"\n}'},
        1: {"id": "get_time_9gsx0f2y4b1c", "name": "get_time", "arguments": "{}"},
    }
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all(c["choices"][0]["delta"].get("content") in (None, "") for c in chunks)  # the tool plan is not shown


def test_a_stream_without_usage_is_counted_for_an_estimate() -> None:
    chunks, translator = chunks_of("stream_no_usage.sse")
    assert translator.usage is None and chunks[-1]["usage"] is None
    assert translator.output_chars == len("Coca-Cola is a carbonated soft drink.")


def test_a_stream_cut_before_message_end_is_an_upstream_failure() -> None:
    translator = cohere_decode.StreamTranslator(created=7, include_usage=False, model=MODEL)
    translator.feed(fixture("stream_truncated.sse"))
    with pytest.raises(UpstreamUnavailableError):
        translator.end()


@pytest.mark.parametrize(
    ("status", "name", "failure", "openai_type", "code"),
    [
        (400, "bad_request.json", FailureClass.CLIENT, "invalid_request_error", "bad_request"),
        (404, "not_found.json", FailureClass.CLIENT, "invalid_request_error", "not_found"),
        (429, "too_many_requests.json", FailureClass.RATE_LIMITED, "rate_limit_error", "too_many_requests"),
        (500, "internal_server_error.json", FailureClass.SERVER, "api_error", "internal_server_error"),
        (503, "service_unavailable.json", FailureClass.SERVER, "api_error", "service_unavailable"),
    ],
)
def test_cohere_errors_become_openai_errors_by_status(
    status: int, name: str, failure: FailureClass, openai_type: str, code: str
) -> None:
    error: GatewayError = cohere.classify_error(status, fixture(name), {"retry-after": "3"})
    assert error.status == status and classify_failure(error) is failure
    rendered = msgspec.json.decode(error.body())["error"]
    assert (rendered["type"], rendered["code"]) == (openai_type, code)
    assert rendered["message"] == msgspec.json.decode(fixture(name))["message"]
    assert error.headers()["retry-after"] == "3"


@pytest.mark.parametrize("status", [401, 498])
def test_a_refused_key_is_an_upstream_auth_error(status: int) -> None:
    assert isinstance(cohere.classify_error(status, fixture("unauthorized.json"), {}), UpstreamAuthError)


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.cohere.com", "https://api.cohere.com/v2/chat"),
        ("https://proxy.example/cohere/v2/", "https://proxy.example/cohere/v2/chat"),
    ],
)
def test_requests_go_to_v2_chat_with_a_bearer_key(base_url: str, url: str) -> None:
    target = Target(
        route=RouteSpec(id="r", name="chat", deployment_ids=["d"]),
        deployment=DeploymentSpec(id="d", name="d", provider_id="p", model=MODEL),
        provider=ProviderSpec(id="p", name="c", kind="cohere", base_url=base_url),
        credentials=ProviderCredentials(api_key="co-key"),
    )
    request = cohere.build_request(b"{}", target=target, stream=True, timeout_seconds=5, connect_timeout_seconds=1)
    assert request.url == url
    assert request.headers["authorization"] == "Bearer co-key"
    assert request.headers["accept"] == "text/event-stream"
