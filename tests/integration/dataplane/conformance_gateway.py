"""The harness of the conformance tests: a data plane (real NATS, in process) whose one route reaches one provider
of a given kind, and both official SDKs (`openai`, `anthropic`; max_retries=0) talking to it; plus the helpers
that mark a test as proving cells of docs/conformance.md and assemble what the SDKs stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anthropic
import httpx
import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from dataplane.app import create_app
from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.integration.dataplane.conftest import wait_for_version
from tests.snapshot_factory import ROUTE_NAME, make_key, make_snapshot, publish, sign_snapshot

__all__ = ["ROUTE_NAME", "OpenSdks", "Sdks", "cells", "proves", "sdks_through_gateway", "streamed_tool_calls"]

TestFunction = TypeVar("TestFunction", bound=Callable[..., Any])


@dataclass(frozen=True)
class Sdks:
    openai: openai.AsyncOpenAI
    anthropic: anthropic.AsyncAnthropic


# a fixture value: opens a data plane routed to the fake provider and yields both SDKs talking to it
OpenSdks = Callable[[], AbstractAsyncContextManager[Sdks]]


@asynccontextmanager
async def sdks_through_gateway(
    *,
    kind: str,
    settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    base_url: str = "http://127.0.0.1:9/v1",
    api_key: str | None = None,
    upstream_model: str = "upstream-model",
) -> AsyncIterator[Sdks]:
    key = make_key(test_secrets.secret_key)
    snapshot = make_snapshot(
        test_secrets.secret_key,
        version=1,
        keys=[key.spec],
        provider_kind=kind,
        base_url=base_url,
        provider_api_key=api_key,
        upstream_model=upstream_model,
    )
    await publish(settings.nats_url, settings.nats_prefix, sign_snapshot(snapshot, test_secrets.signing_key))
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dataplane") as client,
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://dataplane") as sdk_http,
    ):
        await wait_for_version(client, 1)
        yield Sdks(
            openai=openai.AsyncOpenAI(
                base_url="http://dataplane/v1", api_key=key.token, http_client=sdk_http, max_retries=0
            ),
            anthropic=anthropic.AsyncAnthropic(
                base_url="http://dataplane", api_key=key.token, http_client=sdk_http, max_retries=0
            ),
        )


def cells(
    providers: str | Iterable[str], ingress: str, *features: str, expect: str = "ok"
) -> list[pytest.MarkDecorator]:
    """The conformance marks of a test proving `features` on `ingress` for each of `providers`."""
    names = [providers] if isinstance(providers, str) else list(providers)
    return [
        pytest.mark.conformance(provider=name, ingress=ingress, feature=feature, expect=expect)
        for name in names
        for feature in features
    ]


def proves(
    providers: str | Iterable[str], ingress: str, *features: str, expect: str = "ok"
) -> Callable[[TestFunction], TestFunction]:
    """A decorator marking a test as proving `features` on `ingress` for each of `providers`."""

    def apply(test: TestFunction) -> TestFunction:
        for mark in cells(providers, ingress, *features, expect=expect):
            test = mark(test)
        return test

    return apply


def streamed_tool_calls(chunks: list[ChatCompletionChunk]) -> list[tuple[str, str, Any]]:
    """(id, name, parsed arguments) of each tool call an OpenAI stream delivered, assembled by index."""
    calls: dict[int, list[str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            entry = calls.setdefault(delta.index, ["", "", ""])
            entry[0] += delta.id or ""
            if delta.function is not None:
                entry[1] += delta.function.name or ""
                entry[2] += delta.function.arguments or ""
    return [(i, name, json.loads(arguments)) for i, name, arguments in (calls[n] for n in sorted(calls))]
