"""OpenAI SDK → gateway → fake Vertex AI, for both publishers: a Gemini model (generateContent) and a Claude model
(rawPredict, Anthropic's Messages format). The gateway signs in with a service-account key at a fake Google token
endpoint that checks the JWT assertion's signature, keeps the access token until shortly before it expires, and
replaces one Vertex refuses."""

from __future__ import annotations

import json

import openai
import pytest

from shared.usage import TokenUsage
from tests.fakes.replay_server import Reply
from tests.fakes.vertex_provider import FakeGoogleTokenEndpoint, FakeVertex
from tests.integration.dataplane.test_usage_events import wait_for_events
from tests.integration.dataplane.vertex_plane import (
    CLAUDE,
    GEMINI,
    HELLO,
    TOOLS,
    OpenOpenAI,
    cell,
    fake_vertex,
    gateway,
    open_vertex,
    sent,
    token_endpoint,
)
from tests.snapshot_factory import ROUTE_NAME

__all__ = ["fake_vertex", "gateway", "open_vertex", "token_endpoint"]  # fixtures used by the tests below


@cell("text")
@cell("system")
@cell("usage")
@cell("finish_reason")
@cell("sampling_params")
@cell("stop_sequences")
@cell("usage_reasoning")
async def test_gemini_answer_is_translated_with_usage_and_a_bearer_token(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    async with gateway(GEMINI) as sdk:
        reply = await sdk.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, max_tokens=64, temperature=0.5, top_p=0.9, stop=["\n\n"]
        )
    assert reply.choices[0].message.content is not None
    assert reply.choices[0].message.content.startswith("The sky looks blue because air molecules scatter")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (9, 45, 54)
    assert reply.usage.completion_tokens_details is not None
    assert reply.usage.completion_tokens_details.reasoning_tokens == 24
    [seen] = fake_vertex.requests
    assert (
        seen.path
        == f"/v1/projects/waypost-test/locations/us-central1/publishers/google/models/{GEMINI}:generateContent"
    )
    assert seen.headers["authorization"] == f"Bearer {token_endpoint.issued[0]}"
    assert sent(fake_vertex) == {
        "contents": [{"parts": [{"text": "Why is the sky blue?"}], "role": "user"}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.5, "topP": 0.9, "maxOutputTokens": 64, "stopSequences": ["\n\n"]},
    }


@cell("text")
@cell("system")
@cell("usage")
@cell("finish_reason")
async def test_claude_answer_goes_through_raw_predict_with_the_vertex_anthropic_version(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, token_endpoint: FakeGoogleTokenEndpoint
) -> None:
    async with gateway(CLAUDE) as sdk:
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, max_tokens=64, stop="END")
    assert reply.choices[0].message.content == "Hello! I'm Claude, running on Vertex AI. How can I help you today?"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (14, 21)
    [seen] = fake_vertex.requests
    assert (
        seen.path == f"/v1/projects/waypost-test/locations/us-central1/publishers/anthropic/models/{CLAUDE}:rawPredict"
    )
    assert seen.headers["authorization"] == f"Bearer {token_endpoint.issued[0]}"
    assert sent(fake_vertex) == {
        "anthropic_version": "vertex-2023-10-16",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Why is the sky blue?"}]}],
        "max_tokens": 64,
        "system": "Be brief.",
        "stop_sequences": ["END"],
    }


