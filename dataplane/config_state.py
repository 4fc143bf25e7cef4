"""The applied configuration: an immutable `ConfigView` (a verified snapshot plus indexes built once) and the
`ConfigState` holder whose single reference is swapped when a new view is applied."""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared.codec import SnapshotRejectedError, open_snapshot
from shared.crypto import MasterSecret, SecretConfigError
from shared.snapshot import DeploymentSpec, KeySpec, ProviderSpec, RouteSpec, Snapshot, SnapshotPointer, TeamSpec


class ProviderCredentials(msgspec.Struct, frozen=True):
    """The unsealed credentials of a provider (controlplane.api.providers.ProviderCredentials)."""

    api_key: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    service_account_json: str | None = None

    def __repr__(self) -> str:
        return "ProviderCredentials(<redacted>)"


_NO_CREDENTIALS = ProviderCredentials()
_credentials_decoder = msgspec.json.Decoder(ProviderCredentials)


class ConfigView(msgspec.Struct, frozen=True):
    """One applied snapshot with its lookups. Never mutated; a request holds one view from admission to end."""

    snapshot: Snapshot
    keys_by_public_id: dict[str, KeySpec]
    teams_by_id: dict[str, TeamSpec]
    routes_by_name: dict[str, RouteSpec]
    deployments_by_id: dict[str, DeploymentSpec]
    providers_by_id: dict[str, ProviderSpec]
    credentials_by_provider_id: dict[str, ProviderCredentials]
    # per key public id: the routes it may call, the intersection of the allow-lists of the key, its application,
    # its team and its environment, computed once per snapshot; keys without any allow-list are absent (every route)
    allowed_routes_by_public_id: dict[str, frozenset[str]]

    @property
    def version(self) -> int:
        return self.snapshot.version

    def may_call(self, key: KeySpec, route: RouteSpec) -> bool:
        """Whether the key's allow-lists and the route's environments let this key call this route."""
        allowed = self.allowed_routes_by_public_id.get(key.public_id)
        if allowed is not None and route.name not in allowed:
            return False
        return not route.environments or key.environment in route.environments

    def team_name(self, team_id: str) -> str | None:
        team = self.teams_by_id.get(team_id)
        return None if team is None else team.name

    def credentials_for(self, provider_id: str) -> ProviderCredentials:
        return self.credentials_by_provider_id.get(provider_id, _NO_CREDENTIALS)

    def __repr__(self) -> str:
        return f"ConfigView(version={self.version})"


def _unseal_credentials(provider: ProviderSpec, master: MasterSecret) -> ProviderCredentials:
    if provider.sealed_credentials is None:
        return _NO_CREDENTIALS
    try:
        plaintext = master.unseal(provider.sealed_credentials, context=provider.id)
        return _credentials_decoder.decode(plaintext)
    except (SecretConfigError, msgspec.DecodeError) as exc:
        raise SnapshotRejectedError(f"credentials of provider {provider.id} do not open: {exc}") from exc


def _allowed_routes(snapshot: Snapshot) -> dict[str, frozenset[str]]:
    teams = {t.id: t.models for t in snapshot.teams}
    applications = {a.id: a.models for a in snapshot.applications}
    environments = {e.name: e.models for e in snapshot.environments}
    allowed: dict[str, frozenset[str]] = {}
    for key in snapshot.keys:
        lists = (
            key.models,
            teams.get(key.team_id),
            applications.get(key.application_id) if key.application_id is not None else None,
            environments.get(key.environment),
        )
        present = [frozenset(names) for names in lists if names is not None]
        if present:
            allowed[key.public_id] = frozenset.intersection(*present)
    return allowed


def _share_repeated_values(keys: list[KeySpec]) -> None:
    """Make keys of one team and environment point at one string object each (the decoder gives every key its own
    copies: about 14 MB with 100k keys). Runs on a freshly decoded snapshot, before any view holds it."""
    shared: dict[str, str] = {}
    for key in keys:
        msgspec.structs.force_setattr(key, "team_id", shared.setdefault(key.team_id, key.team_id))
        msgspec.structs.force_setattr(key, "environment", shared.setdefault(key.environment, key.environment))


def build_config_view(snapshot: Snapshot, master: MasterSecret) -> ConfigView:
    """Index a verified snapshot and unseal its credentials. CPU-bound: call it off the event loop."""
    _share_repeated_values(snapshot.keys)
    return ConfigView(
        snapshot=snapshot,
        keys_by_public_id={k.public_id: k for k in snapshot.keys},
        teams_by_id={t.id: t for t in snapshot.teams},
        routes_by_name={r.name: r for r in snapshot.routes},
        deployments_by_id={d.id: d for d in snapshot.deployments},
        providers_by_id={p.id: p for p in snapshot.providers},
        credentials_by_provider_id={p.id: _unseal_credentials(p, master) for p in snapshot.providers},
        allowed_routes_by_public_id=_allowed_routes(snapshot),
    )


def open_config_view(
    data: bytes, pointer: SnapshotPointer, *, verify_key: Ed25519PublicKey, master: MasterSecret
) -> ConfigView:
    """Verify object bytes against their pointer, decode and index them; raise SnapshotRejectedError on any defect."""
    snapshot = open_snapshot(data, sha256=pointer.sha256, signature=pointer.signature, public_key=verify_key)
    if snapshot.version != pointer.version:
        raise SnapshotRejectedError(
            f"snapshot object holds version {snapshot.version} but its pointer says {pointer.version}"
        )
    return build_config_view(snapshot, master)


class ConfigState:
    """The one mutable holder of what this data plane serves, owned by the app (never module-level)."""

    def __init__(self) -> None:
        self.view: ConfigView | None = None
        self.stale = True
        self.last_error: str | None = None
        self.nats_connected = False

    @property
    def version(self) -> int | None:
        return None if self.view is None else self.view.version

    @property
    def ready(self) -> bool:
        return self.view is not None

    def apply(self, view: ConfigView, *, stale: bool) -> None:
        self.view = view
        self.stale = stale
        self.last_error = None
