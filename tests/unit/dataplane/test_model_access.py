"""A key may call a route only if every allow-list on its way permits it (key, application, team, environment:
their intersection) and the route is open to the key's environment."""

from __future__ import annotations

import msgspec

from dataplane.config_state import build_config_view
from shared.snapshot import ApplicationSpec, EnvironmentSpec, KeySpec, RouteSpec, Snapshot, TeamSpec
from tests.conftest import TestSecrets
from tests.snapshot_factory import TEAM_ID, make_key, make_snapshot, master_secret


def _route(name: str, environments: list[str] | None = None) -> RouteSpec:
    return RouteSpec(id=f"route-{name}", name=name, deployment_ids=["unused"], environments=environments or [])


def _with(snapshot: Snapshot, **changes: object) -> Snapshot:
    return msgspec.structs.replace(snapshot, **changes)


def _allowed(test_secrets: TestSecrets, snapshot: Snapshot, key: KeySpec, names: list[str]) -> list[str]:
    view = build_config_view(snapshot, master_secret(test_secrets.secret_key))
    return [name for name in names if view.may_call(key, _route(name))]


def test_without_allow_lists_every_route_is_open(test_secrets: TestSecrets) -> None:
    key = make_key(test_secrets.secret_key).spec
    snapshot = make_snapshot(test_secrets.secret_key, version=1, keys=[key])
    assert _allowed(test_secrets, snapshot, key, ["a", "b"]) == ["a", "b"]


def test_the_effective_set_is_the_intersection_of_all_lists(test_secrets: TestSecrets) -> None:
    key = msgspec.structs.replace(
        make_key(test_secrets.secret_key, models=["a", "b", "c", "d"]).spec, application_id="app"
    )
    snapshot = _with(
        make_snapshot(test_secrets.secret_key, version=1, keys=[key]),
        teams=[TeamSpec(id=TEAM_ID, name="t", models=["a", "b", "c"])],
        applications=[ApplicationSpec(id="app", team_id=TEAM_ID, name="bot", models=["a", "b", "e"])],
        environments=[EnvironmentSpec(name="dev", models=["b", "a", "z"])],
    )
    assert _allowed(test_secrets, snapshot, key, ["a", "b", "c", "d", "e", "z"]) == ["a", "b"]


def test_an_empty_list_anywhere_closes_everything(test_secrets: TestSecrets) -> None:
    key = make_key(test_secrets.secret_key).spec
    snapshot = _with(
        make_snapshot(test_secrets.secret_key, version=1, keys=[key]),
        environments=[EnvironmentSpec(name="dev", models=[])],
    )
    assert _allowed(test_secrets, snapshot, key, ["a", "b"]) == []


def test_a_route_limited_to_prod_is_closed_to_a_dev_key(test_secrets: TestSecrets) -> None:
    dev = make_key(test_secrets.secret_key, environment="dev").spec
    prod = make_key(test_secrets.secret_key, environment="prod").spec
    view = build_config_view(
        make_snapshot(test_secrets.secret_key, version=1, keys=[dev, prod]), master_secret(test_secrets.secret_key)
    )
    assert not view.may_call(dev, _route("chat", ["prod"]))
    assert view.may_call(prod, _route("chat", ["prod"]))
