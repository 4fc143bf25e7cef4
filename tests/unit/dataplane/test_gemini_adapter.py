"""The Gemini adapter, pure parts: OpenAI request → GenerateContentRequest, answers and streams (the golden
fixtures) → OpenAI completions and chunks, usage, finish reasons and error classification."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from dataplane.config_state import ProviderCredentials
from dataplane.errors import GatewayError, InvalidParameterError, UpstreamAuthError, UpstreamUnavailableError
from dataplane.providers import gemini, gemini_decode
from dataplane.retry import FailureClass, classify_failure
from dataplane.routing import Target
from dataplane.translate.openai_types import ChatRequest
from shared.snapshot import DeploymentSpec, ProviderSpec, RouteSpec
from shared.usage import TokenUsage

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "providers" / "gemini"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def encoded(request: dict[str, Any]) -> dict[str, Any]:
    body = msgspec.json.encode({"model": "chat", **request})
    result: dict[str, Any] = msgspec.json.decode(
        gemini.encode_request(msgspec.json.decode(body, type=ChatRequest), body=body)
    )
    return result


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


WEATHER_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}

ENCODING_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "system and developer messages become the system instruction",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "No emoji."},
                user("Hi"),
            ]
        },
        {
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "No emoji."}]},
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        },
    ),
    (
        "assistant turns are the model role, multi-turn kept in order",
        {"messages": [user("Hi"), {"role": "assistant", "content": "Hello!"}, user("Bye")]},
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {"role": "user", "parts": [{"text": "Bye"}]},
            ]
        },
    ),
    (
        "base64 images are inline data, Files API URIs file data",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc.jpg"},
                        },
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "Compare"},
                        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                        {
                            "fileData": {
                                "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc.jpg",
                                "mimeType": "image/jpeg",
                            }
                        },
                    ],
                }
            ]
        },
    ),
    (
        "tool calls and their results become functionCall and functionResponse parts",
        {
            "messages": [
                user("Weather?"),
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        WEATHER_CALL,
                        {**WEATHER_CALL, "id": "call_2", "function": {"name": "now", "arguments": ""}},
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
                {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            ]
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Weather?"}]},
                {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                            "thoughtSignature": "skip_thought_signature_validator",
                        },
                        {"functionCall": {"name": "now", "args": {}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                        {"functionResponse": {"name": "now", "response": {"result": "noon"}}},
                    ],
                },
            ]
        },
    ),
    (
        "tools, a named tool choice and the sampling settings",
        {
            "messages": [user("Hi")],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}},
                }
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 100,
            "stop": "END",
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "tools": [
                {
                    "functionDeclarations": [
                        {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}
                    ]
                }
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 100, "stopSequences": ["END"]},
        },
    ),
    (
        "required tool choice is ANY; max_completion_tokens wins; JSON mode",
        {
            "messages": [user("Hi")],
            "tool_choice": "required",
            "max_tokens": 5,
            "max_completion_tokens": 50,
            "response_format": {"type": "json_object"},
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
            "generationConfig": {"maxOutputTokens": 50, "responseMimeType": "application/json"},
        },
    ),
    (
        "a JSON schema response format is the response JSON schema",
        {
            "messages": [user("Hi")],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}},
        },
    ),
]


@pytest.mark.parametrize(
    ("request_", "expected"), [case[1:] for case in ENCODING_CASES], ids=[c[0] for c in ENCODING_CASES]
)
def test_openai_requests_encode_to_gemini(request_: dict[str, Any], expected: dict[str, Any]) -> None:
    assert encoded(request_) == expected


REFUSALS: list[tuple[dict[str, Any], str]] = [
    (
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}
            ]
        },
        "messages[0].content[0]",
    ),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"messages": [user("Hi")], "n": 2}, "n"),
    (
        {
            "messages": [
                {"role": "assistant", "tool_calls": [{**WEATHER_CALL, "function": {"name": "f", "arguments": "[1"}}]}
            ]
        },
        "messages[0].tool_calls[0].function.arguments",
    ),
    ({"messages": [user("Hi")], "response_format": {"type": "json_schema"}}, "response_format"),
]


@pytest.mark.parametrize(("request_", "param"), REFUSALS)
def test_what_gemini_cannot_take_is_a_400_naming_the_field(request_: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        encoded(request_)
    assert caught.value.status == 400
    assert caught.value.param == param


def test_the_answer_becomes_a_completion_with_usage_split_into_classes() -> None:
    answer = gemini_decode.decode_response(fixture("generate_content/good.json"))
    completion = gemini_decode.openai_completion(answer, created=7, seed="s", model="m")
    assert completion.id == "chatcmpl-K2lUaPuHBr6_nvgPwYuR0Ag"
    assert completion.model == "gemini-2.5-flash"
    choice = completion.choices[0]
    assert choice.message.content.startswith("AI learns patterns") if choice.message.content else False
    assert (choice.finish_reason, choice.provider_finish_reason) == ("stop", "STOP")
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        8,
        1225,
        1233,
    )
    assert answer.usage_metadata is not None
    assert gemini_decode.token_usage(answer.usage_metadata) == TokenUsage(
        input=6, cached_input=2, output=17, reasoning=1208
    )


def test_function_calls_become_tool_calls_with_generated_ids() -> None:
    answer = gemini_decode.decode_response(fixture("generate_content/function_call.json"))
    completion = gemini_decode.openai_completion(answer, created=7, seed="req1", model="m")
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.provider_finish_reason == "STOP"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_req1_0", "set_light_values", '{"brightness":25,"color_temp":"warm"}'),
        ("call_req1_1", "power_disco_ball", "{}"),
    ]


@pytest.mark.parametrize(
    ("name", "finish", "original"),
    [
        ("generate_content/safety.json", "content_filter", "SAFETY"),
        ("generate_content/prompt_blocked.json", "content_filter", "SAFETY"),
    ],
)
def test_safety_stops_are_content_filter_with_the_original_kept(name: str, finish: str, original: str) -> None:
    completion = gemini_decode.openai_completion(
        gemini_decode.decode_response(fixture(name)), created=7, seed="s", model="m"
    )
    assert completion.choices[0].message.content is None
    assert (completion.choices[0].finish_reason, completion.choices[0].provider_finish_reason) == (finish, original)


def test_every_documented_finish_reason_has_a_mapping() -> None:
    documented = {
        "FINISH_REASON_UNSPECIFIED", "STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "LANGUAGE", "OTHER", "BLOCKLIST",
        "PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION", "IMAGE_OTHER", "NO_IMAGE", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS",
        "MISSING_THOUGHT_SIGNATURE", "MALFORMED_RESPONSE", "MODEL_ARMOR",
    }  # fmt: skip
    assert set(gemini_decode.FINISH_REASONS) == documented
    assert set(gemini_decode.FINISH_REASONS.values()) <= {"stop", "length", "content_filter"}
    assert gemini_decode.finish_reason("MAX_TOKENS", called_tools=True) == "length"
    assert gemini_decode.finish_reason("SOMETHING_NEW", called_tools=False) == "stop"


def test_no_usage_metadata_leaves_usage_unset() -> None:
    answer = gemini_decode.decode_response(fixture("generate_content/no_usage.json"))
    assert answer.usage_metadata is None
    assert gemini_decode.openai_completion(answer, created=7, seed="s", model="m").usage is None


def chunks_of(
    name: str, *, include_usage: bool = True, split: int = 7
) -> tuple[list[dict[str, Any]], gemini_decode.StreamTranslator]:
    """Feed the fixture in small pieces (events split anywhere) and decode the OpenAI events produced."""
    translator = gemini_decode.StreamTranslator(created=7, include_usage=include_usage, seed="req1", model="m")
    body = fixture(name)
    out: list[bytes] = []
    for start in range(0, len(body), split):
        out.extend(translator.feed(body[start : start + split]))
    out.extend(translator.end())
    assert out[-1] == b"data: [DONE]\n\n"
    return [msgspec.json.decode(event.removeprefix(b"data: ")) for event in out[:-1]], translator


def test_a_text_stream_becomes_chunks_with_the_finish_reason_and_usage() -> None:
    chunks, translator = chunks_of("stream_generate_content/stream.sse")
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "The sky is blue because of Rayleigh scattering of sunlight."
    finishes = [
        (c["choices"][0]["finish_reason"], c["choices"][0].get("provider_finish_reason"))
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]
    assert finishes == [("stop", "STOP")]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 41
    assert {c["id"] for c in chunks} == {"chatcmpl-LmtUaMmlBPKknvgP86nSgQw"}
    assert translator.usage == TokenUsage(input=10, output=11, reasoning=30)


def test_a_streamed_function_call_arrives_whole_with_ids_and_empty_args_as_braces() -> None:
    chunks, _ = chunks_of("stream_generate_content/stream_function_call.sse", include_usage=False)
    calls = [call for c in chunks for call in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls == [
        {
            "index": 0,
            "id": "call_req1_0",
            "type": "function",
            "function": {"name": "set_light_values", "arguments": '{"brightness":25,"color_temp":"warm"}'},
        },
        {
            "index": 1,
            "id": "call_req1_1",
            "type": "function",
            "function": {"name": "power_disco_ball", "arguments": "{}"},
        },
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all("usage" not in c for c in chunks)


def test_a_stream_without_usage_reports_none_and_counts_output() -> None:
    chunks, translator = chunks_of("stream_generate_content/stream_no_usage.sse")
    assert translator.usage is None
    assert chunks[-1]["usage"] is None
    assert translator.output_chars == len("The sky is blue because of Rayleigh scattering of sunlight.")


def test_an_error_event_in_the_stream_raises_its_classified_error() -> None:
    translator = gemini_decode.StreamTranslator(created=7, include_usage=False, seed="s", model="m")
    with pytest.raises(GatewayError) as caught:
        translator.feed(fixture("stream_generate_content/stream_error.sse"))
    assert caught.value.status == 503 and caught.value.code == "UNAVAILABLE" and caught.value.retryable


def test_a_stream_cut_before_its_finish_reason_is_an_upstream_failure() -> None:
    translator = gemini_decode.StreamTranslator(created=7, include_usage=False, seed="s", model="m")
    translator.feed(fixture("stream_generate_content/stream_truncated.sse"))
    with pytest.raises(UpstreamUnavailableError):
        translator.end()


@pytest.mark.parametrize(
    ("status", "name", "failure", "openai_type"),
    [
        (400, "invalid_argument.json", FailureClass.CLIENT, "invalid_request_error"),
        (404, "not_found.json", FailureClass.CLIENT, "invalid_request_error"),
        (429, "resource_exhausted.json", FailureClass.RATE_LIMITED, "rate_limit_error"),
        (500, "internal.json", FailureClass.SERVER, "api_error"),
        (503, "unavailable.json", FailureClass.SERVER, "api_error"),
    ],
)
def test_gemini_errors_become_openai_errors_with_the_gemini_status_as_code(
    status: int, name: str, failure: FailureClass, openai_type: str
) -> None:
    body = fixture(f"generate_content/{name}")
    error = gemini.classify_error(status, body, {})
    assert error.status == status
    assert classify_failure(error) is failure
    rendered = msgspec.json.decode(error.body())["error"]
    assert rendered["type"] == openai_type
    assert rendered["code"] == msgspec.json.decode(body)["error"]["status"]
    assert rendered["message"] == msgspec.json.decode(body)["error"]["message"]


@pytest.mark.parametrize(("status", "name"), [(400, "api_key_invalid.json"), (403, "permission_denied.json")])
def test_a_refused_key_is_an_upstream_auth_error(status: int, name: str) -> None:
    error = gemini.classify_error(status, fixture(f"generate_content/{name}"), {})
    assert isinstance(error, UpstreamAuthError)


def test_a_body_that_is_not_gemini_json_keeps_the_status() -> None:
    error = gemini.classify_error(502, b"<html>bad gateway</html>", {})
    assert error.status == 502 and error.retryable


def target(base_url: str) -> Target:
    return Target(
        route=RouteSpec(id="r", name="chat", deployment_ids=["d"]),
        deployment=DeploymentSpec(id="d", name="d", provider_id="p", model="gemini-2.5-flash"),
        provider=ProviderSpec(id="p", name="g", kind="gemini", base_url=base_url),
        credentials=ProviderCredentials(api_key="AIza-test"),
    )


@pytest.mark.parametrize(
    ("base_url", "stream", "url"),
    [
        (
            "https://generativelanguage.googleapis.com",
            False,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        ),
        (
            "https://generativelanguage.googleapis.com/v1beta/",
            True,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        ),
    ],
)
def test_requests_go_to_the_model_method_with_the_key_header(base_url: str, stream: bool, url: str) -> None:
    request = gemini.build_request(
        b"{}", target=target(base_url), stream=stream, timeout_seconds=5, connect_timeout_seconds=1
    )
    assert request.url == url
    assert request.headers["x-goog-api-key"] == "AIza-test"
    assert "authorization" not in request.headers
