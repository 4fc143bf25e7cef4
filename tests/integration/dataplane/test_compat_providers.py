"""OpenAI SDK → gateway → a fake provider of each OpenAI-compatible kind (tests/fakes/compat_provider.py), speaking
that kind's documented quirks: its base path and auth, where its stream reports usage, its usage fields, the request
fields it names differently or refuses, and its error bodies and statuses, as the SDK sees them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import openai
import pytest
from openai.types.chat import (
    ChatCompletionMessageParam,
    ChatCompletionNamedToolChoiceParam,
    ChatCompletionToolParam,
)

from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.compat_provider import FakeCompatProvider, base_path
from tests.fakes.replay_server import Reply, split_sse_events
from tests.integration.dataplane.provider_gateway import ROUTE_NAME, sdk_through_gateway
from tests.integration.dataplane.test_usage_events import wait_for_events

KINDS = ("mistral", "groq", "together", "deepseek", "xai", "fireworks", "openrouter", "ollama", "vllm")
NO_AUTH_KINDS = frozenset({"ollama", "vllm"})  # documented to need no key: configured without one here
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello"}]
TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
]
# what each kind's stream.sse reports, in the gateway's usage classes
STREAM_USAGE = {
    "mistral": TokenUsage(input=34, output=12),
    "groq": TokenUsage(input=38, output=4),
    "together": TokenUsage(input=39, output=9),
    "deepseek": TokenUsage(input=8, cached_input=32, output=8),
    "xai": TokenUsage(input=38, output=6, reasoning=20),
    "fireworks": TokenUsage(input=17, output=6),
    "openrouter": TokenUsage(input=12, output=3),
    "ollama": TokenUsage(input=33, output=6),
    "vllm": TokenUsage(input=20, output=5),
}

OpenKind = Callable[[str], AbstractAsyncContextManager[tuple[openai.AsyncOpenAI, FakeCompatProvider]]]


def cells(*features: str, kinds: tuple[str, ...] = KINDS, expect: str = "ok") -> list[Any]:
    """One parameter per kind, each marked as the conformance cells it proves."""
    return [
        pytest.param(
            kind,
            marks=[
                pytest.mark.conformance(provider=kind, ingress="chat", feature=feature, expect=expect)
                for feature in features
            ],
            id=kind,
        )
        for kind in kinds
    ]


def fixture_json(fake: FakeCompatProvider, name: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(fake.fixture(name))
    return decoded


def streamed_text(fake: FakeCompatProvider) -> str:
    text = ""
    for event in split_sse_events(fake.fixture("stream.sse")):
        payload = event.strip().removeprefix(b"data:").strip()
        if payload.startswith(b"{"):
            for choice in json.loads(payload).get("choices") or []:
                text += choice["delta"].get("content") or ""
    return text


def upstream_model(kind: str) -> str:
    return f"{kind}-upstream-model"


@pytest.fixture
def open_kind(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> Iterator[OpenKind]:
    fakes: list[FakeCompatProvider] = []

    @asynccontextmanager
    async def open_sdk(kind: str) -> AsyncIterator[tuple[openai.AsyncOpenAI, FakeCompatProvider]]:
        fake = FakeCompatProvider(kind, api_key=None if kind in NO_AUTH_KINDS else "fake-compat-key")
        fake.start()
        fakes.append(fake)
        async with sdk_through_gateway(
            kind=kind,
            base_url=fake.base_url,
            api_key=fake.api_key,
            upstream_model=upstream_model(kind),
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
        ) as sdk:
            yield sdk, fake

    yield open_sdk
    for fake in fakes:
        fake.stop()


@pytest.mark.parametrize("kind", cells("text", "usage", "finish_reason"))
async def test_text_reaches_the_kinds_path_with_its_auth(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    good = fixture_json(fake, "good.json")
    assert reply.choices[0].message.content == good["choices"][0]["message"]["content"]
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
        good["usage"]["prompt_tokens"],
        good["usage"]["completion_tokens"],
    )
    [seen] = fake.requests
    assert seen.path == f"{base_path(kind)}/chat/completions"
    if kind in NO_AUTH_KINDS:
        assert "authorization" not in seen.headers
    else:
        assert seen.headers["authorization"] == "Bearer fake-compat-key"
    assert json.loads(seen.body) == {"model": upstream_model(kind), "messages": HELLO}


@pytest.mark.parametrize("kind", cells("stream_text", "stream_usage"))
async def test_stream_delivers_text_and_its_usage_is_accounted(
    open_kind: OpenKind, kind: str, nats_url: str, nats_prefix: str
) -> None:
    async with open_kind(kind) as (sdk, fake):
        raw = await sdk.chat.completions.with_raw_response.create(
            model=ROUTE_NAME, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in raw.parse()]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == streamed_text(fake)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    expected = STREAM_USAGE[kind]
    sdk_usage = [c.usage for c in chunks if c.usage is not None]
    if kind == "groq":  # reported in x_groq.usage only: the SDK has no field for it, the gateway still bills it
        assert sdk_usage == []
    else:
        assert sdk_usage[-1].prompt_tokens == expected.input + expected.cached_input
    sent = json.loads(fake.requests[0].body)
    if kind == "mistral":  # its schema refuses stream_options; it reports usage on the last chunk unasked
        assert "stream_options" not in sent
    else:
        assert sent["stream_options"] == {"include_usage": True}
    events = await wait_for_events(nats_url, nats_prefix, 1)
    event = events[raw.headers["x-request-id"]]
    assert event.tokens == expected and not event.estimated
    assert event.provider_kind == kind and event.upstream_model == upstream_model(kind)


@pytest.mark.parametrize("kind", cells("stream_usage"))
async def test_a_stream_without_usage_asked_still_bills_and_hides_only_a_usage_only_chunk(
    open_kind: OpenKind, kind: str, nats_url: str, nats_prefix: str
) -> None:
    async with open_kind(kind) as (sdk, fake):
        raw = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO, stream=True)
        chunks = [chunk async for chunk in raw.parse()]
    assert all(chunk.choices for chunk in chunks)  # a usage-only chunk the client did not ask for is held back
    events = await wait_for_events(nats_url, nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == STREAM_USAGE[kind]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == streamed_text(fake)


@pytest.mark.parametrize("kind", cells("tools", "finish_reason"))
async def test_tool_calls_come_back_as_the_provider_made_them(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, tools=TOOLS)
    [expected] = fixture_json(fake, "tool_calls.json")["choices"][0]["message"]["tool_calls"]
    assert reply.choices[0].finish_reason == "tool_calls"
    [call] = reply.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert (call.id, call.function.name) == (expected["id"], expected["function"]["name"])
    assert json.loads(call.function.arguments) == json.loads(expected["function"]["arguments"])
    assert json.loads(fake.requests[0].body)["tools"] == TOOLS


@pytest.mark.parametrize("kind", cells("stream_tools", "parallel_tools", "tool_no_args"))
async def test_streamed_parallel_tool_calls_are_assembled_with_ids_names_and_arguments(
    open_kind: OpenKind, kind: str, nats_url: str, nats_prefix: str
) -> None:
    async with open_kind(kind) as (sdk, fake):
        raw = await sdk.chat.completions.with_raw_response.create(
            model=ROUTE_NAME, messages=HELLO, tools=TOOLS, parallel_tool_calls=True, stream=True
        )
        chunks = [chunk async for chunk in raw.parse()]
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] += delta.function.name or "" if delta.function else ""
            call["arguments"] += delta.function.arguments or "" if delta.function else ""
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("get_weather", {"location": "Paris, France"}),
        ("get_time", {}),
    ]
    assert all(c["id"] for c in calls.values()) and calls[0]["id"] != calls[1]["id"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    assert json.loads(fake.requests[0].body)["parallel_tool_calls"] is True
    events = await wait_for_events(nats_url, nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens.output > 0 and not events[raw.headers["x-request-id"]].estimated


@pytest.mark.parametrize("kind", cells("tool_choice"))
async def test_a_named_tool_choice_reaches_the_provider(open_kind: OpenKind, kind: str) -> None:
    choice: ChatCompletionNamedToolChoiceParam = {"type": "function", "function": {"name": "get_weather"}}
    async with open_kind(kind) as (sdk, fake):
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, tools=TOOLS, tool_choice=choice)
    assert reply.choices[0].finish_reason == "tool_calls"
    assert json.loads(fake.requests[0].body)["tool_choice"] == choice


PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
LOOK: list[ChatCompletionMessageParam] = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in these images?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        ],
    }
]
# forwarded as sent (the same protocol): each case is a request the kind documents, and what must reach it
FORWARDED: dict[str, dict[str, Any]] = {
    "system": {"messages": [{"role": "system", "content": "Be brief."}, *HELLO]},
    "multi_turn": {
        "messages": [
            *HELLO,
            {"role": "assistant", "content": "Hi! How can I help?"},
            {"role": "user", "content": "Tell me a fact."},
        ]
    },
    "image_url": {"messages": LOOK},
    "image_base64": {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe this."},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ]
    },
    "json_mode": {"messages": HELLO, "response_format": {"type": "json_object"}},
    "structured_output": {
        "messages": HELLO,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "greeting",
                "strict": True,
                "schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            },
        },
    },
}
# the kinds whose documentation says they take each feature (DeepSeek's chat API takes no images and documents
# JSON output, not json_schema)
FORWARDED_KINDS = {
    "system": KINDS,
    "multi_turn": KINDS,
    "image_url": tuple(k for k in KINDS if k != "deepseek"),
    "image_base64": tuple(k for k in KINDS if k != "deepseek"),
    "json_mode": KINDS,
    "structured_output": tuple(k for k in KINDS if k != "deepseek"),
}


@pytest.mark.parametrize(
    ("kind", "feature"),
    [
        pytest.param(
            kind,
            feature,
            marks=pytest.mark.conformance(provider=kind, ingress="chat", feature=feature),
            id=f"{kind}-{feature}",
        )
        for feature, kinds in FORWARDED_KINDS.items()
        for kind in kinds
    ],
)
async def test_what_the_kind_takes_is_forwarded_as_sent(open_kind: OpenKind, kind: str, feature: str) -> None:
    request = FORWARDED[feature]
    async with open_kind(kind) as (sdk, fake):
        extra = {name: value for name, value in request.items() if name != "messages"}
        reply = await sdk.chat.completions.create(model=ROUTE_NAME, messages=request["messages"], extra_body=extra)
    assert reply.choices[0].message.content == fixture_json(fake, "good.json")["choices"][0]["message"]["content"]
    sent = json.loads(fake.requests[0].body)
    assert {name: sent[name] for name in request} == request


# the field each kind calls max_completion_tokens and seed (its documented names)
SAMPLING_NAMES = {
    "mistral": ("max_tokens", "random_seed"),
    "deepseek": ("max_tokens", "seed"),
    "ollama": ("max_tokens", "seed"),
}


@pytest.mark.parametrize("kind", cells("sampling_params", "stop_sequences"))
async def test_sampling_params_reach_the_provider_under_its_names(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        reply = await sdk.chat.completions.create(
            model=ROUTE_NAME,
            messages=HELLO,
            temperature=0.2,
            top_p=0.9,
            max_completion_tokens=50,
            seed=7,
            stop=["\n\n"],
        )
    assert reply.choices[0].message.content
    max_name, seed_name = SAMPLING_NAMES.get(kind, ("max_completion_tokens", "seed"))
    sent = json.loads(fake.requests[0].body)
    assert {name: sent.get(name) for name in ("temperature", "top_p", max_name, seed_name, "stop")} == {
        "temperature": 0.2,
        "top_p": 0.9,
        max_name: 50,
        seed_name: 7,
        "stop": ["\n\n"],
    }
    renamed = {"max_completion_tokens", "seed"} - {max_name, seed_name}
    assert renamed.isdisjoint(sent)  # sent under the provider's name only


# a documented field of each kind that OpenAI does not have: it must reach the provider untouched
OWN_FIELDS: dict[str, dict[str, Any]] = {
    "mistral": {"safe_prompt": True, "prompt_mode": "reasoning"},
    "groq": {"reasoning_format": "parsed"},
    "together": {"repetition_penalty": 1.1, "min_p": 0.05},
    "deepseek": {"thinking": {"type": "enabled"}},
    "xai": {"search_parameters": {"mode": "auto"}},
    "fireworks": {"context_length_exceeded_behavior": "error"},
    "openrouter": {"provider": {"order": ["OpenAI"], "allow_fallbacks": False}, "transforms": ["middle-out"]},
    "ollama": {"reasoning": {"effort": "low"}},
    "vllm": {"top_k": 20, "guided_choice": ["yes", "no"]},
}


@pytest.mark.parametrize("kind", cells("passthrough"))
async def test_the_kinds_own_fields_pass_through_untouched(open_kind: OpenKind, kind: str) -> None:
    async with open_kind(kind) as (sdk, fake):
        await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, extra_body=OWN_FIELDS[kind])
    sent = json.loads(fake.requests[0].body)
    assert {name: sent[name] for name in OWN_FIELDS[kind]} == OWN_FIELDS[kind]


@pytest.mark.parametrize(
    ("kind", "fixture", "expected"),
    [
        pytest.param(
            "deepseek",
            "reasoning.json",
            TokenUsage(input=16, cached_input=64, output=30, reasoning=90),
            marks=[
                pytest.mark.conformance(provider="deepseek", ingress="chat", feature="usage_cached"),
                pytest.mark.conformance(provider="deepseek", ingress="chat", feature="usage_reasoning"),
            ],
            id="deepseek-cache-hit-tokens",
        ),
        pytest.param(
            "xai",
            "good.json",
            TokenUsage(input=26, cached_input=6, output=9, reasoning=94),
            marks=[
                pytest.mark.conformance(provider="xai", ingress="chat", feature="usage_cached"),
                pytest.mark.conformance(provider="xai", ingress="chat", feature="usage_reasoning"),
            ],
            id="xai-reasoning-apart",
        ),
        pytest.param(
            "openrouter",
            "tool_calls.json",
            TokenUsage(input=80, output=15, reasoning=25),
            marks=pytest.mark.conformance(provider="openrouter", ingress="chat", feature="usage_reasoning"),
            id="openrouter-reasoning",
        ),
        pytest.param(
            "openrouter",
            "good.json",
            TokenUsage(input=66, cached_input=128, output=14),
            marks=pytest.mark.conformance(provider="openrouter", ingress="chat", feature="usage_cached"),
            id="openrouter-cached",
        ),
        pytest.param(
            "fireworks",
            "tool_calls.json",
            TokenUsage(input=105, cached_input=128, output=22),
            marks=pytest.mark.conformance(provider="fireworks", ingress="chat", feature="usage_cached"),
            id="fireworks-cached",
        ),
        pytest.param(
            "deepseek",
            "tool_calls.json",
            TokenUsage(input=22, cached_input=128, output=20),
            id="deepseek-cached-both-fields",
        ),
    ],
)
async def test_usage_classes_reach_the_usage_event(
    open_kind: OpenKind, kind: str, fixture: str, expected: TokenUsage, nats_url: str, nats_prefix: str
) -> None:
    async with open_kind(kind) as (sdk, fake):
        fake.enqueue(Reply(200, fixture))
        raw = await sdk.chat.completions.with_raw_response.create(model=ROUTE_NAME, messages=HELLO)
        reply = raw.parse()
    events = await wait_for_events(nats_url, nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == expected
    if fixture == "reasoning.json":  # DeepSeek's chain of thought reaches the client as it was sent
        assert (reply.choices[0].message.model_extra or {})["reasoning_content"].startswith("Compare the tenths")


ERROR_CASES = [
    # kind, upstream status, fixture, SDK exception, status the client sees, code the client sees
    ("mistral", 422, "unprocessable.json", openai.UnprocessableEntityError, 422, None),
    ("mistral", 429, "rate_limited.json", openai.RateLimitError, 429, "1300"),
    ("mistral", 401, "unauthorized.json", openai.InternalServerError, 502, "upstream_auth_error"),
    ("groq", 400, "bad_request.json", openai.BadRequestError, 400, "invalid_request_error"),
    ("groq", 429, "rate_limited.json", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("groq", 498, "capacity_exceeded.json", openai.InternalServerError, 503, "capacity_exceeded"),
    ("groq", 401, "unauthorized.json", openai.InternalServerError, 502, "upstream_auth_error"),
    ("together", 400, "bad_request.json", openai.BadRequestError, 400, None),
    ("together", 429, "rate_limited.json", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("together", 401, "unauthorized.json", openai.InternalServerError, 502, "upstream_auth_error"),
    ("deepseek", 422, "invalid_parameters.json", openai.UnprocessableEntityError, 422, "invalid_request_error"),
    ("deepseek", 429, "rate_limited.json", openai.RateLimitError, 429, "rate_limit_reached"),
    ("deepseek", 402, "insufficient_balance.json", openai.InternalServerError, 502, "upstream_insufficient_credit"),
    ("deepseek", 401, "unauthorized.json", openai.InternalServerError, 502, "upstream_auth_error"),
    ("xai", 400, "bad_request.json", openai.BadRequestError, 400, "Client specified an invalid argument"),
    ("xai", 429, "rate_limited.json", openai.RateLimitError, 429, "Some resource has been exhausted"),
    ("xai", 403, "unauthorized.json", openai.InternalServerError, 502, "upstream_auth_error"),
    ("fireworks", 400, "bad_request.json", openai.BadRequestError, 400, None),
    ("fireworks", 429, "rate_limited.json", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("fireworks", 401, "unauthorized.json", openai.InternalServerError, 502, "upstream_auth_error"),
    ("openrouter", 400, "bad_request.json", openai.BadRequestError, 400, "400"),
    ("openrouter", 402, "insufficient_credits.json", openai.InternalServerError, 502, "upstream_insufficient_credit"),
    ("openrouter", 403, "moderation.json", openai.PermissionDeniedError, 403, "content_filter"),
    ("openrouter", 429, "rate_limited.json", openai.RateLimitError, 429, "429"),
    ("openrouter", 401, "unauthorized.json", openai.InternalServerError, 502, "upstream_auth_error"),
    ("ollama", 404, "not_found.json", openai.NotFoundError, 404, None),
    ("ollama", 400, "bad_request.json", openai.BadRequestError, 400, None),
    ("vllm", 400, "bad_request.json", openai.BadRequestError, 400, "400"),
    ("vllm", 404, "not_found.json", openai.NotFoundError, 404, "404"),
    ("vllm", 401, "unauthorized.json", openai.InternalServerError, 502, "upstream_auth_error"),
]


@pytest.mark.parametrize(
    ("kind", "status", "fixture", "exception", "client_status", "code"),
    [
        pytest.param(
            *case,
            marks=pytest.mark.conformance(provider=case[0], ingress="chat", feature="errors"),
            id=f"{case[0]}-{case[1]}",
        )
        for case in ERROR_CASES
    ],
)
async def test_errors_reach_the_sdk_with_the_right_class_and_status(
    open_kind: OpenKind,
    kind: str,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
    client_status: int,
    code: str | None,
) -> None:
    async with open_kind(kind) as (sdk, fake):
        fake.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)  # retried ones are answered alike
        with pytest.raises(exception) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO)
    assert caught.value.status_code == client_status and caught.value.code == code
    assert b"fake-compat-key" not in caught.value.response.content


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        pytest.param(
            {"logprobs": True},
            "logprobs",
            marks=pytest.mark.conformance(provider="groq", ingress="chat", feature="sampling_params", expect="error"),
            id="logprobs",
        ),
        pytest.param({"n": 2}, "n", id="n"),
    ],
)
async def test_groq_refuses_what_it_documents_as_rejected_before_calling_it(
    open_kind: OpenKind, extra: dict[str, Any], param: str
) -> None:
    async with open_kind("groq") as (sdk, fake):
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(model=ROUTE_NAME, messages=HELLO, extra_body=extra)
    assert caught.value.code == "unsupported_parameter" and caught.value.param == param
    assert fake.requests == []
