"""Each attempt goes through the whole pipeline: a retry or a fallback is admitted by the limits again (at the price
of the target it goes to), and an attempt that failed before another has its own usage event."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from dataplane.runtime import Resilience
from dataplane.settings import DataPlaneSettings
from shared.route_policy import RoutePolicy
from shared.snapshot import BudgetSpec, PriceSpec, RateLimitSpec
from tests.conftest import TestSecrets
from tests.fakes.openai_provider import load_fixture
from tests.fakes.scripted_upstream import Reply, ScriptedUpstream
from tests.integration.dataplane.chains import Chain, Hop, RecordingSleep, serving_chain
from tests.integration.dataplane.test_usage_events import wait_for_events
from tests.snapshot_factory import TEAM_ID

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 2000}
UNAVAILABLE = Reply(status=503, fixture="server_error.json")
ONE_TRY_PER_TARGET = RoutePolicy(max_attempts_per_target=1)  # a 503 falls over at once


@pytest.fixture
def chain_with(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
) -> Any:
    @asynccontextmanager
    async def start(*, primary_requires_price: bool = False, **limits: Any) -> AsyncIterator[Chain]:
        primary, fallback = upstreams
        hops = [Hop("primary", primary, require_price=primary_requires_price), Hop("fallback", fallback)]
        async with serving_chain(
            hops,
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
            resilience=Resilience(sleep=RecordingSleep()),
            policy=ONE_TRY_PER_TARGET,
            **limits,
        ) as chain:
            yield chain

    return start


async def test_a_failed_attempt_before_a_fallback_has_its_own_usage_event(
    chain_with: Any, upstreams: tuple[ScriptedUpstream, ScriptedUpstream], nats_url: str, nats_prefix: str
) -> None:
    primary, _ = upstreams
    primary.script(UNAVAILABLE)
    async with chain_with() as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        assert response.status_code == 200
        assert (response.headers["x-waypost-target"], response.headers["x-waypost-attempts"]) == ("fallback", "2")
        request_id = response.headers["x-request-id"]
        events = await wait_for_events(nats_url, nats_prefix, 2)
    failed, served = events[f"{request_id}.1"], events[request_id]
    assert (failed.parent_request_id, failed.deployment, failed.status, failed.attempts) == (
        request_id,
        "primary",
        503,
        1,
    )
    assert failed.tokens.total == 0 and failed.cost_micro_usd == 0
    assert (served.parent_request_id, served.deployment, served.status, served.attempts) == (None, "fallback", 200, 2)
    assert served.tokens.total > 0


async def test_every_attempt_counts_against_the_requests_per_minute(
    chain_with: Any, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    primary.script(UNAVAILABLE)
    limit = RateLimitSpec(id="rl-1", scope="team", scope_id=TEAM_ID, requests_per_minute=2)
    async with chain_with(rate_limits=[limit]) as chain:
        first = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        assert first.status_code == 200
        assert first.headers["x-waypost-attempts"] == "2"
        # the fallback attempt's headers replaced the first attempt's: one set, counting both
        assert first.headers.get_list("x-ratelimit-remaining-requests") == ["0"]
        second = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert (len(primary.requests), len(fallback.requests)) == (1, 1)


async def test_a_target_that_refuses_unpriced_calls_is_skipped_for_the_next(
    chain_with: Any, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    async with chain_with(primary_requires_price=True) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.status_code == 200
    assert response.content == load_fixture("good.json")
    assert (response.headers["x-waypost-target"], response.headers["x-waypost-attempts"]) == ("fallback", "1")
    assert (len(primary.requests), len(fallback.requests)) == (0, 1)


def _budget(amount_micro_usd: int) -> BudgetSpec:
    # no control plane publishes spend here: `local_share` admits what fits in the amount on this replica alone
    return BudgetSpec(
        id="budget-1",
        name="team budget",
        scope="team",
        scope_id=TEAM_ID,
        amount_micro_usd=amount_micro_usd,
        period="lifetime",
        on_stale="local_share",
    )


# the primary's 2,000 reserved output tokens alone cost USD 2; the fallback's whole reservation costs 1 µ$
PRICES = [
    PriceSpec(id="price-dear", deployment_id="deployment-0", effective_from=0, input=10**9, output=10**9),
    PriceSpec(id="price-cheap", deployment_id="deployment-1", effective_from=0, input=1, output=1),
]


async def test_the_budget_admits_each_attempt_at_the_price_of_its_target(
    chain_with: Any, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    async with chain_with(prices=PRICES, budgets=[_budget(1_000_000)]) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.status_code == 200
    assert (response.headers["x-waypost-target"], response.headers["x-waypost-attempts"]) == ("fallback", "1")
    assert (len(primary.requests), len(fallback.requests)) == (0, 1)


async def test_when_no_target_fits_the_budget_the_refusal_names_it(
    chain_with: Any, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    async with chain_with(prices=PRICES, budgets=[_budget(0)]) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert "team budget" in response.json()["error"]["message"]
    assert (len(primary.requests), len(fallback.requests)) == (0, 0)


async def test_a_retry_the_rate_limit_refuses_ends_with_the_upstream_failure_it_followed(
    chain_with: Any, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    primary.script(UNAVAILABLE)
    limit = RateLimitSpec(id="rl-1", scope="team", scope_id=TEAM_ID, requests_per_minute=1)
    async with chain_with(rate_limits=[limit]) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.status_code == 503
    assert response.headers["x-waypost-attempts"] == "1"
    assert (len(primary.requests), len(fallback.requests)) == (1, 0)
