from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from dataplane.app import create_app
from dataplane.config_cache import read_cache, write_cache
from dataplane.config_state import build_config_view, open_config_view
from dataplane.settings import DataPlaneSettings
from shared.codec import SnapshotRejectedError
from shared.crypto import load_verify_key, new_b64_key
from tests.conftest import TestSecrets
from tests.snapshot_factory import (
    PROVIDER_ID,
    SignedSnapshot,
    make_key,
    make_snapshot,
    master_secret,
    sign_snapshot,
    write_disk_cache,
)
from tests.unit.dataplane.conftest import serve


def _signed(test_secrets: TestSecrets, version: int = 1, *, provider_api_key: str | None = None) -> SignedSnapshot:
    key = make_key(test_secrets.secret_key)
    snapshot = make_snapshot(
        test_secrets.secret_key,
        version=version,
        keys=[key.spec],
        provider_kind="openai" if provider_api_key else "mock",
        provider_api_key=provider_api_key,
    )
    return sign_snapshot(snapshot, test_secrets.signing_key)


def _open(test_secrets: TestSecrets, signed: SignedSnapshot, secret_key: str | None = None) -> object:
    return open_config_view(
        signed.data,
        signed.pointer,
        verify_key=load_verify_key(test_secrets.verify_key),
        master=master_secret(secret_key or test_secrets.secret_key),
    )


def test_view_indexes_the_snapshot_and_unseals_credentials(test_secrets: TestSecrets) -> None:
    key = make_key(test_secrets.secret_key)
    snapshot = make_snapshot(
        test_secrets.secret_key, version=3, keys=[key.spec], provider_kind="openai", provider_api_key="sk-up-9"
    )
    view = build_config_view(snapshot, master_secret(test_secrets.secret_key))
    assert view.version == 3
    assert view.keys_by_public_id[key.spec.public_id] == key.spec
    assert view.routes_by_name["gpt-test"].deployment_ids == ["deployment-1"]
    assert view.credentials_for(PROVIDER_ID).api_key == "sk-up-9"
    assert "sk-up-9" not in repr(view) and "sk-up-9" not in repr(view.credentials_for(PROVIDER_ID))


def test_provider_without_credentials_has_no_api_key(test_secrets: TestSecrets) -> None:
    snapshot = make_snapshot(test_secrets.secret_key, version=1, keys=[])
    assert (
        build_config_view(snapshot, master_secret(test_secrets.secret_key)).credentials_for(PROVIDER_ID).api_key is None
    )


def test_credentials_sealed_under_another_secret_are_refused(test_secrets: TestSecrets) -> None:
    signed = _signed(test_secrets, provider_api_key="sk-up")
    with pytest.raises(SnapshotRejectedError, match="credentials"):
        _open(test_secrets, signed, secret_key=new_b64_key())


def test_signed_snapshot_opens(test_secrets: TestSecrets) -> None:
    assert _open(test_secrets, _signed(test_secrets, version=5)) is not None


@pytest.mark.parametrize(
    ("defect", "message"),
    [
        ({"signature": b"\x00" * 64}, "signature"),
        ({"sha256": "0" * 64}, "digest"),
        ({"version": 6}, "pointer says 6"),
    ],
)
def test_tampered_or_inconsistent_snapshot_is_refused(
    test_secrets: TestSecrets, defect: dict[str, object], message: str
) -> None:
    signed = _signed(test_secrets, version=5)
    tampered = SignedSnapshot(data=signed.data, pointer=msgspec.structs.replace(signed.pointer, **defect))
    with pytest.raises(SnapshotRejectedError, match=message):
        _open(test_secrets, tampered)


def test_disk_cache_round_trips_and_keeps_only_the_newest_object(test_secrets: TestSecrets, tmp_path: Path) -> None:
    cache_dir = str(tmp_path / "cache")
    assert read_cache(cache_dir) is None
    first, second = _signed(test_secrets, version=1), _signed(test_secrets, version=2)
    write_cache(cache_dir, first.data, first.pointer)
    write_cache(cache_dir, second.data, second.pointer)
    assert read_cache(cache_dir) == (second.data, second.pointer)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["pointer.json", "snapshot-2.bin"]


async def test_plane_refuses_a_tampered_cache_and_stays_unready(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets
) -> None:
    signed = _signed(test_secrets)
    bad = SignedSnapshot(data=signed.data, pointer=msgspec.structs.replace(signed.pointer, signature=b"\x01" * 64))
    write_disk_cache(dp_settings.cache_dir, bad)
    async with serve(create_app(dp_settings)) as client:
        ready = await client.get("/readyz")
        status = (await client.get("/status")).json()
    assert ready.status_code == 503
    assert status["config_version"] is None
    assert "signature" in status["last_error"]


async def test_plane_serves_a_valid_cache_marked_stale(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets
) -> None:
    write_disk_cache(dp_settings.cache_dir, _signed(test_secrets, version=4))
    async with serve(create_app(dp_settings)) as client:
        ready = await client.get("/readyz")
        status = (await client.get("/status")).json()
        health = await client.get("/healthz")
    assert ready.status_code == 200
    assert health.json() == {"status": "ok"}
    assert status == {
        "instance": "unit-dp",
        "config_version": 4,
        "stale": True,
        "last_error": None,
        "nats_connected": False,
        "circuits": {"deployment": {"state": "closed", "consecutive_failures": 0}},
        # no NATS: rate limits are enforced locally, on the whole limit (README: Rate limits)
        "rate_limit_gossip": {"healthy": False, "replicas": 1, "last_known_replicas": 1},
    }


def test_keys_of_one_team_share_their_team_and_environment_strings(test_secrets: TestSecrets) -> None:
    keys = [make_key(test_secrets.secret_key).spec for _ in range(3)]
    snapshot = make_snapshot(test_secrets.secret_key, version=1, keys=keys)
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(snapshot), type=type(snapshot))  # own copies, as on NATS
    view = build_config_view(decoded, master_secret(test_secrets.secret_key))
    first, *others = view.snapshot.keys
    assert all(k.team_id is first.team_id and k.environment is first.environment for k in others)
    assert [k.team_id for k in view.snapshot.keys] == [k.team_id for k in keys]
    assert view.allowed_routes_by_public_id == {}  # no allow-lists anywhere: every key may call every route
