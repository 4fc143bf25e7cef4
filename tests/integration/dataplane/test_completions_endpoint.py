"""OpenAI SDK → gateway `POST /v1/completions` (legacy text completions) → fake providers: OpenAI-protocol kinds get
the body forwarded with only `model` replaced, streamed or not, the usage always asked of a stream and its
usage chunk shown only to a client that asked; the mock answers; every other kind is a clear 400. Every request
ends in one usage event with the provider's tokens (or a flagged estimate) and cost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from dataplane.endpoint_support import NO_COMPLETIONS_KINDS
from dataplane.settings import DataPlaneSettings
from shared.snapshot import OPENAI_COMPATIBLE_KINDS
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.openai_provider import COMPLETIONS, FakeOpenAIProvider, ScriptedResponse
from tests.integration.dataplane.route_targets import ROUTE_NAME, RouteTarget, sdk_for_route
from tests.integration.dataplane.test_usage_events import wait_for_events

PROMPT = "Say this is a test"
UPSTREAM_MODEL = "gpt-3.5-turbo-instruct"
FIXTURE_TEXT = "\n\nThis is indeed a test"


@pytest.fixture
def fake_azure() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI() as fake:
        yield fake


@pytest.fixture
def route(dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str) -> Any:
    """`route(*targets)`: an SDK client of a data plane whose route has these targets."""

    def open_route(*targets: RouteTarget) -> Any:
        return sdk_for_route(
            list(targets), settings=dp_settings, test_secrets=test_secrets, nats_url=nats_url, nats_prefix=nats_prefix
        )

    return open_route


def openai_target(fake: FakeOpenAIProvider, kind: str = "openai", price: tuple[int, int] | None = None) -> RouteTarget:
    return RouteTarget(kind=kind, base_url=fake.base_url, api_key=fake.api_key, model=UPSTREAM_MODEL, price=price)


def cells(kind: str, *features: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.conformance(provider=kind, ingress="completions", feature=feature) for feature in features]


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(kind, marks=cells(kind, "completions", "passthrough"))
        for kind in ("openai", *OPENAI_COMPATIBLE_KINDS)
        # refused, or (DeepSeek) served at its own beta URL: tests/integration/dataplane/test_conformance_completions.py
        if kind not in NO_COMPLETIONS_KINDS and kind != "deepseek"
    ],
)
async def test_openai_protocol_kinds_forward_the_body_with_only_the_model_replaced(
    route: Any, fake_openai: FakeOpenAIProvider, kind: str
) -> None:
    async with route(openai_target(fake_openai, kind)) as sdk:
        reply = await sdk.completions.create(
            model=ROUTE_NAME, prompt=PROMPT, max_tokens=7, temperature=0, extra_body={"x_unknown": {"a": 1}}
        )
    assert reply.choices[0].text == FIXTURE_TEXT and reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 7)
    [seen] = fake_openai.requests
    assert seen.path == "/v1/completions"
    assert seen.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert json.loads(seen.body) == {
        "model": UPSTREAM_MODEL,
        "prompt": PROMPT,
        "max_tokens": 7,
        "temperature": 0,
        "x_unknown": {"a": 1},
    }


@pytest.mark.parametrize(
    "kind",
    [pytest.param(kind, marks=cells(kind, "stream_text", "stream_usage")) for kind in ("openai", "openai_compatible")],
)
async def test_a_stream_is_relayed_with_its_usage_chunk_only_for_a_client_that_asked(
    route: Any, fake_openai: FakeOpenAIProvider, kind: str
) -> None:
    async with route(openai_target(fake_openai, kind)) as sdk:
        quiet = [chunk async for chunk in await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT, stream=True)]
        asked = [
            chunk
            async for chunk in await sdk.completions.create(
                model=ROUTE_NAME, prompt=PROMPT, stream=True, stream_options={"include_usage": True}
            )
        ]
    for chunks in (quiet, asked):
        assert "".join(c.choices[0].text for c in chunks if c.choices) == FIXTURE_TEXT
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert all(c.usage is None for c in quiet)
    assert asked[-1].choices == [] and asked[-1].usage is not None and asked[-1].usage.total_tokens == 12
    quiet_sent, asked_sent = (json.loads(r.body) for r in fake_openai.requests)
    assert quiet_sent["stream_options"] == {"include_usage": True}  # the gateway always asks
    assert asked_sent["stream_options"] == {"include_usage": True}


@pytest.mark.conformance(provider="azure_openai", ingress="completions", feature="completions")
@pytest.mark.conformance(provider="azure_openai", ingress="completions", feature="passthrough")
@pytest.mark.conformance(provider="azure_openai", ingress="completions", feature="usage")
async def test_azure_completions_go_to_the_deployment_url_with_its_api_key(
    route: Any, fake_azure: FakeAzureOpenAI
) -> None:
    target = RouteTarget(kind="azure_openai", base_url=fake_azure.base_url, api_key=fake_azure.api_key, model="inst")
    async with route(target) as sdk:
        reply = await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT)
    assert reply.choices[0].text == FIXTURE_TEXT
    assert reply.usage is not None and reply.usage.total_tokens == 12
    [seen] = fake_azure.requests
    assert seen.path == "/openai/deployments/inst/completions?api-version=2024-10-21"
    assert seen.headers["api-key"] == fake_azure.api_key


@pytest.mark.conformance(provider="mock", ingress="completions", feature="completions")
@pytest.mark.conformance(provider="mock", ingress="completions", feature="stream_text")
@pytest.mark.conformance(provider="mock", ingress="completions", feature="stream_usage")
async def test_the_mock_completes_each_prompt_whole_and_streamed(route: Any) -> None:
    async with route(RouteTarget(kind="mock")) as sdk:
        whole = await sdk.completions.create(model=ROUTE_NAME, prompt=[PROMPT, "Another  one"])
        stream = await sdk.completions.create(
            model=ROUTE_NAME, prompt=PROMPT, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert [c.text for c in whole.choices] == [f"Mock completion of: {PROMPT}", "Mock completion of: Another one"]
    assert whole.usage is not None and (whole.usage.prompt_tokens, whole.usage.completion_tokens) == (7, 13)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == f"Mock completion of: {PROMPT}"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(
            kind,
            marks=pytest.mark.conformance(provider=kind, ingress="completions", feature="completions", expect="error"),
        )
        for kind in ("anthropic", "gemini", "cohere", "bedrock", "vertex_ai")
    ],
)
async def test_kinds_without_text_completions_are_a_clear_400(route: Any, kind: str) -> None:
    async with route(RouteTarget(kind=kind, api_key="unused")) as sdk:
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT)
        with pytest.raises(openai.BadRequestError) as refused_stream:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT, stream=True)
    assert refused.value.code == refused_stream.value.code == "unsupported_endpoint"
    assert refused.value.message.endswith(
        f"The model `{ROUTE_NAME}` does not support text completions (/v1/completions)."
    )


async def test_a_routes_targets_without_text_completions_are_skipped_for_its_fallbacks(
    route: Any, fake_openai: FakeOpenAIProvider
) -> None:
    async with route(RouteTarget(kind="gemini", api_key="unused"), openai_target(fake_openai)) as sdk:
        reply = await sdk.completions.with_raw_response.create(model=ROUTE_NAME, prompt=PROMPT)
    assert reply.parse().choices[0].text == FIXTURE_TEXT
    assert reply.headers["x-waypost-target"] == "openai-1" and reply.headers["x-waypost-attempts"] == "1"


@pytest.mark.parametrize(
    ("scripted", "exception", "code"),
    [
        (ScriptedResponse(400, "bad_request.json"), openai.BadRequestError, None),
        (
            ScriptedResponse(429, "rate_limited.json", {"retry-after": "0"}),
            openai.RateLimitError,
            "rate_limit_exceeded",
        ),
        (ScriptedResponse(401, "invalid_api_key.json"), openai.APIStatusError, "upstream_auth_error"),
    ],
)
@pytest.mark.conformance(provider="openai", ingress="completions", feature="errors")
async def test_provider_errors_reach_the_sdk_with_their_status_whole_and_streamed(
    route: Any,
    fake_openai: FakeOpenAIProvider,
    scripted: ScriptedResponse,
    exception: type[openai.APIStatusError],
    code: str | None,
) -> None:
    fake_openai.enqueue(*[scripted] * 12)  # retried statuses are retried: every attempt gets the same answer
    async with route(openai_target(fake_openai)) as sdk:
        with pytest.raises(exception) as whole:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT)
        with pytest.raises(exception) as streamed:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT, stream=True)
    expected_status = 502 if scripted.status == 401 else scripted.status  # the gateway's key, not the client's
    assert whole.value.status_code == streamed.value.status_code == expected_status
    assert whole.value.code == streamed.value.code == code


@pytest.mark.conformance(provider="openai", ingress="completions", feature="usage")
@pytest.mark.conformance(provider="openai", ingress="completions", feature="stream_usage")
async def test_usage_events_carry_the_providers_tokens_streamed_or_not_or_a_flagged_estimate(
    route: Any, fake_openai: FakeOpenAIProvider, nats_url: str, nats_prefix: str
) -> None:
    fake_openai.enqueue(
        ScriptedResponse(200, COMPLETIONS + "good.json"),
        ScriptedResponse(200, COMPLETIONS + "stream.sse"),
        ScriptedResponse(200, COMPLETIONS + "stream_no_usage.sse"),
        ScriptedResponse(200, COMPLETIONS + "no_usage.json"),
    )
    async with route(openai_target(fake_openai, price=(1_000_000, 3_000_000))) as sdk:
        plain = await sdk.completions.with_raw_response.create(model=ROUTE_NAME, prompt=PROMPT)
        streamed = await sdk.completions.with_raw_response.create(model=ROUTE_NAME, prompt=PROMPT, stream=True)
        async for _ in streamed.parse():
            pass
        unreported = await sdk.completions.with_raw_response.create(model=ROUTE_NAME, prompt=PROMPT, stream=True)
        async for _ in unreported.parse():
            pass
        unreported_whole = await sdk.completions.with_raw_response.create(model=ROUTE_NAME, prompt=PROMPT)
    events = await wait_for_events(nats_url, nats_prefix, 4)
    plain_event, streamed_event = events[plain.headers["x-request-id"]], events[streamed.headers["x-request-id"]]
    assert plain_event.tokens == streamed_event.tokens == TokenUsage(input=5, output=7)
    assert not plain_event.estimated and not streamed_event.estimated
    assert plain_event.cost_micro_usd == streamed_event.cost_micro_usd == 5 + 21
    assert plain_event.path == "/v1/completions" and streamed_event.stream
    for estimate in (events[unreported.headers["x-request-id"]], events[unreported_whole.headers["x-request-id"]]):
        assert estimate.estimated and estimate.tokens.input > 0
        assert estimate.tokens.output == 5  # the 22 characters of text sent back, at ~4 per token