@cell("stream_text")
@cell("stream_usage")
@pytest.mark.parametrize(
    ("model", "method", "text", "total"),
    [
        (GEMINI, "streamGenerateContent?alt=sse", "The sky is blue because of Rayleigh scattering.", 16),
        (CLAUDE, "streamRawPredict", "Hello!", 40),
    ],
)
async def test_streamed_text_ends_with_one_finish_reason_and_the_usage(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, model: str, method: str, text: str, total: int
) -> None:
    async with gateway(model) as sdk:
        stream = await sdk.chat.completions.create(
            model=ROUTE_NAME, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == total
    assert fake_vertex.requests[0].path.endswith(f"/models/{model}:{method}")


@cell("tools")
@cell("tool_choice")
@cell("parallel_tools")
@cell("tool_no_args")
@cell("stream_tools")
@pytest.mark.parametrize(
    ("model", "whole", "streamed", "names", "arguments"),
    [
        (
            GEMINI,
            "generate_content/function_call.json",
            "stream_generate_content/stream_function_call.sse",
            ["get_current_weather", "get_current_time"],
            ({"location": "Boston, MA"}, {"location": "Boston, MA"}),
        ),
        (
            CLAUDE,
            "raw_predict/tool_use.json",
            "stream_raw_predict/stream_tool_use.sse",
            ["get_weather", "get_time"],
            ({"location": "San Francisco, CA"}, {"location": "San Francisco, CA", "unit": "fahrenheit"}),
        ),
    ],
)
async def test_parallel_tool_calls_come_back_whole_and_assembled_from_the_stream(
    gateway: OpenOpenAI,
    fake_vertex: FakeVertex,
    model: str,
    whole: str,
    streamed: str,
    names: list[str],
    arguments: tuple[dict[str, str], dict[str, str]],
) -> None:
    fake_vertex.enqueue(Reply(200, whole), Reply(200, streamed))
    async with gateway(model) as sdk:
        reply = await sdk.chat.completions.create(
            model=ROUTE_NAME,
            messages=HELLO,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "get_current_weather"}},
        )
        stream = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, tools=TOOLS, stream=True)
        chunks = [chunk async for chunk in stream]
    calls = [call for call in reply.choices[0].message.tool_calls or [] if call.type == "function"]
    assert reply.choices[0].finish_reason == "tool_calls"
    assert [(call.function.name, json.loads(call.function.arguments)) for call in calls] == [
        (names[0], arguments[0]),
        (names[1], {}),
    ]
    assert len({call.id for call in calls}) == 2
    assembled: dict[int, list[str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            name_and_arguments = assembled.setdefault(delta.index, ["", ""])
            if delta.function is not None:
                name_and_arguments[0] += delta.function.name or ""
                name_and_arguments[1] += delta.function.arguments or ""
    assert [(name, json.loads(args or "{}")) for name, args in assembled.values()] == [
        (names[0], arguments[1]),
        (names[1], {}),
    ]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    request = sent(fake_vertex)
    if model == GEMINI:
        declared = [declaration["name"] for declaration in request["tools"][0]["functionDeclarations"]]
        assert declared == ["get_current_weather", "get_current_time"]
        assert request["toolConfig"] == {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_current_weather"]}
        }
    else:
        assert [tool["name"] for tool in request["tools"]] == ["get_current_weather", "get_current_time"]
        assert request["tool_choice"] == {"type": "tool", "name": "get_current_weather"}
        assert sent(fake_vertex, 1)["stream"] is True


@cell("errors", expect="error")
@pytest.mark.parametrize(
    ("model", "status", "fixture", "exception", "code"),
    [
        (GEMINI, 400, "generate_content/invalid_argument.json", openai.BadRequestError, "INVALID_ARGUMENT"),
        (GEMINI, 429, "generate_content/resource_exhausted.json", openai.RateLimitError, "RESOURCE_EXHAUSTED"),
        (CLAUDE, 400, "raw_predict/invalid_request.json", openai.BadRequestError, "invalid_request_error"),
        (CLAUDE, 429, "raw_predict/resource_exhausted.json", openai.RateLimitError, "RESOURCE_EXHAUSTED"),
        (CLAUDE, 529, "raw_predict/overloaded.json", openai.InternalServerError, "overloaded_error"),
    ],
)
async def test_vertex_errors_reach_the_sdk_with_their_status_and_class(
    gateway: OpenOpenAI,
    fake_vertex: FakeVertex,
    model: str,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
    code: str,
) -> None:
    fake_vertex.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)
    async with gateway(model) as sdk:
        with pytest.raises(exception) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == status
    assert caught.value.code == code


@cell("errors", expect="error")
@pytest.mark.parametrize("model", [GEMINI, CLAUDE])
async def test_a_403_is_the_gateways_service_account_lacking_a_role_not_the_clients_fault(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, model: str
) -> None:
    fake_vertex.enqueue(Reply(403, "generate_content/permission_denied.json"))
    async with gateway(model) as sdk:
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_auth_error"
    assert "aiplatform" not in caught.value.message  # Google's message names the project: not the client's business
    assert len(fake_vertex.requests) == 1  # a credentials problem is not retried


@cell("usage")
@cell("stream_usage")
async def test_usage_events_carry_each_publishers_token_classes(
    gateway: OpenOpenAI, fake_vertex: FakeVertex, nats_url: str, nats_prefix: str
) -> None:
    async with gateway(GEMINI) as sdk:
        plain = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
    async with gateway(CLAUDE) as sdk:
        streamed = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        async for _ in streamed.parse():
            pass
    events = await wait_for_events(nats_url, nats_prefix, 2)
    gemini_event = events[plain.headers["x-request-id"]]
    assert gemini_event.tokens == TokenUsage(input=9, output=21, reasoning=24)
    assert gemini_event.provider_kind == "vertex_ai" and not gemini_event.estimated
    assert events[streamed.headers["x-request-id"]].tokens == TokenUsage(input=25, output=15)
