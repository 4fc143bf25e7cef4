"""Routes carry a strategy (priority or weighted) and one weight per target; the snapshot ships them."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.snapshots.build import build_snapshot
from tests.integration.controlplane.conftest import Refs, created


async def _second_deployment(client: httpx.AsyncClient, refs: Refs) -> str:
    body = {"name": "mock-large", "provider_id": refs["provider"], "model": "mock-2"}
    return str((await created(client, "deployments", body))["id"])


async def test_a_weighted_route_is_created_changed_and_shipped(
    client: httpx.AsyncClient, refs: Refs, database_url: str
) -> None:
    other = await _second_deployment(client, refs)
    route = await created(
        client,
        "routes",
        {"name": "ab", "targets": [refs["deployment"], other], "strategy": "weighted", "weights": [9, 1]},
    )
    assert (route["strategy"], route["weights"]) == ("weighted", [9, 1])

    reweighted = await client.patch(f"/api/v1/routes/{route['id']}", json={"weights": [1, 1]})
    assert reweighted.json()["weights"] == [1, 1]
    reordered = await client.patch(f"/api/v1/routes/{route['id']}", json={"targets": [other, refs["deployment"]]})
    assert reordered.json()["weights"] == [1, 1] and reordered.json()["targets"] == [other, refs["deployment"]]
    await client.patch(f"/api/v1/routes/{route['id']}", json={"weights": [3, 2]})

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            snapshot = await build_snapshot(session, now=datetime.now(UTC))
    finally:
        await engine.dispose()
    [spec] = [r for r in snapshot.routes if r.name == "ab"]
    assert (spec.strategy, spec.deployment_ids, spec.weights) == ("weighted", [other, refs["deployment"]], [3, 2])


async def test_a_priority_route_defaults_and_ships_no_weights(client: httpx.AsyncClient, refs: Refs) -> None:
    route = await created(client, "routes", {"name": "plain", "targets": [refs["deployment"]]})
    assert (route["strategy"], route["weights"]) == ("priority", [1])


async def test_bad_strategies_and_weights_are_422(client: httpx.AsyncClient, refs: Refs) -> None:
    other = await _second_deployment(client, refs)
    targets = [refs["deployment"], other]
    for body, path in (
        ({"name": "x", "targets": targets, "strategy": "fastest"}, "$.strategy"),
        ({"name": "x", "targets": targets, "strategy": "weighted", "weights": [1]}, "$.weights"),
        ({"name": "x", "targets": targets, "strategy": "weighted", "weights": [1, 0]}, "$.weights[1]"),
    ):
        response = await client.post("/api/v1/routes", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["errors"][0]["path"] == path
    route = await created(client, "routes", {"name": "y", "targets": targets})
    mismatch = await client.patch(f"/api/v1/routes/{route['id']}", json={"weights": [1, 2, 3]})
    assert mismatch.status_code == 422
