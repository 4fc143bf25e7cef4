"""Conformance cells of `POST /v1/completions` (OpenAI's legacy text completions): the official `openai` SDK → the
gateway → a fake provider of each OpenAI-protocol kind (tests/fakes/compat_provider.py for the family, the fake
OpenAI for `openai` and `openai_compatible`, the fake Azure resource), asserting on what the SDK returns: the text,
the provider's finish reason and usage as it sent them, a stream assembled with its usage, the stop sequences and
sampling parameters forwarded as sent, and each provider error as the SDK's exception class. Kinds whose provider
has no such endpoint (Mistral, Groq) are a clear 400 before anything is sent; the mock answers in process."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from dataplane.endpoint_support import NO_COMPLETIONS_KINDS
from dataplane.settings import DataPlaneSettings
from shared.usage import TokenUsage
from tests.conftest import TestSecrets
from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.compat_provider import COMPLETIONS, FakeCompatProvider
from tests.fakes.loopback import RecordedRequest
from tests.fakes.openai_provider import FIXTURE_ROOT, FakeOpenAIProvider, ScriptedResponse
from tests.fakes.replay_server import Reply, split_sse_events
from tests.integration.dataplane.route_targets import ROUTE_NAME, RouteTarget, sdk_for_route
from tests.integration.dataplane.test_compat_providers import ERROR_CASES, NO_AUTH_KINDS
from tests.integration.dataplane.test_usage_events import wait_for_events

INGRESS = "completions"
PROMPT = "Say this is a test"
# the family kinds whose provider documents `POST {base}/completions`, each served by its own fake
FAMILY = ("together", "deepseek", "xai", "fireworks", "openrouter", "ollama", "vllm")
OPENAI_LIKE = ("openai", "openai_compatible")  # OpenAI's own wire format: the fake OpenAI serves them
ALL_SERVED = (*OPENAI_LIKE, "azure_openai", *FAMILY)


class Upstream:
    """One provider fake behind the gateway, whatever its kind: its target, what it saw, its fixtures."""

    def __init__(self, kind: str, fake: FakeOpenAIProvider | FakeAzureOpenAI | FakeCompatProvider) -> None:
        self.kind = kind
        self.fake = fake

    @property
    def target(self) -> RouteTarget:
        model = "inst" if self.kind == "azure_openai" else f"{self.kind}-upstream-model"
        return RouteTarget(kind=self.kind, base_url=self.fake.base_url, api_key=self.fake.api_key, model=model)

    @property
    def completions_path(self) -> str:
        """Where the gateway must send a text completion for this kind."""
        if self.kind == "azure_openai":
            return "/openai/deployments/inst/completions?api-version=2024-10-21"
        if self.kind == "deepseek":
            return "/beta/completions"  # DeepSeek's FIM completions live under its beta base URL only
        return f"{urlsplit(self.fake.base_url).path}/completions"

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.fake.requests)

    def fixture(self, name: str) -> bytes:
        if isinstance(self.fake, FakeOpenAIProvider):
            return (FIXTURE_ROOT / "completions" / name).read_bytes()
        prefix = COMPLETIONS if isinstance(self.fake, FakeCompatProvider) else "../completions/"
        return self.fake.fixture(prefix + name)

    def good(self) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(self.fixture("good.json"))
        return decoded

    def streamed(self) -> tuple[str, dict[str, Any]]:
        """The text and the usage object the fixture stream carries."""
        text, usage = "", dict[str, Any]()
        for event in split_sse_events(self.fixture("stream.sse")):
            payload = event.strip().removeprefix(b"data:").strip()
            if payload.startswith(b"{"):
                chunk = json.loads(payload)
                text += "".join(choice["text"] for choice in chunk["choices"])
                usage = chunk.get("usage") or usage
        return text, usage


OpenUpstream = Callable[[str], AbstractAsyncContextManager[tuple[openai.AsyncOpenAI, Upstream]]]


def cells(*features: str, kinds: tuple[str, ...] = ALL_SERVED, expect: str = "ok") -> list[Any]:
    """One parameter per kind, each marked as the conformance cells it proves."""
    return [
        pytest.param(
            kind,
            marks=[
                pytest.mark.conformance(provider=kind, ingress=INGRESS, feature=feature, expect=expect)
                for feature in features
            ],
            id=kind,
        )
        for kind in kinds
    ]


def make_fake(kind: str) -> FakeOpenAIProvider | FakeAzureOpenAI | FakeCompatProvider:
    if kind in OPENAI_LIKE:
        return FakeOpenAIProvider()
    if kind == "azure_openai":
        return FakeAzureOpenAI()
    return FakeCompatProvider(kind, api_key=None if kind in NO_AUTH_KINDS else "fake-compat-key")


@pytest.fixture
def open_upstream(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> Iterator[OpenUpstream]:
    fakes: list[Any] = []

    @asynccontextmanager
    async def open_sdk(kind: str) -> AsyncIterator[tuple[openai.AsyncOpenAI, Upstream]]:
        fake = make_fake(kind)
        fake.start()
        fakes.append(fake)
        upstream = Upstream(kind, fake)
        async with sdk_for_route(
            [upstream.target],
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
        ) as sdk:
            yield sdk, upstream

    yield open_sdk
    for fake in fakes:
        fake.stop()


def token_usage(usage: dict[str, Any]) -> TokenUsage:
    """The gateway's classes of a completions usage object without cached or reasoning tokens."""
    return TokenUsage(input=usage["prompt_tokens"], output=usage["completion_tokens"])


