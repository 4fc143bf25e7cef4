"""Who is calling the admin API and what they may do.

- `Principal`: the caller, put on `request.state.principal` by AdminAuth for every authenticated request.
- `Policy` and `ROUTE_POLICIES`: which roles may call each endpoint (method + path below /api/v1). An endpoint
  declares its policy on its `Operation` or here; one declared nowhere is owner/admin only (deny by default),
  and the endpoint-by-role test fails until it is declared.
- Scope: `team_admin` and `member` principals see and change only rows of their teams (members: only rows
  bound to their own user). Rows are filtered out of lists, a read of a row out of scope is a 404 (it does not
  exist for the caller), a change to it is a 403.
- Grants: nobody grants more than they hold (`check_grant`, `GRANTABLE_ROLES`); refusals are 403.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from sqlalchemy import ColumnElement, Select, false, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from controlplane.api.errors import ForbiddenError
from controlplane.db.models import AdminToken, Application, Base, Key, Team, User

ROLES = ("owner", "admin", "team_admin", "member", "viewer")  # most powerful first
SCOPED_ROLES = frozenset({"team_admin", "member"})  # roles bound to teams (and members to their own user)

# The roles a role may give to an admin key it creates or changes, and so the keys it may manage: nobody
# grants more than they hold. A viewer reads the whole organization, which is more than a team_admin sees.
GRANTABLE_ROLES: Mapping[str, frozenset[str]] = {
    "owner": frozenset(ROLES),
    "admin": frozenset({"admin", "team_admin", "member", "viewer"}),
    "team_admin": frozenset({"team_admin", "member"}),
    "member": frozenset(),
    "viewer": frozenset(),
}


@dataclass(frozen=True, slots=True)
class Principal:
    actor: str  # for the audit log, e.g. "admin-token:ci:<id>"; never contains the token
    role: str  # one of ROLES
    user_id: str | None = None  # the person behind the key, if any
    team_ids: frozenset[str] | None = None  # teams a team_admin or member belongs to; None: every team


def principal_of(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


# -- who may call what ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    roles: frozenset[str]
    # The table whose row the path's `{id}` names: checked against the caller's scope before the endpoint runs.
    rows: type[Base] | None = None


def allow(*roles: str, rows: type[Base] | None = None) -> Policy:
    unknown = set(roles) - set(ROLES)
    assert not unknown, f"unknown roles {unknown}"
    return Policy(frozenset(roles), rows)


DEFAULT_POLICY = allow("owner", "admin")  # what an endpoint declared nowhere gets
EVERYONE = ROLES
ORG_READERS = ("owner", "admin", "team_admin", "viewer")  # org-wide config a team_admin needs to issue keys
OWNER_ADMIN = ("owner", "admin")


def _crud(
    path: str,
    *,
    read: Iterable[str],
    create: Iterable[str] = OWNER_ADMIN,
    update: Iterable[str] = OWNER_ADMIN,
    delete: Iterable[str] = OWNER_ADMIN,
    rows: type[Base] | None = None,
    item: str = "{id}",
) -> dict[tuple[str, str], Policy]:
    collection, one = f"/{path}", f"/{path}/{item}"
    read = tuple(read)
    return {
        ("GET", collection): allow(*read),
        ("GET", one): allow(*read, rows=rows),
        ("POST", collection): allow(*create),
        ("PATCH", one): allow(*update, rows=rows),
        ("DELETE", one): allow(*delete, rows=rows),
    }


TEAM_MANAGERS = ("owner", "admin", "team_admin")
KEY_HOLDERS = (*TEAM_MANAGERS, "member")

ROUTE_POLICIES: Mapping[tuple[str, str], Policy] = {
    **_crud("teams", read=EVERYONE, update=TEAM_MANAGERS, rows=Team),
    **_crud("users", read=EVERYONE, create=TEAM_MANAGERS, rows=User),
    **_crud(
        "applications",
        read=ORG_READERS,
        create=TEAM_MANAGERS,
        update=TEAM_MANAGERS,
        delete=TEAM_MANAGERS,
        rows=Application,
    ),
    **_crud("environments", read=EVERYONE),
    **_crud("keys", read=EVERYONE, create=KEY_HOLDERS, update=KEY_HOLDERS, delete=KEY_HOLDERS, rows=Key),
    ("POST", "/keys/{id}/revoke"): allow(*KEY_HOLDERS, rows=Key),
    ("POST", "/keys/{id}/rotate"): allow(*KEY_HOLDERS, rows=Key),
    **_crud("providers", read=ORG_READERS),
    **_crud("deployments", read=ORG_READERS),
    **_crud("routes", read=EVERYONE),  # members see which models exist
    ("GET", "/audit"): allow("owner", "admin", "viewer"),  # rows are not team-bound: no partial view
    ("GET", "/config/status"): allow(*EVERYONE),
    # Limits and budgets may name any team: their lists are not filtered, so only org-wide readers see them.
    **_crud("rate-limits", read=("owner", "admin", "viewer")),
    **_crud("budgets", read=("owner", "admin", "viewer")),
    **_crud("prices", read=ORG_READERS),
    # Usage is filtered by the endpoint itself with visible_team_ids / visible_user_id.
    ("GET", "/usage"): allow(*EVERYONE),
    ("GET", "/usage/events/{request_id}"): allow(*EVERYONE),
}


def declared_policy(method: str, path: str, explicit: Policy | None = None) -> Policy | None:
    """The policy an endpoint declares: on its Operation, else in ROUTE_POLICIES; None if declared nowhere."""
    return explicit if explicit is not None else ROUTE_POLICIES.get((method, path))


def require_role(policy: Policy, principal: Principal) -> None:
    if principal.role not in policy.roles:
        raise ForbiddenError(f"the {principal.role} role may not call this endpoint")


# -- scope: which rows a principal sees -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ownership:
    """How a table's rows belong to teams and users (attribute names); None: not bound that way."""

    team: str | None
    user: str | None


