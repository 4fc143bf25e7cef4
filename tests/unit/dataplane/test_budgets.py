"""The budget gate: the admission arithmetic, the hierarchy of budgets (all must pass, the most restrictive names
the refusal), settlement, the stream position that keeps local and ledger counts apart, stale spend, period reset."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from dataplane.budgets import BudgetAdmission, BudgetGate, has_room
from dataplane.errors import BudgetExceededError, DeploymentUnpricedError
from dataplane.observability import RequestRecord
from shared.periods import period_bounds
from shared.snapshot import BudgetSpec, DeploymentSpec, KeySpec, PriceSpec, RouteSpec, Snapshot
from shared.usage import BudgetSpend, UsageEvent

NOW = 1_795_000_000.0  # 2026-11-18, a Wednesday
# every token of a reservation is priced at 1 USD per million: 1 µ$ per token
PRICE = PriceSpec(id="price-1", deployment_id="dep-1", effective_from=0, input=1_000_000, output=1_000_000)
ROUTE = RouteSpec(id="route-1", name="gpt", deployment_ids=["dep-1"])
KEY = KeySpec(
    id="key-1", public_id="pub1", secret_hash="0" * 64, environment="prod", team_id="team-1", user_id="user-1"
)
_ids = itertools.count()


def _budget(scope: str, scope_id: str | None, amount: int, *, period: str = "daily", **fields: Any) -> BudgetSpec:
    return BudgetSpec(
        id=f"b-{scope}-{amount}",
        name=f"{scope} budget",
        scope=scope,
        scope_id=scope_id,
        amount_micro_usd=amount,
        period=period,
        **fields,
    )


def _snapshot(*budgets: BudgetSpec, require_price: bool = False, prices: list[PriceSpec] | None = None) -> Snapshot:
    return Snapshot(
        version=1,
        created_at=0,
        deployments=[DeploymentSpec(id="dep-1", name="d", provider_id="p", model="m", require_price=require_price)],
        routes=[ROUTE],
        prices=[PRICE] if prices is None else prices,
        budgets=list(budgets),
    )


def _record() -> RequestRecord:
    return RequestRecord(request_id=f"req-{next(_ids)}", method="POST", path="/v1/chat/completions", started=0.0)


def _spend(budget: BudgetSpec, spent: int, covers: int, *, now: float = NOW) -> BudgetSpend:
    start, _ = period_bounds(budget.period, budget.timezone, now)
    return BudgetSpend(
        budget_id=budget.id,
        period_start=start,
        spent_micro_usd=spent,
        covers_stream_seq=covers,
        computed_at=int(now * 1000),
    )


def _admit(gate: BudgetGate, snapshot: Snapshot, tokens: int, *, now: float = NOW) -> BudgetAdmission | None:
    return gate.admit(snapshot=snapshot, key=KEY, route=ROUTE, deployment_id="dep-1", reserved_tokens=tokens, now=now)


def _settle(admission: BudgetAdmission | None, cost: int) -> RequestRecord:
    assert admission is not None
    record = _record()
    record.cost_micro_usd = cost
    admission.settle(record)
    return record


def _event(record: RequestRecord) -> UsageEvent:
    return UsageEvent(
        request_id=record.request_id, time=0, instance="i", config_version=1, method="POST", path="/", status=200
    )


@pytest.mark.parametrize(
    ("amount", "spent", "local", "reservation", "replicas", "admitted"),
    [
        (1000, 0, 0, 1000, 1, True),  # exactly the amount
        (1000, 0, 0, 1001, 1, False),
        (1000, 600, 300, 100, 1, True),  # G + L + r = A
        (1000, 600, 300, 101, 1, False),
        (1000, 0, 200, 100, 3, True),  # L + r = 300 ≤ 333: within this replica's share
        (1000, 0, 300, 100, 3, False),  # L + r = 400 > 333: beyond its share although G + L + r ≤ A
        (1000, 0, 0, 900, 3, True),  # a replica with nothing uncovered may take one request beyond its share
        (1000, 950, 0, 100, 3, False),  # ... but never beyond the amount
    ],
)
def test_admission_rule(amount: int, spent: int, local: int, reservation: int, replicas: int, admitted: bool) -> None:
    assert has_room(amount=amount, spent=spent, local=local, reservation=reservation, replicas=replicas) is admitted


def test_in_flight_reservations_count_until_settled_then_the_actual_cost_does() -> None:
    budget = _budget("team", "team-1", 1000)
    snapshot, gate = _snapshot(budget), BudgetGate()
    gate.on_spend(_spend(budget, 0, covers=0))
    first = _admit(gate, snapshot, 600)  # reserves 600 µ$
    with pytest.raises(BudgetExceededError):
        _admit(gate, snapshot, 600)  # 600 in flight + 600 > 1000
    _settle(first, 100)  # it cost only 100
    assert _admit(gate, snapshot, 600) is not None  # 100 + 600 ≤ 1000


def test_cost_leaves_the_local_count_once_the_ledger_covers_its_stream_position() -> None:
    budget = _budget("team", "team-1", 1000)
    snapshot, gate = _snapshot(budget), BudgetGate()
    gate.on_spend(_spend(budget, 0, covers=10))
    record = _settle(_admit(gate, snapshot, 500), 500)
    gate.on_published(_event(record), 11)
    # the ledger does not cover seq 11 yet: 500 local + 600 > 1000
    with pytest.raises(BudgetExceededError):
        _admit(gate, snapshot, 600)
    # now it does, and its 500 are in the spend: counted once, not twice
    gate.on_spend(_spend(budget, 500, covers=11))
    _settle(_admit(gate, snapshot, 500), 0)
    with pytest.raises(BudgetExceededError):
        _admit(gate, snapshot, 501)


def test_unpublished_cost_counts_until_published_and_covered() -> None:
    budget = _budget("team", "team-1", 1000)
    snapshot, gate = _snapshot(budget), BudgetGate()
    gate.on_spend(_spend(budget, 0, covers=100))
    _settle(_admit(gate, snapshot, 800), 800)  # spooled: never published
    gate.on_spend(_spend(budget, 0, covers=200))  # the ledger moved on, without that event
    with pytest.raises(BudgetExceededError):
        _admit(gate, snapshot, 300)


# key, user, team and environment budgets together: every one must pass and the tightest one names the refusal
HIERARCHY = [
    _budget("key", "key-1", 5_000),
    _budget("user", "user-1", 3_000),
    _budget("team", "team-1", 10_000),
    _budget("environment", "prod", 20_000),
]


@pytest.mark.parametrize(
    ("spent", "tokens", "refused_by"),
    [
        ({}, 2_000, None),
        ({}, 3_500, "b-user-3000"),  # over the user's 3000 only
        ({"b-key-5000": 4_000}, 1_500, "b-key-5000"),  # the key has 1000 left, the user 3000
        ({"b-team-10000": 9_900, "b-key-5000": 4_500}, 1_000, "b-team-10000"),  # team: -900 after, key: -500
        ({"b-environment-20000": 19_999}, 2, "b-environment-20000"),
        ({"b-user-3000": 2_999, "b-team-10000": 10_000}, 1, "b-team-10000"),  # team already full: tightest
    ],
)
def test_hierarchy_the_most_restrictive_budget_wins_and_is_named(
    spent: dict[str, int], tokens: int, refused_by: str | None
) -> None:
    gate = BudgetGate()
    for budget in HIERARCHY:
        gate.on_spend(_spend(budget, spent.get(budget.id, 0), covers=0))
    other_team = _budget("team", "team-2", 1)  # does not apply to this key
    snapshot = _snapshot(*HIERARCHY, other_team)
    if refused_by is None:
        assert _admit(gate, snapshot, tokens) is not None
        return
    with pytest.raises(BudgetExceededError) as refusal:
        _admit(gate, snapshot, tokens)
    named = next(b for b in HIERARCHY if b.id == refused_by)
    assert refusal.value.budget_id == named.id
    assert f"'{named.name}' ({named.id})" in refusal.value.message
    assert refusal.value.status == 429
    assert refusal.value.headers()["x-should-retry"] == "false"


def test_a_budget_narrowed_to_a_route_ignores_other_routes() -> None:
    budget = _budget("team", "team-1", 10, model="other-route")
    gate = BudgetGate()
    gate.on_spend(_spend(budget, 10, covers=0))
    assert _admit(gate, _snapshot(budget), 1000) is None  # no matching budget: nothing reserved


def test_soft_budgets_never_refuse() -> None:
    budget = _budget("team", "team-1", 10, hard=False)
    gate = BudgetGate()
    gate.on_spend(_spend(budget, 10_000, covers=0))
    assert _admit(gate, _snapshot(budget), 1000) is None


def test_the_refusal_says_to_retry_at_the_period_boundary_and_the_budget_resets_there() -> None:
    budget = _budget("team", "team-1", 1000, period="daily", timezone="Europe/Paris")
    snapshot, gate = _snapshot(budget), BudgetGate()
    _, end = period_bounds("daily", "Europe/Paris", NOW)
    assert end is not None
    before = end - 10.5  # 10.5 s before local midnight
    gate.on_spend(_spend(budget, 1000, covers=5, now=before))
    with pytest.raises(BudgetExceededError) as refusal:
        _admit(gate, snapshot, 1, now=before)
    assert refusal.value.headers()["retry-after"] == "11"
    # past the boundary the old period's spend no longer counts, even before the ledger has published a new one
    after = end + 1.0
    _settle(_admit(gate, snapshot, 1000, now=after), 0)
    # and the control plane's first figure for the new period is what counts from then on
    gate.on_spend(_spend(budget, 999, covers=6, now=after))
    with pytest.raises(BudgetExceededError):
        _admit(gate, snapshot, 2, now=after)
    assert _admit(gate, snapshot, 1, now=after) is not None


def test_a_lifetime_refusal_has_no_retry_after() -> None:
    budget = _budget("key", "key-1", 10, period="lifetime")
    gate = BudgetGate()
    gate.on_spend(_spend(budget, 10, covers=0))
    with pytest.raises(BudgetExceededError) as refusal:
        _admit(gate, _snapshot(budget), 1)
    assert "retry-after" not in refusal.value.headers()


@pytest.mark.parametrize(
    ("policy", "spent", "tokens", "admitted"),
    [
        ("closed", 0, 1, False),
        ("open", 0, 10_000, True),
        ("local_share", 0, 333, True),  # a third of the amount
        ("local_share", 0, 334, False),
        ("local_share", 400, 200, True),  # a third of what was left when last known
        ("local_share", 400, 201, False),
    ],
)
def test_stale_spend_follows_the_budgets_policy(policy: str, spent: int, tokens: int, admitted: bool) -> None:
    budget = _budget("team", "team-1", 1000, on_stale=policy)
    gate = BudgetGate()
    gate.replicas = 3
    gate.on_spend(_spend(budget, spent, covers=0, now=NOW - 61))  # 61 s old
    snapshot = _snapshot(budget)
    if admitted:
        assert _admit(gate, snapshot, tokens) is not None
    else:
        with pytest.raises(BudgetExceededError):
            _admit(gate, snapshot, tokens)


def test_spend_never_received_is_stale() -> None:
    budget = _budget("team", "team-1", 1000)  # on_stale closed
    with pytest.raises(BudgetExceededError, match="stale"):
        _admit(BudgetGate(), _snapshot(budget), 1)


def test_an_unpriced_deployment_is_refused_only_when_its_policy_says_so() -> None:
    gate = BudgetGate()
    assert _admit(gate, _snapshot(prices=[]), 10) is None
    with pytest.raises(DeploymentUnpricedError):
        _admit(gate, _snapshot(prices=[], require_price=True), 10)
    assert _admit(gate, _snapshot(require_price=True), 10) is None


def test_settling_twice_releases_once() -> None:
    budget = _budget("team", "team-1", 1000)
    snapshot, gate = _snapshot(budget), BudgetGate()
    gate.on_spend(_spend(budget, 0, covers=0))
    admission = _admit(gate, snapshot, 1000)
    record = _settle(admission, 0)
    assert admission is not None
    admission.settle(record)
    assert _admit(gate, snapshot, 1000) is not None
    with pytest.raises(BudgetExceededError):
        _admit(gate, snapshot, 1)