@pytest.mark.parametrize("kind", cells("finish_reason", "usage"))
async def test_the_text_comes_back_with_the_providers_finish_reason_and_usage(
    open_upstream: OpenUpstream, kind: str, nats_url: str, nats_prefix: str
) -> None:
    async with open_upstream(kind) as (sdk, upstream):
        raw = await sdk.completions.with_raw_response.create(model=ROUTE_NAME, prompt=PROMPT)
    reply, good = raw.parse(), upstream.good()
    assert reply.choices[0].text == good["choices"][0]["text"]
    assert reply.choices[0].finish_reason == good["choices"][0]["finish_reason"]  # as the provider sent it
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
        good["usage"]["prompt_tokens"],
        good["usage"]["completion_tokens"],
        good["usage"]["total_tokens"],
    )
    events = await wait_for_events(nats_url, nats_prefix, 1)
    event = events[raw.headers["x-request-id"]]
    assert event.tokens == token_usage(good["usage"]) and not event.estimated
    assert event.path == "/v1/completions"


@pytest.mark.parametrize("kind", cells("completions", "passthrough", "stop_sequences", "sampling_params"))
async def test_stop_sequences_sampling_params_and_unknown_fields_reach_the_kinds_url_as_sent(
    open_upstream: OpenUpstream, kind: str
) -> None:
    async with open_upstream(kind) as (sdk, upstream):
        reply = await sdk.completions.create(
            model=ROUTE_NAME,
            prompt=PROMPT,
            stop=["\n\n", "END"],
            temperature=0.3,
            top_p=0.9,
            max_tokens=20,
            presence_penalty=0.5,
            frequency_penalty=0.25,
            extra_body={"x_unknown": {"a": 1}},
        )
    assert reply.choices[0].text == upstream.good()["choices"][0]["text"]
    [seen] = upstream.requests
    assert seen.path == upstream.completions_path
    assert json.loads(seen.body) == {
        "model": upstream.target.model,
        "prompt": PROMPT,
        "stop": ["\n\n", "END"],
        "temperature": 0.3,
        "top_p": 0.9,
        "max_tokens": 20,
        "presence_penalty": 0.5,
        "frequency_penalty": 0.25,
        "x_unknown": {"a": 1},
    }


@pytest.mark.parametrize("kind", cells("stream_text", "stream_usage", kinds=("azure_openai", *FAMILY)))
async def test_a_stream_delivers_the_text_and_the_usage_the_provider_reported(
    open_upstream: OpenUpstream, kind: str, nats_url: str, nats_prefix: str
) -> None:
    async with open_upstream(kind) as (sdk, upstream):
        raw = await sdk.completions.with_raw_response.create(
            model=ROUTE_NAME, prompt=PROMPT, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in raw.parse()]
    text, usage = upstream.streamed()
    assert "".join(choice.text for chunk in chunks for choice in chunk.choices) == text
    finishes = [choice.finish_reason for chunk in chunks for choice in chunk.choices if choice.finish_reason]
    assert len(finishes) == 1
    reported = [chunk.usage for chunk in chunks if chunk.usage is not None]
    assert reported and reported[-1].total_tokens == usage["total_tokens"]
    assert json.loads(upstream.requests[0].body)["stream_options"] == {"include_usage": True}
    events = await wait_for_events(nats_url, nats_prefix, 1)
    event = events[raw.headers["x-request-id"]]
    assert event.tokens == token_usage(usage) and not event.estimated and event.stream


COMPLETIONS_ERRORS = [case for case in ERROR_CASES if case[0] in FAMILY and case[4] != 502]  # 502: auth, credit