OWNERSHIP: Mapping[type[Base], Ownership] = {
    Team: Ownership(team="id", user=None),
    Application: Ownership(team="team_id", user=None),
    Key: Ownership(team="team_id", user="user_id"),
    User: Ownership(team=None, user="id"),  # people are an org-wide directory; a member sees only itself
}


def visible_team_ids(principal: Principal) -> frozenset[str] | None:
    """The teams whose rows (and usage) the principal may see; None: every team."""
    if principal.role not in SCOPED_ROLES:
        return None
    return principal.team_ids or frozenset()


def visible_user_id(principal: Principal) -> str | None:
    """For a member, the only user whose keys and usage it may see (filter on it); None: no user restriction.
    A member without a user (which the API refuses to create) would see nothing: it gets an id no row has."""
    if principal.role != "member":
        return None
    return principal.user_id or ""


def may_see(principal: Principal, *, team_id: str | None, user_id: str | None) -> bool:
    """Whether a row or usage record owned by this team and user is visible to the principal."""
    teams, user = visible_team_ids(principal), visible_user_id(principal)
    return (teams is None or team_id in teams) and (user is None or user_id == user)


def can_see(principal: Principal, row: Base) -> bool:
    ownership = OWNERSHIP.get(type(row))
    if ownership is None:
        return True
    teams, user = visible_team_ids(principal), visible_user_id(principal)
    if teams is not None and ownership.team is not None and getattr(row, ownership.team) not in teams:
        return False
    return user is None or ownership.user is None or getattr(row, ownership.user) == user


StatementT = TypeVar("StatementT", bound=Select[Any])


def restrict(statement: StatementT, model: type[Base], principal: Principal) -> StatementT:
    """The statement limited to the rows of `model` the principal may see."""
    ownership = OWNERSHIP.get(model)
    if ownership is None:
        return statement
    columns = inspect(model).columns
    teams, user = visible_team_ids(principal), visible_user_id(principal)
    conditions: list[ColumnElement[bool]] = []
    if teams is not None and ownership.team is not None:
        conditions.append(columns[ownership.team].in_(teams) if teams else false())
    if user is not None and ownership.user is not None:
        conditions.append(columns[ownership.user] == user)
    return statement.where(*conditions) if conditions else statement


# -- grants: nobody grants more than they hold ------------------------------------------------------------------


async def check_grant(
    session: AsyncSession, principal: Principal, model: type[Base], data: msgspec.Struct, row: Base | None = None
) -> None:
    """Refuse (403) a create (`row` None) or update by a scoped principal that reaches outside its teams, binds
    a key to someone else (members), or allows models its team's allow-list does not."""
    teams = visible_team_ids(principal)
    ownership = OWNERSHIP.get(model)
    if teams is None or ownership is None or ownership.team is None:
        return
    team_id = getattr(row, ownership.team) if row is not None else getattr(data, "team_id", None)
    if team_id not in teams:
        raise ForbiddenError("the team is not one you administer")
    if principal.role == "member" and row is None:
        if getattr(data, "user_id", None) != principal.user_id:
            raise ForbiddenError("a member creates keys only for its own user")
        if getattr(data, "application_id", None) is not None:
            raise ForbiddenError("a member cannot create application keys")
    models = getattr(data, "models", msgspec.UNSET)
    if models is msgspec.UNSET:
        return
    team = row if isinstance(row, Team) else await session.get(Team, team_id)
    held = None if team is None else team.models
    if held is not None and (models is None or not set(models) <= set(held)):
        raise ForbiddenError("models outside the team's allow-list cannot be granted")


def can_see_admin_key(principal: Principal, key: AdminToken) -> bool:
    """Members see the admin keys of their own user; team_admins the team-bound keys wholly within their teams."""
    teams, user = visible_team_ids(principal), visible_user_id(principal)
    if user is not None:
        return key.user_id == user
    if teams is not None:
        return key.role in SCOPED_ROLES and bool(key.team_ids) and set(key.team_ids) <= teams
    return True


def check_admin_key_role(principal: Principal, *, role: str, current: AdminToken | None = None) -> None:
    """Refuse (403) giving an admin key a role the caller may not grant, or changing a key the caller could not
    have created (its own user's keys excepted: anyone may rename or revoke those)."""
    if current is not None:
        own = current.user_id is not None and current.user_id == principal.user_id
        if not can_see_admin_key(principal, current) or (
            current.role not in GRANTABLE_ROLES[principal.role] and not own
        ):
            raise ForbiddenError(f"a {principal.role} cannot change this {current.role} key")
    if (current is None or role != current.role) and role not in GRANTABLE_ROLES[principal.role]:
        raise ForbiddenError(f"a {principal.role} cannot grant the {role} role")


def check_admin_key_teams(principal: Principal, team_ids: Collection[str]) -> None:
    """Refuse (403) binding an admin key to a team the caller does not hold."""
    teams = visible_team_ids(principal)
    if teams is not None and not set(team_ids) <= teams:
        raise ForbiddenError("an admin key can only be given teams you hold")
