from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import nats

from dataplane.config_cache import read_cache
from dataplane.settings import DataPlaneSettings
from shared.buckets import make_buckets
from shared.transport import SnapshotStore
from tests.conftest import TestSecrets
from tests.fakes.openai_provider import FakeOpenAIProvider
from tests.integration.dataplane.conftest import (
    eventually,
    make_settings,
    running,
    wait_for_status,
    wait_for_version,
)
from tests.services import OwnNats, unique_name
from tests.snapshot_factory import (
    UPSTREAM_MODEL,
    ClientKey,
    SignedSnapshot,
    make_key,
    make_snapshot,
    publish,
    sign_snapshot,
)

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello!"}]}


def _signed(
    test_secrets: TestSecrets, version: int, keys: list[ClientKey], *, upstream: FakeOpenAIProvider | None = None
) -> SignedSnapshot:
    if upstream is None:
        snapshot = make_snapshot(test_secrets.secret_key, version=version, keys=[k.spec for k in keys])
    else:
        snapshot = make_snapshot(
            test_secrets.secret_key,
            version=version,
            keys=[k.spec for k in keys],
            provider_kind="openai",
            base_url=upstream.base_url,
            provider_api_key=upstream.api_key,
        )
    return sign_snapshot(snapshot, test_secrets.signing_key)


def _auth(key: ClientKey) -> dict[str, str]:
    return {"authorization": f"Bearer {key.token}"}


async def test_published_snapshot_is_applied_and_serves_through_the_provider(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    fake_openai: FakeOpenAIProvider,
) -> None:
    key = make_key(test_secrets.secret_key)
    await publish(nats_url, nats_prefix, _signed(test_secrets, 7, [key], upstream=fake_openai))
    async with running(dp_settings) as client:
        status = await wait_for_version(client, 7)
        assert status["nats_connected"] is True
        assert status["last_error"] is None
        assert (await client.get("/readyz")).status_code == 200
        response = await client.post("/v1/chat/completions", headers=_auth(key), json=CHAT)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello! How can I assist you today?"
    [seen] = fake_openai.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert msgspec.json.decode(seen.body) == {**CHAT, "model": UPSTREAM_MODEL}
    assert key.token not in str(seen.headers)