@pytest.mark.parametrize(
    ("kind", "status", "fixture", "exception", "client_status", "code"),
    [
        pytest.param(
            *case,
            marks=pytest.mark.conformance(provider=case[0], ingress=INGRESS, feature="errors"),
            id=f"{case[0]}-{case[1]}",
        )
        for case in COMPLETIONS_ERRORS
    ],
)
async def test_family_errors_reach_the_sdk_with_the_right_class_and_status(
    open_upstream: OpenUpstream,
    kind: str,
    status: int,
    fixture: str,
    exception: type[openai.APIStatusError],
    client_status: int,
    code: str | None,
) -> None:
    async with open_upstream(kind) as (sdk, upstream):
        fake = upstream.fake
        assert isinstance(fake, FakeCompatProvider)
        fake.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)  # retried ones are answered alike
        with pytest.raises(exception) as caught:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT)
    assert caught.value.status_code == client_status and caught.value.code == code
    assert upstream.requests[0].path == upstream.completions_path


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "code"),
    [
        (400, "bad_request.json", openai.BadRequestError, None),
        (429, "rate_limited.json", openai.RateLimitError, "rate_limit_exceeded"),
        (500, "server_error.json", openai.InternalServerError, None),
    ],
)
@pytest.mark.conformance(provider="openai_compatible", ingress=INGRESS, feature="errors")
async def test_openai_compatible_errors_reach_the_sdk_with_their_status(
    open_upstream: OpenUpstream, status: int, fixture: str, exception: type[openai.APIStatusError], code: str | None
) -> None:
    async with open_upstream("openai_compatible") as (sdk, upstream):
        fake = upstream.fake
        assert isinstance(fake, FakeOpenAIProvider)
        fake.enqueue(*[ScriptedResponse(status, fixture, {"retry-after": "0"})] * 12)
        with pytest.raises(exception) as whole:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT)
        with pytest.raises(exception) as streamed:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT, stream=True)
    assert whole.value.status_code == streamed.value.status_code == status
    assert whole.value.code == streamed.value.code == code


@pytest.mark.parametrize(
    ("status", "fixture", "exception", "code"),
    [
        (400, "content_filter.json", openai.BadRequestError, "content_filter"),
        (429, "rate_limited.json", openai.RateLimitError, "429"),
        (404, "deployment_not_found.json", openai.NotFoundError, "DeploymentNotFound"),
    ],
)
@pytest.mark.conformance(provider="azure_openai", ingress=INGRESS, feature="errors")
async def test_azure_errors_reach_the_sdk_with_their_status(
    open_upstream: OpenUpstream, status: int, fixture: str, exception: type[openai.APIStatusError], code: str | None
) -> None:
    async with open_upstream("azure_openai") as (sdk, upstream):
        fake = upstream.fake
        assert isinstance(fake, FakeAzureOpenAI)
        fake.enqueue(*[Reply(status, fixture, {"retry-after": "0"})] * 6)
        with pytest.raises(exception) as caught:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT)
    assert caught.value.status_code == status and caught.value.code == code


@pytest.mark.parametrize("kind", cells("completions", kinds=tuple(sorted(NO_COMPLETIONS_KINDS)), expect="error"))
async def test_family_kinds_without_text_completions_are_a_clear_400_before_any_call(
    open_upstream: OpenUpstream, kind: str
) -> None:
    async with open_upstream(kind) as (sdk, upstream):
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT)
        with pytest.raises(openai.BadRequestError) as refused_stream:
            await sdk.completions.create(model=ROUTE_NAME, prompt=PROMPT, stream=True)
    assert refused.value.code == refused_stream.value.code == "unsupported_endpoint"
    assert refused.value.param == "model"
    assert refused.value.message.endswith(
        f"The model `{ROUTE_NAME}` does not support text completions (/v1/completions)."
    )
    assert upstream.requests == []


@pytest.mark.conformance(provider="mock", ingress=INGRESS, feature="sampling_params")
@pytest.mark.conformance(provider="mock", ingress=INGRESS, feature="finish_reason")
@pytest.mark.conformance(provider="mock", ingress=INGRESS, feature="usage")
async def test_the_mock_completes_with_sampling_params_its_stop_finish_and_word_counts(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    async with sdk_for_route(
        [RouteTarget(kind="mock")],
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as sdk:
        raw = await sdk.completions.with_raw_response.create(
            model=ROUTE_NAME, prompt=PROMPT, temperature=0.2, top_p=0.9, max_tokens=32, seed=7
        )
    reply = raw.parse()
    assert reply.choices[0].text == f"Mock completion of: {PROMPT}"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 8)
    events = await wait_for_events(nats_url, nats_prefix, 1)
    assert events[raw.headers["x-request-id"]].tokens == TokenUsage(input=5, output=8)
