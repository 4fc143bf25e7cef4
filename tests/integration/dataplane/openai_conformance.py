"""What the conformance tests of the `openai` and `openai_compatible` kinds share (test_conformance_openai.py for
/v1/chat/completions, test_conformance_openai_messages.py for /v1/messages): both kinds speak the same wire
protocol and the family's quirks do not touch these requests, so every test runs once per kind against the fake
OpenAI provider replaying documented examples."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pydantic
import pytest
from anthropic.types import ToolParam
from openai.types.chat import ChatCompletionToolParam

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.openai_provider import FakeOpenAIProvider
from tests.integration.dataplane.conformance_gateway import (
    OpenSdks,
    Sdks,
    cells,
    sdks_through_gateway,
)

KINDS = ("openai", "openai_compatible")
UPSTREAM_MODEL = "gpt-4.1-upstream"
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
WEATHER: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    },
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]
CLAUDE_WEATHER: list[ToolParam] = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}}},
    {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
]
PARALLEL_CALLS = [
    ("call_12345xyz", "get_weather", {"location": "Paris, France"}),
    ("call_67890abc", "get_weather", {"location": "Bogotá, Colombia"}),
    ("call_99999def", "get_time", {}),
]
STREAMED_CALLS = [
    ("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", {"location": "Paris, France"}),
    ("call_Kx7dQ2mZ9pL4vB8nR1tY6wEs", "get_time", {}),
]


def kinds(ingress: str, *features: str, expect: str = "ok") -> pytest.MarkDecorator:
    """Run the test once per kind, each run proving `features` on `ingress` for its kind."""
    params = [pytest.param(kind, marks=cells(kind, ingress, *features, expect=expect), id=kind) for kind in KINDS]
    return pytest.mark.parametrize("kind", params)


@pytest.fixture
def gateway(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, fake_openai: FakeOpenAIProvider, kind: str
) -> OpenSdks:
    @asynccontextmanager
    async def open_sdks() -> AsyncIterator[Sdks]:
        async with sdks_through_gateway(
            kind=kind,
            settings=dp_settings,
            test_secrets=test_secrets,
            base_url=fake_openai.base_url,
            api_key=fake_openai.api_key,
            upstream_model=UPSTREAM_MODEL,
        ) as sdks:
            yield sdks

    return open_sdks


def sent_body(fake: FakeOpenAIProvider, number: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(fake.requests[number].body)
    return body


class Step(pydantic.BaseModel):
    explanation: str
    output: str


class MathReasoning(pydantic.BaseModel):
    steps: list[Step]
    final_answer: str
