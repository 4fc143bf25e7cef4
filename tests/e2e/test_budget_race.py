"""The budget race (issue 3): a USD 1 budget, 50 concurrent requests (half streaming) across 3 data-plane processes
behind one control plane, on PostgreSQL and NATS, with a fake OpenAI upstream whose reported usage makes each
request cost a known amount. Admitted spend stays within the budget plus the bound README "Prices and budgets"
derives, and each refusal is a 429 naming the budget with `x-should-retry: false`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.gateway import Gateway, poll
from tests.fakes.openai_provider import FakeOpenAIProvider

ROUTE = "budgeted-chat"
BUDGET_MICRO_USD = 1_000_000  # USD 1
PRICE_PER_MILLION = 2_000_000_000  # USD 2000 per million tokens = 2000 µ$ a token, every class
MICRO_USD_PER_TOKEN = PRICE_PER_MILLION // 1_000_000
# what the fake upstream reports: good.json 19 prompt + 10 completion tokens, stream.sse 10 + 5
COST_PLAIN = (19 + 10) * MICRO_USD_PER_TOKEN  # 58000 µ$
COST_STREAM = (10 + 5) * MICRO_USD_PER_TOKEN  # 30000 µ$
MAX_TOKENS = 10
REQUESTS = 50


@pytest.fixture(scope="module")
def dataplane_count() -> int:
    return 3


def _body(*, stream: bool, max_tokens: int = MAX_TOKENS) -> bytes:
    payload = {"model": ROUTE, "messages": [{"role": "user", "content": "hi"}], "max_tokens": max_tokens}
    if stream:
        payload["stream"] = True
    return json.dumps(payload).encode()


def _reservation(body: bytes, max_tokens: int = MAX_TOKENS) -> int:
    """dataplane.estimate: 4 bytes of JSON a token, plus the maximum output; every token at the dearest price."""
    return (len(body) // 4 + max_tokens) * MICRO_USD_PER_TOKEN


@pytest.fixture(scope="module")
def budgeted(gateway: Gateway, upstream: FakeOpenAIProvider) -> Iterator[tuple[str, dict[str, object]]]:
    team = gateway.create("teams", {"name": "budget-race"})
    provider = gateway.create(
        "providers",
        {
            "name": "fake-openai",
            "kind": "openai_compatible",
            "base_url": upstream.base_url,
            "credentials": {"api_key": upstream.api_key},
        },
    )
    deployment = gateway.create("deployments", {"name": "fake-gpt", "provider_id": provider["id"], "model": "gpt"})
    gateway.create(
        "prices",
        {
            "deployment_id": deployment["id"],
            "effective_from": "2020-01-01T00:00:00Z",
            "input": PRICE_PER_MILLION,
            "output": PRICE_PER_MILLION,
        },
    )
    gateway.create("routes", {"name": ROUTE, "targets": [deployment["id"]]})
    budget = gateway.create(
        "budgets",
        {
            "name": "race team daily",
            "scope": "team",
            "scope_id": team["id"],
            "amount_micro_usd": BUDGET_MICRO_USD,
            "period": "daily",
        },
    )
    key = gateway.create("keys", {"name": "racer", "team_id": team["id"], "environment": "dev"})
    gateway.wait_until_key_works(key["key"])
    yield str(key["key"]), budget


def _spend_known_everywhere(gateway: Gateway, key: str) -> None:
    """Wait until each replica holds the budget's spend: a request whose reservation alone exceeds the budget is
    refused as exhausted (not as stale) once it does. Such probes cost nothing."""
    body = _body(stream=False, max_tokens=1_000)
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    for url in gateway.dataplane_urls:

        def exhausted(url: str = url) -> bool:
            reply = httpx.post(f"{url}/v1/chat/completions", content=body, headers=headers)
            return reply.status_code == 429 and "exhausted" in reply.json()["error"]["message"]

        poll(exhausted, timeout=20, interval=0.2)


async def _race(gateway: Gateway, key: str) -> list[tuple[bool, httpx.Response]]:
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(index: int) -> tuple[bool, httpx.Response]:
            stream = index % 2 == 1
            url = gateway.dataplane_urls[index % len(gateway.dataplane_urls)]
            reply = await client.post(f"{url}/v1/chat/completions", content=_body(stream=stream), headers=headers)
            return stream, reply

        return await asyncio.gather(*(one(i) for i in range(REQUESTS)))


def test_concurrent_requests_across_three_replicas_stay_within_the_budget(
    gateway: Gateway, budgeted: tuple[str, dict[str, object]]
) -> None:
    key, budget = budgeted
    team_id = str(budget["scope_id"])
    _spend_known_everywhere(gateway, key)
    replicas = len(gateway.dataplane_urls)
    largest_reservation = max(_reservation(_body(stream=s)) for s in (False, True))
    assert largest_reservation >= COST_PLAIN  # the bound below needs reservations that cover the actual cost
    bound = (replicas - 1) * largest_reservation

    admitted_spend = 0
    refusals: list[httpx.Response] = []
    admitted = 0
    for _round in range(4):  # the first round races; later ones spend what the ledger has caught up with
        for stream, reply in asyncio.run(_race(gateway, key)):
            if reply.status_code == 200:
                admitted += 1
                admitted_spend += COST_STREAM if stream else COST_PLAIN
            else:
                refusals.append(reply)
        asyncio.run(asyncio.sleep(2.5))  # let the ledger cover this round (publisher: about once a second)

    print(
        f"budget race: {admitted} of {4 * REQUESTS} requests admitted over 4 rounds, admitted spend "
        f"{admitted_spend} µ$ of {BUDGET_MICRO_USD} (bound {BUDGET_MICRO_USD + bound})"
    )
    assert admitted > 0 and refusals

    # the ledger agrees: every admitted request was priced on the data plane and ingested exactly once
    def ledger_cost() -> int:
        report = gateway.admin.get("/usage", params={"team_id": team_id}).json()
        return int(report["totals"]["cost_micro_usd"])

    poll(lambda: ledger_cost() == admitted_spend, timeout=20, interval=0.2)
    assert admitted_spend <= BUDGET_MICRO_USD + bound
    for reply in refusals:
        assert reply.status_code == 429, reply.text
        assert reply.headers["x-should-retry"] == "false"
        assert reply.headers["x-waypost-budget-id"] == budget["id"]
        assert int(reply.headers["retry-after"]) >= 1
        error = reply.json()["error"]
        assert error["code"] == "budget_exceeded"
        assert f"'race team daily' ({budget['id']})" in error["message"]
