"""/api/v1/prices and /api/v1/budgets: validated (deployments, scopes, routes and time zones must exist), unpriced
deployments listed, and everything shipped in the snapshot (with each deployment's require_price policy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.snapshots.build import build_snapshot
from shared.snapshot import BudgetSpec, PriceSpec, Snapshot
from tests.integration.controlplane.conftest import Database, Refs, created


async def _snapshot(database_url: str) -> Snapshot:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return await build_snapshot(session, now=datetime.now(UTC))
    finally:
        await engine.dispose()


def _error_paths(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [item["path"] for item in response.json()["error"]["errors"]]


def _price(deployment_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "deployment_id": deployment_id,
        "effective_from": "2026-01-01T00:00:00Z",
        "input": 2_500_000,
        "output": 10_000_000,
        **fields,
    }


async def test_prices_are_effective_dated_and_shipped(
    client: httpx.AsyncClient, refs: Refs, database_url: str, db: Database
) -> None:
    revision = await db.revision()
    price = await created(client, "prices", _price(refs["deployment"], cached_input=1_250_000, reasoning=12_000_000))
    assert await db.revision() == revision + 1  # prices are config
    assert (price["input"], price["cached_input"], price["cache_write"]) == (2_500_000, 1_250_000, None)
    assert price["effective_from"] == "2026-01-01T00:00:00Z"
    later = await created(client, "prices", _price(refs["deployment"], effective_from="2027-01-01T01:00:00+01:00"))
    snapshot = await _snapshot(database_url)
    assert snapshot.prices == [
        PriceSpec(
            id=price["id"],
            deployment_id=refs["deployment"],
            effective_from=int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()),
            input=2_500_000,
            output=10_000_000,
            cached_input=1_250_000,
            reasoning=12_000_000,
        ),
        PriceSpec(
            id=later["id"],
            deployment_id=refs["deployment"],
            effective_from=int(datetime(2027, 1, 1, tzinfo=UTC).timestamp()),
            input=2_500_000,
            output=10_000_000,
        ),
    ]
    patched = await client.patch(f"/api/v1/prices/{later['id']}", json={"cache_write": 3_000_000})
    assert patched.status_code == 200 and patched.json()["cache_write"] == 3_000_000


async def test_bad_prices_are_refused(client: httpx.AsyncClient, refs: Refs) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert _error_paths(await client.post("/api/v1/prices", json=_price(unknown))) == ["$.deployment_id"]
    assert _error_paths(await client.post("/api/v1/prices", json=_price(refs["deployment"], input=-1))) == ["$.input"]
    assert _error_paths(await client.post("/api/v1/prices", json=_price(refs["deployment"], output="1.5"))) == [
        "$.output"
    ]
    naive = _price(refs["deployment"], effective_from="2026-01-01T00:00:00")
    assert _error_paths(await client.post("/api/v1/prices", json=naive)) == ["$.effective_from"]


async def test_unpriced_deployments_are_listed_with_their_policy(
    client: httpx.AsyncClient, refs: Refs, database_url: str
) -> None:
    strict = await created(
        client,
        "deployments",
        {"name": "strict", "provider_id": refs["provider"], "model": "m", "require_price": True},
    )
    assert strict["require_price"] is True
    listed = (await client.get("/api/v1/prices/unpriced")).json()["data"]
    assert [(d["name"], d["require_price"], d["next_price_from"]) for d in listed] == [
        ("mock-small", False, None),
        ("strict", True, None),
    ]
    await created(client, "prices", _price(refs["deployment"]))
    future = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    await created(client, "prices", _price(strict["id"], effective_from=future.isoformat()))
    listed = (await client.get("/api/v1/prices/unpriced")).json()["data"]
    assert [(d["name"], d["next_price_from"]) for d in listed] == [
        ("strict", future.isoformat().replace("+00:00", "Z"))
    ]
    snapshot = await _snapshot(database_url)
    assert {d.name: d.require_price for d in snapshot.deployments} == {"mock-small": False, "strict": True}


async def test_unpriced_deployments_are_a_prometheus_metric(client: httpx.AsyncClient, refs: Refs) -> None:
    await created(client, "deployments", {"name": "strict", "provider_id": refs["provider"], "model": "m"})
    before = await client.get("/api/v1/metrics")
    assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
    assert "waypost_deployments_unpriced 2.0" in before.text
    assert 'waypost_deployment_unpriced{deployment="mock-small",require_price="false"} 1.0' in before.text
    await created(client, "prices", _price(refs["deployment"]))
    after = (await client.get("/api/v1/metrics")).text
    assert "waypost_deployments_unpriced 1.0" in after
    assert 'deployment="mock-small"' not in after and 'deployment="strict"' in after


async def test_budgets_on_every_scope_are_validated_and_shipped(
    client: httpx.AsyncClient, refs: Refs, database_url: str
) -> None:
    key = await created(client, "keys", {"name": "k", "team_id": refs["team"], "environment": "dev"})
    await created(client, "routes", {"name": "chat", "targets": [refs["deployment"]]})
    scopes = {
        "key": key["id"],
        "user": refs["user"],
        "application": refs["application"],
        "team": refs["team"],
        "environment": "prod",
        "organization": None,
    }
    made = {}
    for scope, scope_id in scopes.items():
        body = {"name": f"{scope} monthly", "scope": scope, "scope_id": scope_id, "amount_micro_usd": 5_000_000}
        made[scope] = await created(client, "budgets", {**body, "period": "monthly"})
    narrowed = await created(
        client,
        "budgets",
        {
            "name": "team chat daily",
            "scope": "team",
            "scope_id": refs["team"],
            "model": "chat",
            "amount_micro_usd": 1_000_000,
            "period": "daily",
            "timezone": "Europe/Paris",
            "hard": False,
            "on_stale": "local_share",
            "alert_thresholds": [90, 50, 90],
        },
    )
    assert narrowed["alert_thresholds"] == [50, 90]
    snapshot = await _snapshot(database_url)
    shipped = {b.id: b for b in snapshot.budgets}
    assert shipped[made["environment"]["id"]].scope_id == "prod"
    assert shipped[made["organization"]["id"]].scope_id is None
    assert shipped[narrowed["id"]] == BudgetSpec(
        id=narrowed["id"],
        name="team chat daily",
        scope="team",
        scope_id=refs["team"],
        amount_micro_usd=1_000_000,
        period="daily",
        model="chat",
        timezone="Europe/Paris",
        hard=False,
        on_stale="local_share",
        alert_thresholds=[50, 90],
    )
    patched = await client.patch(f"/api/v1/budgets/{narrowed['id']}", json={"amount_micro_usd": 2_000_000})
    assert patched.status_code == 200 and patched.json()["amount_micro_usd"] == 2_000_000


async def test_bad_budgets_are_refused(client: httpx.AsyncClient, refs: Refs) -> None:
    base = {"name": "b", "scope": "team", "scope_id": refs["team"], "amount_micro_usd": 1, "period": "daily"}
    unknown = "00000000-0000-4000-8000-000000000000"
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"scope_id": unknown}, ["$.scope_id"]),
        ({"scope": "environment", "scope_id": "nope"}, ["$.scope_id"]),
        ({"scope": "user", "scope_id": None}, ["$.scope_id"]),
        ({"scope": "organization"}, ["$.scope_id"]),  # an organization budget names no id
        ({"scope": "planet"}, ["$.scope"]),
        ({"model": "no-such-route"}, ["$.model"]),
        ({"timezone": "Mars/Olympus"}, ["$.timezone"]),
        ({"timezone": "../../etc/passwd"}, ["$.timezone"]),
        ({"period": "hourly"}, ["$.period"]),
        ({"on_stale": "maybe"}, ["$.on_stale"]),
        ({"amount_micro_usd": 0}, ["$.amount_micro_usd"]),
        ({"amount_micro_usd": "1.00"}, ["$.amount_micro_usd"]),
        ({"alert_thresholds": [0]}, ["$.alert_thresholds[0]"]),
    ]
    for change, paths in cases:
        assert _error_paths(await client.post("/api/v1/budgets", json={**base, **change})) == paths, change
    made = await created(client, "budgets", base)
    bad_zone = await client.patch(f"/api/v1/budgets/{made['id']}", json={"timezone": "Nowhere/Land"})
    assert _error_paths(bad_zone) == ["$.timezone"]
