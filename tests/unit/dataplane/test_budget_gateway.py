"""Budgets through the data plane's request path, on a controlled clock: each answered request is priced at
settle (the mock provider's reported usage at the snapshot's price), its cost counts against the budget until the
ledger covers it, the refusal is a 429 naming the budget, and the budget resets at the period boundary."""

from __future__ import annotations

import json

import msgspec

from dataplane.app import create_app
from dataplane.runtime import Runtime
from dataplane.settings import DataPlaneSettings
from shared.periods import period_bounds
from shared.snapshot import BudgetSpec, PriceSpec
from shared.usage import BudgetSpend
from tests.conftest import TestSecrets
from tests.snapshot_factory import (
    DEPLOYMENT_ID,
    ROUTE_NAME,
    TEAM_ID,
    make_key,
    make_snapshot,
    sign_snapshot,
    write_disk_cache,
)
from tests.unit.dataplane.conftest import NOW, bearer, serve

INPUT_PER_TOKEN, OUTPUT_PER_TOKEN = 1, 3  # µ$: prices of 1 and 3 USD per million tokens
PRICE = PriceSpec(id="price-1", deployment_id=DEPLOYMENT_ID, effective_from=0, input=1_000_000, output=3_000_000)
BUDGET = BudgetSpec(
    id="budget-1", name="team daily", scope="team", scope_id=TEAM_ID, amount_micro_usd=400, period="daily"
)
MAX_TOKENS = 10


def _body() -> bytes:
    payload = {"model": ROUTE_NAME, "messages": [{"role": "user", "content": "hello"}], "max_tokens": MAX_TOKENS}
    return json.dumps(payload).encode()


def _reservation() -> int:
    # every reserved token (4 bytes of JSON each, plus the maximum output) at the dearest class price
    return (len(_body()) // 4 + MAX_TOKENS) * OUTPUT_PER_TOKEN


def _spend(now: float, spent: int = 0) -> BudgetSpend:
    start, _ = period_bounds("daily", "UTC", now)
    return BudgetSpend(
        budget_id=BUDGET.id, period_start=start, spent_micro_usd=spent, covers_stream_seq=0, computed_at=int(now * 1000)
    )


async def test_requests_are_priced_counted_refused_and_reset_at_midnight(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets
) -> None:
    key = make_key(test_secrets.secret_key)
    snapshot = msgspec.structs.replace(
        make_snapshot(test_secrets.secret_key, version=1, keys=[key.spec]), prices=[PRICE], budgets=[BUDGET]
    )
    write_disk_cache(dp_settings.cache_dir, sign_snapshot(snapshot, test_secrets.signing_key))
    clock = [NOW]
    app = create_app(dp_settings, clock=lambda: clock[0])
    async with serve(app) as client:
        runtime: Runtime = app.state.runtime
        runtime.budgets.on_spend(_spend(NOW))  # what the control plane would publish: nothing spent yet
        spent, admitted = 0, 0
        while True:
            reply = await client.post("/v1/chat/completions", content=_body(), headers=bearer(key))
            if reply.status_code != 200:
                break
            assert spent + _reservation() <= BUDGET.amount_micro_usd  # admitted only with room for the reservation
            usage = reply.json()["usage"]
            # NATS is down: the event is spooled, never covered, so its cost keeps counting locally
            spent += usage["prompt_tokens"] * INPUT_PER_TOKEN + usage["completion_tokens"] * OUTPUT_PER_TOKEN
            admitted += 1
        # refused exactly when the costs so far plus this reservation pass the amount
        assert admitted >= 2
        assert spent + _reservation() > BUDGET.amount_micro_usd
        assert reply.status_code == 429
        assert reply.headers["x-should-retry"] == "false"
        _, midnight = period_bounds("daily", "UTC", NOW)
        assert midnight is not None
        assert reply.headers["retry-after"] == str(int(midnight - NOW))
        error = reply.json()["error"]
        assert (error["type"], error["code"]) == ("insufficient_quota", "budget_exceeded")
        assert error["message"] == "Budget 'team daily' (budget-1) is exhausted for the current daily period."

        clock[0] = midnight + 1.0  # a new day; the control plane's first figure for it
        runtime.budgets.on_spend(_spend(clock[0]))
        assert (await client.post("/v1/chat/completions", content=_body(), headers=bearer(key))).status_code == 200