async def test_plane_started_before_the_buckets_exist_applies_the_first_snapshot(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    key = make_key(test_secrets.secret_key)
    async with running(dp_settings) as client:
        assert (await client.get("/readyz")).status_code == 503
        await eventually(lambda: _connected(client), what="NATS connection")
        await publish(nats_url, nats_prefix, _signed(test_secrets, 1, [key]))
        await wait_for_version(client, 1)
        response = await client.post("/v1/chat/completions", headers=_auth(key), json=CHAT)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Mock reply to: Hello!"


async def _connected(client: httpx.AsyncClient) -> bool:
    status = (await client.get("/status")).json()
    return bool(status["nats_connected"])


async def test_a_removed_key_is_refused_once_the_new_version_applies(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    kept, revoked = make_key(test_secrets.secret_key), make_key(test_secrets.secret_key)
    await publish(nats_url, nats_prefix, _signed(test_secrets, 1, [kept, revoked]))
    async with running(dp_settings) as client:
        await wait_for_version(client, 1)
        assert (await client.post("/v1/chat/completions", headers=_auth(revoked), json=CHAT)).status_code == 200
        await publish(nats_url, nats_prefix, _signed(test_secrets, 2, [kept]))
        await wait_for_version(client, 2)
        refused = await client.post("/v1/chat/completions", headers=_auth(revoked), json=CHAT)
        still_ok = await client.post("/v1/chat/completions", headers=_auth(kept), json=CHAT)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert still_ok.status_code == 200


async def test_tampered_snapshots_are_refused_and_the_running_one_keeps_serving(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    key = make_key(test_secrets.secret_key)
    await publish(nats_url, nats_prefix, _signed(test_secrets, 1, [key]))
    async with running(dp_settings) as client:
        await wait_for_version(client, 1)

        signed = _signed(test_secrets, 2, [])
        bad_signature = msgspec.structs.replace(signed.pointer, signature=b"\x00" * 64)
        await publish(nats_url, nats_prefix, SignedSnapshot(data=signed.data, pointer=bad_signature))
        status = await wait_for_status(client, "signature rejection", lambda s: "signature" in (s["last_error"] or ""))
        assert status["config_version"] == 1
        assert (await client.post("/v1/chat/completions", headers=_auth(key), json=CHAT)).status_code == 200

        signed = _signed(test_secrets, 3, [])
        wrong_digest = msgspec.structs.replace(signed.pointer, sha256="ab" * 32)
        await publish(nats_url, nats_prefix, SignedSnapshot(data=signed.data, pointer=wrong_digest))
        status = await wait_for_status(client, "digest rejection", lambda s: "digest" in (s["last_error"] or ""))
        assert status["config_version"] == 1
        assert (await client.post("/v1/chat/completions", headers=_auth(key), json=CHAT)).status_code == 200

        await publish(nats_url, nats_prefix, _signed(test_secrets, 4, [key]))
        status = await wait_for_version(client, 4)
        assert status["last_error"] is None


async def test_status_bucket_receives_this_instances_status(
    dp_settings: DataPlaneSettings, test_secrets: TestSecrets, nats_url: str, nats_prefix: str
) -> None:
    await publish(nats_url, nats_prefix, _signed(test_secrets, 5, [make_key(test_secrets.secret_key)]))
    connection = await nats.connect(nats_url)
    try:
        store = await SnapshotStore.open(connection.jetstream(), make_buckets(nats_prefix))
        async with running(dp_settings) as client:
            await wait_for_version(client, 5)

            async def reported() -> bool:
                statuses = await store.read_statuses()
                return any(
                    s.instance == dp_settings.instance_id and s.version == 5 and not s.stale and s.last_error is None
                    for s in statuses
                )

            assert await eventually(reported, what="status report in the bucket")
    finally:
        await connection.close()


async def test_restart_without_nats_serves_the_disk_cache_marked_stale(
    test_secrets: TestSecrets, own_nats: OwnNats, tmp_path: Path
) -> None:
    prefix = unique_name("wpt")
    settings = make_settings(test_secrets, nats_url=own_nats.url, nats_prefix=prefix, cache_dir=tmp_path / "cache")
    key = make_key(test_secrets.secret_key)
    await publish(own_nats.url, prefix, _signed(test_secrets, 3, [key]))
    async with running(settings) as client:
        await wait_for_version(client, 3)

        async def cache_written() -> bool:  # the cache is written just after the apply, off the event loop
            return read_cache(settings.cache_dir) is not None

        await eventually(cache_written, what="the disk cache")

    own_nats.stop()
    async with running(settings) as client:
        assert (await client.get("/readyz")).status_code == 200
        status = (await client.get("/status")).json()
        assert status["config_version"] == 3
        assert status["stale"] is True
        assert status["nats_connected"] is False
        response = await client.post("/v1/chat/completions", headers=_auth(key), json=CHAT)
        assert response.status_code == 200

        own_nats.start()
        status = await wait_for_version(client, 3)
        assert status["nats_connected"] is True


async def test_without_cache_or_nats_the_plane_stays_unready(
    test_secrets: TestSecrets, own_nats: OwnNats, tmp_path: Path
) -> None:
    own_nats.stop()
    settings = make_settings(
        test_secrets, nats_url=own_nats.url, nats_prefix=unique_name("wpt"), cache_dir=tmp_path / "empty"
    )
    key = make_key(test_secrets.secret_key)
    async with running(settings) as client:
        ready = await client.get("/readyz")
        chat = await client.post("/v1/chat/completions", headers=_auth(key), json=CHAT)
        status = (await client.get("/status")).json()
    assert ready.status_code == 503
    assert chat.status_code == 503
    assert chat.json()["error"]["code"] == "config_unavailable"
    assert status["config_version"] is None
    assert status["nats_connected"] is False


async def test_disconnect_marks_stale_and_reconnect_resumes_applying(
    test_secrets: TestSecrets, own_nats: OwnNats, tmp_path: Path
) -> None:
    prefix = unique_name("wpt")
    settings = make_settings(test_secrets, nats_url=own_nats.url, nats_prefix=prefix, cache_dir=tmp_path / "cache")
    key = make_key(test_secrets.secret_key)
    await publish(own_nats.url, prefix, _signed(test_secrets, 1, [key]))
    async with running(settings) as client:
        await wait_for_version(client, 1)
        own_nats.stop()
        status = await wait_for_status(client, "stale after disconnect", lambda s: s["stale"] is True)
        assert status["nats_connected"] is False
        assert (await client.post("/v1/chat/completions", headers=_auth(key), json=CHAT)).status_code == 200

        own_nats.start()
        await wait_for_version(client, 1)
        await publish(own_nats.url, prefix, _signed(test_secrets, 2, []))
        await wait_for_version(client, 2)
        assert (await client.post("/v1/chat/completions", headers=_auth(key), json=CHAT)).status_code == 401
