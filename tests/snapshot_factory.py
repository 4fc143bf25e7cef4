"""Builds valid, signed config snapshots for data-plane tests and publishes them the way the control plane does
(object first, then the KV pointer). Not the real publisher: just enough to drive a data plane."""

from __future__ import annotations

import hashlib
import time

import msgspec
import nats

from dataplane.config_cache import write_cache
from shared.apikeys import format_key, new_public_id, new_secret
from shared.buckets import make_buckets
from shared.codec import content_digest, encode_snapshot, sign
from shared.crypto import MasterSecret, decode_b64_key, load_signing_key
from shared.snapshot import DeploymentSpec, KeySpec, ProviderSpec, RouteSpec, Snapshot, SnapshotPointer, TeamSpec
from shared.transport import SnapshotStore

TEAM_ID = "team-1"
PROVIDER_ID = "provider-1"
DEPLOYMENT_ID = "deployment-1"
ROUTE_NAME = "gpt-test"
UPSTREAM_MODEL = "gpt-4o-mini-2024-07-18"


class ClientKey(msgspec.Struct, frozen=True):
    spec: KeySpec
    token: str  # the full `wp-<env>-<public_id>-<secret>` a client sends


class SignedSnapshot(msgspec.Struct, frozen=True):
    data: bytes
    pointer: SnapshotPointer


def master_secret(secret_key: str) -> MasterSecret:
    return MasterSecret(decode_b64_key(secret_key, name="secret_key"))


def make_key(
    secret_key: str,
    *,
    environment: str = "dev",
    team_id: str = TEAM_ID,
    expires_at: int | None = None,
    models: list[str] | None = None,
) -> ClientKey:
    public_id, secret = new_public_id(), new_secret()
    spec = KeySpec(
        id=f"key-{public_id}",
        public_id=public_id,
        secret_hash=master_secret(secret_key).hash_key_secret(secret),
        environment=environment,
        team_id=team_id,
        expires_at=expires_at,
        models=models,
    )
    return ClientKey(spec=spec, token=format_key(environment, public_id, secret))


def make_snapshot(
    secret_key: str,
    *,
    version: int,
    keys: list[KeySpec],
    provider_kind: str = "mock",
    base_url: str = "http://127.0.0.1:9/v1",
    provider_api_key: str | None = None,
    route_name: str = ROUTE_NAME,
    upstream_model: str = UPSTREAM_MODEL,
    route_environments: list[str] | None = None,
    timeout_seconds: float = 10.0,
) -> Snapshot:
    """One team, one provider (credentials sealed like the control plane seals them), one deployment, one route."""
    sealed = None
    if provider_api_key is not None:
        plaintext = msgspec.json.encode({"api_key": provider_api_key})
        sealed = master_secret(secret_key).seal(plaintext, context=PROVIDER_ID)
    return Snapshot(
        version=version,
        created_at=int(time.time() * 1000),
        teams=[TeamSpec(id=TEAM_ID, name="Team One")],
        keys=keys,
        providers=[
            ProviderSpec(
                id=PROVIDER_ID, name="provider", kind=provider_kind, base_url=base_url, sealed_credentials=sealed
            )
        ],
        deployments=[
            DeploymentSpec(
                id=DEPLOYMENT_ID,
                name="deployment",
                provider_id=PROVIDER_ID,
                model=upstream_model,
                timeout_seconds=timeout_seconds,
            )
        ],
        routes=[
            RouteSpec(
                id="route-1",
                name=route_name,
                deployment_ids=[DEPLOYMENT_ID],
                environments=route_environments or [],
            )
        ],
    )


def sign_snapshot(snapshot: Snapshot, signing_key: str) -> SignedSnapshot:
    data = encode_snapshot(snapshot)
    pointer = SnapshotPointer(
        version=snapshot.version,
        object=f"snapshot-{snapshot.version}",
        sha256=hashlib.sha256(data).hexdigest(),
        signature=sign(load_signing_key(signing_key), data),
        content_sha256=content_digest(snapshot),
        published_at=int(time.time() * 1000),
    )
    return SignedSnapshot(data=data, pointer=pointer)


async def publish(nats_url: str, prefix: str, signed: SignedSnapshot) -> None:
    """Create the buckets if needed and publish: the object first, then the pointer."""
    connection = await nats.connect(nats_url)
    try:
        store = await SnapshotStore.create(connection.jetstream(), make_buckets(prefix))
        await store.put_snapshot(signed.data, signed.pointer)
    finally:
        await connection.close()


def write_disk_cache(cache_dir: str, signed: SignedSnapshot) -> None:
    """Seed a data plane's last-known-good cache, as if it had applied this snapshot before."""
    write_cache(cache_dir, signed.data, signed.pointer)
