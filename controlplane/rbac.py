"""Who is calling the admin API and what they may see: the `Principal` that AdminAuth puts on
`request.state.principal` for every authenticated request."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

ROLES = ("owner", "admin", "team_admin", "member", "viewer")  # most powerful first


@dataclass(frozen=True, slots=True)
class Principal:
    actor: str  # for the audit log, e.g. "admin-token:ci:<id>"; never contains the token
    role: str  # one of ROLES
    user_id: str | None = None  # the person behind the key, if any
    team_ids: frozenset[str] | None = None  # teams a team_admin or member belongs to; None: every team


def principal_of(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal
