"""The RBAC building blocks: deny by default for a route declared nowhere, the 403 of the Authorize middleware,
and the visibility helpers the usage endpoints filter with."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from controlplane.api.middleware import Authorize, guard_routes
from controlplane.rbac import (
    DEFAULT_POLICY,
    ROUTE_POLICIES,
    Principal,
    allow,
    may_see,
    visible_team_ids,
    visible_user_id,
)


async def _ok(_request: Request) -> Response:
    return PlainTextResponse("ok")


ROUTES = [
    Mount(
        "/api/v1",
        routes=[
            Route("/teams", _ok, methods=["GET", "POST"]),
            Route("/brand-new", _ok, methods=["GET"]),
            Route("/explicit", _ok, methods=["GET"]),
        ],
    )
]


def test_a_route_declared_nowhere_is_flagged_and_left_to_owner_and_admin() -> None:
    guarded = guard_routes(
        ROUTES, prefix="/api/v1", explicit={("GET", "/explicit"): allow("viewer")}, public_paths=set()
    )
    by_key = {(g.method, g.path): g for g in guarded}

    assert set(by_key) == {
        ("GET", "/api/v1/teams"),
        ("POST", "/api/v1/teams"),
        ("GET", "/api/v1/brand-new"),
        ("GET", "/api/v1/explicit"),
    }
    assert not by_key["GET", "/api/v1/brand-new"].declared
    assert by_key["GET", "/api/v1/brand-new"].policy == DEFAULT_POLICY == allow("owner", "admin")
    assert by_key["GET", "/api/v1/teams"].policy == ROUTE_POLICIES["GET", "/teams"]
    assert by_key["GET", "/api/v1/explicit"].policy.roles == {"viewer"}


class _As:
    """Stands in for AdminAuth: every request is made by this principal."""

    def __init__(self, app: ASGIApp, *, principal: Principal) -> None:
        self.app, self.principal = app, principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})["principal"] = self.principal
        await self.app(scope, receive, send)


async def _status(role: str, method: str, path: str) -> int:
    guarded = guard_routes(ROUTES, prefix="/api/v1", explicit={}, public_paths=set())
    app = Starlette(routes=ROUTES)
    wrapped = _As(Authorize(app, guarded=guarded), principal=Principal(actor="t", role=role))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://cp") as client:
        return (await client.request(method, path)).status_code


async def test_the_authorize_middleware_refuses_roles_the_policy_does_not_name() -> None:
    assert await _status("viewer", "GET", "/api/v1/brand-new") == 403
    assert await _status("admin", "GET", "/api/v1/brand-new") == 200
    assert await _status("viewer", "POST", "/api/v1/teams") == 403
    assert await _status("viewer", "GET", "/api/v1/teams") == 200
    assert await _status("viewer", "HEAD", "/api/v1/teams") == 200
    assert await _status("viewer", "GET", "/api/v1/nothing-here") == 404  # no route: the router answers


def test_usage_visibility_follows_the_role() -> None:
    team_admin = Principal(actor="t", role="team_admin", team_ids=frozenset({"a"}))
    member = Principal(actor="m", role="member", user_id="u", team_ids=frozenset({"a"}))
    viewer = Principal(actor="v", role="viewer")

    assert visible_team_ids(viewer) is None and visible_user_id(viewer) is None
    assert visible_team_ids(team_admin) == frozenset({"a"}) and visible_user_id(team_admin) is None
    assert visible_team_ids(member) == frozenset({"a"}) and visible_user_id(member) == "u"
    assert may_see(team_admin, team_id="a", user_id="anyone")
    assert not may_see(team_admin, team_id="b", user_id=None)
    assert may_see(member, team_id="a", user_id="u")
    assert not may_see(member, team_id="a", user_id="someone-else")
    assert may_see(viewer, team_id="b", user_id=None)
