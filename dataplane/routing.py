"""authorize and select_targets: which route a key may call by `model`, and the deployments that may serve it."""

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


def select_targets(route: RouteSpec, *, view: ConfigView) -> list[Target]:
    """The route's targets in priority order (the order of `deployment_ids`); a checked snapshot guarantees every
    id resolves. Which of them is healthy enough to call is decided per attempt (dataplane.attempts)."""
    targets = []
    for deployment_id in route.deployment_ids:
        deployment = view.deployments_by_id[deployment_id]
        provider = view.providers_by_id[deployment.provider_id]
        credentials = view.credentials_for(provider.id)
        targets.append(Target(route=route, deployment=deployment, provider=provider, credentials=credentials))
    return targets
