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


def authorize(model: str, *, view: ConfigView, key: KeySpec) -> RouteSpec:
    """The route named `model`. Unknown and forbidden routes get the same answer, so existence is not leaked."""
    route = view.routes_by_name.get(model)
    if route is None or not view.may_call(key, route):
        raise ModelNotFoundError(model)
    return route


def select_target(route: RouteSpec, *, view: ConfigView) -> Target:
    # fallback chains come later: the first deployment serves; a checked snapshot guarantees it resolves
    deployment = view.deployments_by_id[route.deployment_ids[0]]
    provider = view.providers_by_id[deployment.provider_id]
    return Target(route=route, deployment=deployment, provider=provider, credentials=view.credentials_for(provider.id))
