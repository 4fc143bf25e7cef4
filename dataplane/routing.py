"""authorize and select_target: which route a key may call by `model`, and the deployment that serves it."""

from __future__ import annotations

import msgspec

from dataplane.config_state import ConfigView, ProviderCredentials
from dataplane.errors import ModelNotFoundError
from shared.snapshot import DeploymentSpec, KeySpec, ProviderSpec, RouteSpec


class Target(msgspec.Struct, frozen=True):
    route: RouteSpec
    deployment: DeploymentSpec
    provider: ProviderSpec
    credentials: ProviderCredentials


def route_allowed(route: RouteSpec, key: KeySpec) -> bool:
    if key.models is not None and route.name not in key.models:
        return False
    return not route.environments or key.environment in route.environments


def authorize(model: str, *, view: ConfigView, key: KeySpec) -> RouteSpec:
    """The route named `model`. Unknown and forbidden routes get the same answer, so existence is not leaked."""
    route = view.routes_by_name.get(model)
    if route is None or not route_allowed(route, key):
        raise ModelNotFoundError(model)
    return route


def select_target(route: RouteSpec, *, view: ConfigView) -> Target:
    # fallback chains come later: the first deployment serves; a checked snapshot guarantees it resolves
    deployment = view.deployments_by_id[route.deployment_ids[0]]
    provider = view.providers_by_id[deployment.provider_id]
    return Target(route=route, deployment=deployment, provider=provider, credentials=view.credentials_for(provider.id))
