"""OpenAI SDK `client.responses` → gateway → Azure OpenAI and Cohere targets, both translated: Azure through the
OpenAI-protocol fast path with its deployment URLs (and `max_completion_tokens`, which its reasoning deployments
require), Cohere through its v2 chat adapter. Answers, streams, tool calls, finish reasons and errors come back in
the Responses API's shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import openai
import pytest
from openai.types.responses import FunctionToolParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.azure_openai_provider import FakeAzureOpenAI
from tests.fakes.cohere_provider import FakeCohere
from tests.fakes.replay_server import Reply
from tests.integration.dataplane.provider_gateway import ROUTE_NAME, sdk_through_gateway

DEPLOYMENT = "gpt-4o-prod"
WEATHER: FunctionToolParam = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    "strict": False,
}


def cell(provider: str, feature: str, expect: str = "ok") -> pytest.MarkDecorator:
    return pytest.mark.conformance(provider=provider, ingress="responses", feature=feature, expect=expect)


@pytest.fixture
def fake_azure() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_cohere() -> Iterator[FakeCohere]:
    with FakeCohere() as fake:
        yield fake


@pytest.fixture
async def azure(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_azure: FakeAzureOpenAI,
) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk_through_gateway(
        kind="azure_openai",
        base_url=f"{fake_azure.base_url}?api-version=2024-10-21",
        api_key=fake_azure.api_key,
        upstream_model=DEPLOYMENT,
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as sdk:
        yield sdk


@pytest.fixture
async def cohere(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_cohere: FakeCohere,
) -> AsyncIterator[openai.AsyncOpenAI]:
    async with sdk_through_gateway(
        kind="cohere",
        base_url=fake_cohere.base_url,
        api_key=fake_cohere.api_key,
        upstream_model="command-a-03-2025",
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
    ) as sdk:
        yield sdk


@cell("azure_openai", "text")
@cell("azure_openai", "sampling_params")
@cell("azure_openai", "usage")
async def test_azure_gets_a_chat_request_at_its_deployment_url(
    azure: openai.AsyncOpenAI, fake_azure: FakeAzureOpenAI
) -> None:
    reply = await azure.responses.create(model=ROUTE_NAME, input="CMK?", max_output_tokens=100, temperature=0.1)
    assert reply.output_text == "Yes, customer managed keys are supported by Azure OpenAI."
    assert reply.usage is not None and reply.usage.total_tokens == 46
    [seen] = fake_azure.requests
    assert seen.path == f"/openai/deployments/{DEPLOYMENT}/chat/completions?api-version=2024-10-21"
    sent = json.loads(seen.body)
    assert (sent["max_completion_tokens"], sent["temperature"]) == (100, 0.1) and "max_tokens" not in sent


@cell("azure_openai", "stream_text")
@cell("azure_openai", "stream_usage")
async def test_an_azure_stream_with_its_filter_chunk_becomes_responses_events(azure: openai.AsyncOpenAI) -> None:
    async with azure.responses.stream(model=ROUTE_NAME, input="CMK?") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas and final.output_text == deltas
    assert final.usage is not None and final.usage.total_tokens > 0


@cell("azure_openai", "tools")
@cell("azure_openai", "parallel_tools")
@cell("azure_openai", "tool_no_args")
async def test_azure_parallel_tool_calls_become_function_call_items(
    azure: openai.AsyncOpenAI, fake_azure: FakeAzureOpenAI
) -> None:
    fake_azure.enqueue(Reply(200, "parallel_tool_calls.json"))
    reply = await azure.responses.create(model=ROUTE_NAME, input="What time is it?", tools=[WEATHER])
    calls = [item for item in reply.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_current_time", {"location": "San Francisco"}),
        ("get_current_time", {"location": "Tokyo"}),
        ("get_current_time", {"location": "Paris"}),
        ("list_time_zones", {}),
    ]


@cell("azure_openai", "errors", "error")
async def test_an_azure_content_filter_refusal_is_a_bad_request(
    azure: openai.AsyncOpenAI, fake_azure: FakeAzureOpenAI
) -> None:
    fake_azure.enqueue(Reply(400, "content_filter.json"))
    with pytest.raises(openai.BadRequestError) as refused:
        await azure.responses.create(model=ROUTE_NAME, input="...")
    assert refused.value.code == "content_filter"


@cell("cohere", "text")
@cell("cohere", "system")
@cell("cohere", "usage")
async def test_cohere_answers_through_its_v2_chat(cohere: openai.AsyncOpenAI, fake_cohere: FakeCohere) -> None:
    reply = await cohere.responses.create(model=ROUTE_NAME, input="What are LLMs?", instructions="Be brief.")
    assert reply.output_text.startswith("LLMs are large language models")
    assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (5, 22)  # billed units
    sent = json.loads(fake_cohere.requests[0].body)
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}


@cell("cohere", "stream_text")
async def test_a_cohere_stream_becomes_responses_events(cohere: openai.AsyncOpenAI) -> None:
    async with cohere.responses.stream(model=ROUTE_NAME, input="What are LLMs?") as stream:
        events = [event async for event in stream]
        final = await stream.get_final_response()
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert deltas and final.output_text == deltas


@cell("cohere", "tools")
@cell("cohere", "parallel_tools")
@cell("cohere", "tool_no_args")
async def test_cohere_tool_calls_become_function_call_items(
    cohere: openai.AsyncOpenAI, fake_cohere: FakeCohere
) -> None:
    fake_cohere.enqueue(Reply(200, "tool_calls.json"))
    reply = await cohere.responses.create(model=ROUTE_NAME, input="Weather and time in Toronto?", tools=[WEATHER])
    calls = [item for item in reply.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments), c.call_id) for c in calls] == [
        ("get_weather", {"location": "Toronto"}, "get_weather_1byjy32y4hvq"),
        ("get_time", {}, "get_time_p7yd2xqm83nz"),
    ]


@cell("cohere", "finish_reason")
async def test_a_cohere_answer_cut_at_max_tokens_is_incomplete(
    cohere: openai.AsyncOpenAI, fake_cohere: FakeCohere
) -> None:
    fake_cohere.enqueue(Reply(200, "max_tokens.json"))
    reply = await cohere.responses.create(model=ROUTE_NAME, input="Tell me everything", max_output_tokens=20)
    assert reply.status == "incomplete"
    assert reply.incomplete_details is not None and reply.incomplete_details.reason == "max_output_tokens"


@cell("cohere", "errors", "error")
async def test_cohere_rate_limits_reach_the_sdk_as_rate_limit_errors(
    cohere: openai.AsyncOpenAI, fake_cohere: FakeCohere
) -> None:
    fake_cohere.enqueue(*[Reply(429, "too_many_requests.json", {"retry-after": "0"})] * 6)
    with pytest.raises(openai.RateLimitError) as raised:
        await cohere.responses.create(model=ROUTE_NAME, input="Hi")
    assert raised.value.status_code == 429
