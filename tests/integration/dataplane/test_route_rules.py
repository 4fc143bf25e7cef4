"""Conditional routing and per-route retry policies, over two scripted upstreams and a route published over
NATS: the caller's metadata header, the key's metadata and the request's params pick the targets; a route's
policy narrows retries and fall-overs; a provider's content-policy refusal falls over to another target."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import msgspec
import pytest

from dataplane.runtime import Resilience
from dataplane.settings import DataPlaneSettings
from shared.route_policy import Condition, RoutePolicy, RouteRule
from shared.snapshot import PriceSpec
from tests.conftest import TestSecrets
from tests.fakes.scripted_upstream import Reply, ScriptedUpstream, content_policy_violation_body
from tests.integration.dataplane.chains import Chain, ChainFactory, Hop, RecordingSleep, serving_chain

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello!"}]}
TO_SECOND = ["deployment-1"]  # the fallback hop's deployment: a matching rule sends the request there first


@pytest.fixture
def chain_with(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
) -> ChainFactory:
    @asynccontextmanager
    async def start(
        *,
        rules: list[RouteRule] | None = None,
        policy: RoutePolicy | None = None,
        strategy: str = "priority",
        prices: list[PriceSpec] | None = None,
    ) -> AsyncIterator[Chain]:
        primary, fallback = upstreams
        async with serving_chain(
            [Hop("primary", primary), Hop("fallback", fallback)],
            settings=dp_settings,
            test_secrets=test_secrets,
            nats_url=nats_url,
            nats_prefix=nats_prefix,
            resilience=Resilience(sleep=RecordingSleep()),
            rules=rules,
            policy=policy,
            strategy=strategy,
            prices=prices,
        ) as chain:
            yield chain

    return start


def rule(when: Mapping[str, object]) -> RouteRule:
    return RouteRule(when=msgspec.convert(when, Condition), deployment_ids=TO_SECOND)


async def test_a_rule_on_the_callers_metadata_header_picks_its_targets(chain_with: ChainFactory) -> None:
    tier_rule = rule({"and": [{"field": "metadata.tier", "eq": "gold"}, {"field": "metadata.region", "in": ["eu"]}]})
    async with chain_with(rules=[tier_rule]) as chain:
        gold = {**chain.auth, "x-waypost-metadata": '{"tier": "gold", "region": "eu"}'}
        matched = await chain.client.post("/v1/chat/completions", headers=gold, json=CHAT)
        other = {**chain.auth, "x-waypost-metadata": '{"tier": "gold", "region": "us"}'}
        unmatched = await chain.client.post("/v1/chat/completions", headers=other, json=CHAT)
        without = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert matched.status_code == 200 and matched.headers["x-waypost-target"] == "fallback"
    assert unmatched.headers["x-waypost-target"] == "primary"
    assert without.headers["x-waypost-target"] == "primary"


async def test_rules_read_request_params_with_or_and_regex(chain_with: ChainFactory) -> None:
    when = {"or": [{"field": "params.user", "regex": "batch-[0-9]+"}, {"field": "params.temperature", "eq": 0}]}
    async with chain_with(rules=[rule(when)]) as chain:
        batch = await chain.client.post("/v1/chat/completions", headers=chain.auth, json={**CHAT, "user": "batch-42"})
        partial = await chain.client.post(
            "/v1/chat/completions", headers=chain.auth, json={**CHAT, "user": "xbatch-42"}
        )
        cold = await chain.client.post("/v1/chat/completions", headers=chain.auth, json={**CHAT, "temperature": 0.0})
        warm = await chain.client.post("/v1/chat/completions", headers=chain.auth, json={**CHAT, "temperature": 1})
    assert batch.headers["x-waypost-target"] == "fallback"
    assert partial.headers["x-waypost-target"] == "primary"  # a regex matches the whole value
    assert cold.headers["x-waypost-target"] == "fallback"  # 0 == 0.0 in JSON
    assert warm.headers["x-waypost-target"] == "primary"


async def test_a_rule_on_the_keys_environment_and_team(chain_with: ChainFactory) -> None:
    when = {"and": [{"field": "environment", "eq": "dev"}, {"field": "team", "regex": "Team .*"}]}
    async with chain_with(rules=[rule(when)]) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.headers["x-waypost-target"] == "fallback"


async def test_a_malformed_metadata_header_is_a_400_naming_it(chain_with: ChainFactory) -> None:
    async with chain_with(rules=[rule({"field": "metadata.tier", "eq": "gold"})]) as chain:
        for bad in ("not json", '["a list"]', '{"nested": {"no": 1}}'):
            headers = {**chain.auth, "x-waypost-metadata": bad}
            response = await chain.client.post("/v1/chat/completions", headers=headers, json=CHAT)
            assert response.status_code == 400, bad
            assert response.json()["error"]["param"] == "x-waypost-metadata"


async def test_a_content_policy_refusal_falls_over_to_another_target(
    chain_with: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    primary.script(Reply(status=400, body=content_policy_violation_body()))
    async with chain_with() as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.status_code == 200
    assert response.headers["x-waypost-target"] == "fallback"
    assert (len(primary.requests), len(fallback.requests)) == (1, 1)


async def test_a_route_policy_caps_attempts_and_narrows_fall_over(
    chain_with: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    primary.script(*[Reply(status=503, fixture="server_error.json")] * 4)
    policy = RoutePolicy(max_attempts_per_target=2, fall_over_on=["connect", "timeout"])
    async with chain_with(policy=policy) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    # retried once on the same target, then no fall-over: a 5xx is not a class this route falls over on
    assert response.status_code == 503
    assert (len(primary.requests), len(fallback.requests)) == (2, 0)


async def test_a_route_policy_with_one_attempt_per_request_makes_one_call(
    chain_with: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    primary.script(Reply(status=503, fixture="server_error.json"))
    async with chain_with(policy=RoutePolicy(max_attempts_per_request=1)) as chain:
        response = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    assert response.status_code == 503
    assert response.headers["x-waypost-attempts"] == "1"
    assert (len(primary.requests), len(fallback.requests)) == (1, 0)


async def test_a_lowest_cost_route_tries_the_cheapest_priced_target_first(
    chain_with: ChainFactory, upstreams: tuple[ScriptedUpstream, ScriptedUpstream]
) -> None:
    primary, fallback = upstreams
    prices = [
        PriceSpec(id="p-dear", deployment_id="deployment-0", effective_from=0, input=5_000_000, output=15_000_000),
        PriceSpec(id="p-old", deployment_id="deployment-1", effective_from=0, input=9_000_000, output=30_000_000),
        # in effect now: the second target became the cheaper one
        PriceSpec(id="p-cut", deployment_id="deployment-1", effective_from=1_000, input=150_000, output=600_000),
    ]
    fallback.script(Reply(status=503, fixture="server_error.json"), Reply(status=503, fixture="server_error.json"))
    async with chain_with(
        strategy="lowest_cost", prices=prices, policy=RoutePolicy(max_attempts_per_target=1)
    ) as chain:
        first = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
        second = await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)
    # the cheap target is tried first, and when it fails the dearer one still serves as the fallback
    assert first.status_code == 200 and first.headers["x-waypost-target"] == "primary"
    assert [len(primary.requests), len(fallback.requests)] == [2, 2]
    assert second.headers["x-waypost-attempts"] == "2"
