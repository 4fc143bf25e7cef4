"""Routes carry conditional rules and a retry policy; the admin API checks conditions (forms, fields, RE2 syntax)
and references, a deployment a rule uses cannot be deleted, and the snapshot ships both."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.snapshots.build import build_snapshot
from shared.route_policy import Condition, RoutePolicy, RouteRule
from tests.integration.controlplane.conftest import Refs, created

GOLD = {"or": [{"field": "metadata.tier", "eq": "gold"}, {"field": "key.metadata.plan", "in": ["pro", "team"]}]}


async def _second_deployment(client: httpx.AsyncClient, refs: Refs) -> str:
    body = {"name": "mock-large", "provider_id": refs["provider"], "model": "mock-2"}
    return str((await created(client, "deployments", body))["id"])


async def test_rules_and_policy_are_stored_read_back_and_shipped(
    client: httpx.AsyncClient, refs: Refs, database_url: str
) -> None:
    large = await _second_deployment(client, refs)
    body = {
        "name": "smart",
        "targets": [refs["deployment"]],
        "rules": [{"when": GOLD, "targets": [large, refs["deployment"]]}],
        "policy": {"max_attempts_per_request": 2, "fall_over_on": ["timeout", "content_policy"]},
    }
    route = await created(client, "routes", body)
    assert route["rules"] == body["rules"]
    assert route["policy"] == body["policy"]

    regex_rule = {"when": {"field": "params.user", "regex": "batch-.*"}, "targets": [large]}
    changed = await client.patch(f"/api/v1/routes/{route['id']}", json={"rules": [regex_rule]})
    assert changed.status_code == 200 and changed.json()["rules"] == [regex_rule]

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            snapshot = await build_snapshot(session, now=datetime.now(UTC))
    finally:
        await engine.dispose()
    [spec] = [r for r in snapshot.routes if r.name == "smart"]
    assert spec.rules == [RouteRule(when=Condition(field="params.user", regex="batch-.*"), deployment_ids=[large])]
    assert spec.policy == RoutePolicy(max_attempts_per_request=2, fall_over_on=["timeout", "content_policy"])


async def test_bad_rules_and_policies_are_422_naming_the_place(client: httpx.AsyncClient, refs: Refs) -> None:
    target = refs["deployment"]
    missing = "00000000-0000-4000-8000-000000000000"
    for rules_or_policy, path in (
        ({"rules": [{"when": {"field": "metadata.a"}, "targets": [target]}]}, "$.rules[0].when"),
        ({"rules": [{"when": {"field": "metadata.a", "eq": 1, "in": [1]}, "targets": [target]}]}, "$.rules[0].when"),
        ({"rules": [{"when": {"field": "body", "eq": "x"}, "targets": [target]}]}, "$.rules[0].when.field"),
        ({"rules": [{"when": {"and": []}, "targets": [target]}]}, "$.rules[0].when"),
        ({"rules": [{"when": {"field": "team", "regex": "(unclosed"}, "targets": [target]}]}, "$.rules[0].when"),
        ({"rules": [{"when": {"field": "team", "regex": "(a)\\1"}, "targets": [target]}]}, "$.rules[0].when"),
        ({"rules": [{"when": {"field": "team", "eq": "x"}, "targets": [missing]}]}, "$.rules[0].targets[0]"),
        ({"rules": [{"when": {"field": "team", "eq": "x"}, "targets": []}]}, "$.rules[0].targets"),
        ({"policy": {"fall_over_on": ["client"]}}, "$.policy.fall_over_on[0]"),
        ({"policy": {"max_attempts_per_target": 0}}, "$.policy.max_attempts_per_target"),
        ({"policy": {"retries": 3}}, "$.policy.retries"),
    ):
        body = {"name": "bad", "targets": [target], **rules_or_policy}
        response = await client.post("/api/v1/routes", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["errors"][0]["path"] == path, (body, response.json())


async def test_a_deployment_that_a_rule_uses_cannot_be_deleted(client: httpx.AsyncClient, refs: Refs) -> None:
    large = await _second_deployment(client, refs)
    rule = {"when": {"field": "environment", "eq": "prod"}, "targets": [large]}
    route = await created(client, "routes", {"name": "guarded", "targets": [refs["deployment"]], "rules": [rule]})
    refused = await client.delete(f"/api/v1/deployments/{large}")
    assert refused.status_code == 409
    assert (await client.patch(f"/api/v1/routes/{route['id']}", json={"rules": []})).status_code == 200
    assert (await client.delete(f"/api/v1/deployments/{large}")).status_code == 204
