"""Spend reports end to end: events published to JetStream as data planes do, ingested by the control plane's
own background ingester, then read through GET /api/v1/usage (grouped, filtered, scoped to the caller) and
GET /api/v1/usage/events/{id}. Expected figures are computed by hand from the six events below."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import pytest
from starlette.applications import Starlette

from controlplane.settings import ControlPlaneSettings
from shared.usage import TokenUsage, UsageEvent
from tests.integration.controlplane.conftest import created
from tests.integration.controlplane.usage_support import BASE_MS, create_stream, eventually, publish, usage_event

MINUTE_MS = 60_000
DAY1 = "2026-01-01T00:00:00Z"
DAY2 = "2026-01-02T00:00:00Z"


@dataclass(frozen=True)
class Ledger:
    teams: dict[str, str]  # "t1", "t2" -> id
    users: dict[str, str]  # "u1", "u2", "u3" -> id
    events: dict[str, UsageEvent]  # "e1".."e6"


def _at(hours: float) -> int:
    return BASE_MS + int(hours * 60 * MINUTE_MS)


def _events(t: dict[str, str], u: dict[str, str]) -> dict[str, UsageEvent]:
    chat = {"route": "chat", "upstream_model": "m1", "deployment_id": "d1", "deployment": "small"}
    return {
        "e1": usage_event(
            time=_at(10.25), team_id=t["t1"], user_id=u["u1"], environment="dev", key_id="k1", **chat,
            tokens=TokenUsage(input=100, output=10), cost_micro_usd=1000,
        ),
        "e2": usage_event(
            time=_at(10.75), team_id=t["t1"], user_id=u["u2"], environment="prod", key_id="k2", **chat,
            tokens=TokenUsage(input=200, output=20), cost_micro_usd=2000,
        ),
        "e3": usage_event(
            time=_at(11.1), team_id=t["t1"], user_id=u["u1"], environment="dev", key_id="k1", route="embed",
            upstream_model="m2", deployment_id="d2", status=500, tokens=TokenUsage(input=50), cost_micro_usd=0,
        ),
        "e4": usage_event(
            time=_at(11.5), team_id=t["t2"], user_id=u["u3"], environment="dev", key_id="k3", **chat,
            tokens=TokenUsage(input=300, output=30), cost_micro_usd=3000,
        ),
        "e5": usage_event(
            time=_at(24 + 9), team_id=t["t2"], application_id="a1", environment="prod", key_id="k4", route="chat",
            upstream_model="m2", deployment_id="d2", stream=True, estimated=True,
            tokens=TokenUsage(input=400, cached_input=5, output=40, reasoning=7), cost_micro_usd=4000,
        ),
        "e6": usage_event(
            time=_at(10.33), team_id=None, route="chat", upstream_model=None, deployment_id=None, deployment=None,
            status=401, error_code="invalid_api_key", tokens=TokenUsage(), cost_micro_usd=0,
        ),
    }  # fmt: skip


@pytest.fixture
async def ledger(client: httpx.AsyncClient, settings: ControlPlaneSettings) -> AsyncIterator[Ledger]:
    teams = {name: (await created(client, "teams", {"name": name}))["id"] for name in ("t1", "t2")}
    users = {
        name: (await created(client, "users", {"email": f"{name}@example.com"}))["id"] for name in ("u1", "u2", "u3")
    }
    events = _events(teams, users)
    connection = await nats.connect(settings.nats_url)
    try:
        await create_stream(connection.jetstream(), settings.nats_prefix)  # as a data plane does
        for event in events.values():
            await publish(connection.jetstream(), settings.nats_prefix, event)
    finally:
        await connection.close()

    async def ingested() -> bool:
        response = await client.get("/api/v1/usage")
        return response.status_code == 200 and response.json()["totals"]["requests"] == len(events)

    await eventually(ingested, what="the control plane to ingest the events")
    yield Ledger(teams=teams, users=users, events=events)


async def _report(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/api/v1/usage", params=params)
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def _by(report: dict[str, Any], *dims: str, metrics: tuple[str, ...] = ("requests", "cost_micro_usd")) -> Any:
    return {
        tuple(group[d] for d in dims) if len(dims) > 1 else group[dims[0]]: tuple(group[m] for m in metrics)
        for group in report["data"]
    }


async def test_usage_grouped_by_team_sums_each_team_and_orders_by_cost(
    client: httpx.AsyncClient, ledger: Ledger
) -> None:
    t = ledger.teams
    report = await _report(client, group_by="team")
    assert [group["team"] for group in report["data"]] == [t["t2"], t["t1"], None]
    assert _by(report, "team", metrics=("requests", "errors", "input_tokens", "output_tokens", "cost_micro_usd")) == {
        t["t1"]: (3, 1, 350, 30, 3000),
        t["t2"]: (2, 0, 700, 70, 7000),
        None: (1, 1, 0, 0, 0),
    }
    assert report["totals"]["requests"] == 6
    assert report["totals"]["cost_micro_usd"] == 10_000
    assert report["totals"]["cached_input_tokens"] == 5
    assert report["totals"]["reasoning_tokens"] == 7
    assert report["totals"]["estimated"] == 1
    assert "user" not in report["data"][0]  # only the dimensions asked for


async def test_usage_by_team_and_day_and_by_hour(client: httpx.AsyncClient, ledger: Ledger) -> None:
    t = ledger.teams
    by_day = await _report(client, group_by="team,day")
    assert _by(by_day, "day", "team") == {
        (DAY1, t["t1"]): (3, 3000),
        (DAY1, t["t2"]): (1, 3000),
        (DAY1, None): (1, 0),
        (DAY2, t["t2"]): (1, 4000),
    }
    by_hour = await _report(client, group_by="hour", team_id=t["t1"])
    assert _by(by_hour, "hour", metrics=("requests", "errors", "cost_micro_usd")) == {
        "2026-01-01T10:00:00Z": (2, 0, 3000),
        "2026-01-01T11:00:00Z": (1, 1, 0),
    }
    assert by_hour["totals"]["requests"] == 3


async def test_usage_over_a_time_range_and_with_filters(client: httpx.AsyncClient, ledger: Ledger) -> None:
    in_range = await _report(client, group_by="model", start="2026-01-01T11:00:00Z", end=DAY2)
    assert _by(in_range, "model", metrics=("requests", "errors", "cost_micro_usd")) == {
        "m1": (1, 0, 3000),
        "m2": (1, 1, 0),
    }
    prod_chat = await _report(client, group_by="deployment", route="chat", environment="prod")
    assert _by(prod_chat, "deployment") == {"d1": (1, 2000), "d2": (1, 4000)}
    per_key = await _report(client, group_by="key,user,application", key_id="k4")
    assert [(g["key"], g["user"], g["application"]) for g in per_key["data"]] == [("k4", None, "a1")]
    none_at_all = await _report(client, group_by="route", model="no-such-model")
    assert none_at_all["data"] == []
    assert none_at_all["totals"]["requests"] == 0
    limited = await _report(client, group_by="route,environment", limit="1")
    assert len(limited["data"]) == 1
    assert limited["truncated"] is True


async def _as(app: Starlette, client: httpx.AsyncClient, **body: Any) -> httpx.AsyncClient:
    """A client holding a new admin key with this role."""
    key = await created(client, "admin-keys", {"name": body["role"], **body})
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://cp",
        headers={"Authorization": f"Bearer {key['token']}"},
    )


async def test_a_member_sees_only_its_own_usage_and_a_team_admin_only_its_teams(
    app: Starlette, client: httpx.AsyncClient, ledger: Ledger
) -> None:
    t, u, e = ledger.teams, ledger.users, ledger.events
    async with await _as(app, client, role="member", user_id=u["u1"], team_ids=[t["t1"]]) as member:
        report = await _report(member, group_by="team")
        assert _by(report, "team") == {t["t1"]: (2, 1000)}  # e1 and e3: u1's own, not u2's e2
        assert (await member.get(f"/api/v1/usage/events/{e['e1'].request_id}")).status_code == 200
        assert (await member.get(f"/api/v1/usage/events/{e['e2'].request_id}")).status_code == 404
    async with await _as(app, client, role="team_admin", team_ids=[t["t2"]]) as team_admin:
        report = await _report(team_admin, group_by="user")
        assert report["totals"]["requests"] == 2
        assert report["totals"]["cost_micro_usd"] == 7000
        assert (await team_admin.get(f"/api/v1/usage/events/{e['e6'].request_id}")).status_code == 404


async def test_the_event_of_one_request_is_returned_by_its_id(client: httpx.AsyncClient, ledger: Ledger) -> None:
    e5 = ledger.events["e5"]
    response = await client.get(f"/api/v1/usage/events/{e5.request_id}")
    assert response.status_code == 200, response.text
    event = response.json()
    assert event["request_id"] == e5.request_id
    assert event["time"] == "2026-01-02T09:00:00Z"
    assert (event["team_id"], event["application_id"], event["user_id"]) == (ledger.teams["t2"], "a1", None)
    assert (event["input_tokens"], event["cached_input_tokens"], event["output_tokens"]) == (400, 5, 40)
    assert (event["reasoning_tokens"], event["cost_micro_usd"], event["estimated"], event["stream"]) == (
        7,
        4000,
        True,
        True,
    )
    assert event["stream_seq"] >= 1
    for unknown in ("0190a5b0-0000-7000-8000-000000000000", "x" * 300):
        missing = await client.get(f"/api/v1/usage/events/{unknown}")
        assert missing.status_code == 404
        assert missing.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"group_by": "colour"}, "$.group_by"),
        ({"group_by": "team,team"}, "$.group_by"),
        ({"group_by": "hour,day"}, "$.group_by"),
        ({"start": DAY2, "end": DAY1}, "$.end"),
        ({"start": "yesterday"}, "$.start"),
        ({"limit": "0"}, "$.limit"),
    ],
)
async def test_bad_report_parameters_are_refused_with_422(
    client: httpx.AsyncClient, params: dict[str, str], path: str
) -> None:
    response = await client.get("/api/v1/usage", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["errors"][0]["path"] == path


async def test_the_usage_endpoints_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    assert "get" in paths["/api/v1/usage"]
    assert "get" in paths["/api/v1/usage/events/{request_id}"]


async def test_a_requests_event_lists_the_events_of_its_failed_attempts(
    client: httpx.AsyncClient, settings: ControlPlaneSettings
) -> None:
    team = (await created(client, "teams", {"name": "attempts"}))["id"]
    served = usage_event(team_id=team, attempts=3)
    failed = [
        usage_event(
            request_id=f"{served.request_id}.{n}",
            parent_request_id=served.request_id,
            team_id=team,
            status=503,
            attempts=n,
            tokens=TokenUsage(),
            cost_micro_usd=0,
        )
        for n in (1, 2)
    ]
    connection = await nats.connect(settings.nats_url)
    try:
        await create_stream(connection.jetstream(), settings.nats_prefix)
        for event in [*failed, served]:
            await publish(connection.jetstream(), settings.nats_prefix, event)
    finally:
        await connection.close()

    async def listed() -> bool:
        response = await client.get(f"/api/v1/usage/events/{served.request_id}")
        return response.status_code == 200 and len(response.json()["attempt_event_ids"]) == 2

    await eventually(listed, what="the request's event with its attempts")
    event = (await client.get(f"/api/v1/usage/events/{served.request_id}")).json()
    assert event["attempt_event_ids"] == [f"{served.request_id}.1", f"{served.request_id}.2"]
    assert event["parent_request_id"] is None
    attempt = (await client.get(f"/api/v1/usage/events/{served.request_id}.2")).json()
    assert (attempt["parent_request_id"], attempt["status"], attempt["attempt_event_ids"]) == (
        served.request_id,
        503,
        [],
    )
    report = await _report(client, group_by="team", team_id=team)
    assert (report["totals"]["requests"], report["totals"]["errors"]) == (1, 0)
