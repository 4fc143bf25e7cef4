"""The publisher builds a consistent snapshot from PostgreSQL, signs it and moves the JetStream pointer,
only when the content changed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import nats
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from controlplane.db.models import (
    Deployment,
    Environment,
    Key,
    Organization,
    Provider,
    Route,
    RouteTarget,
    Team,
    User,
)
from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.snapshots.build import read_revision
from controlplane.snapshots.publisher import SnapshotPublisher
from shared.buckets import make_buckets
from shared.codec import open_snapshot
from shared.crypto import load_signing_key, load_verify_key
from shared.transport import SNAPSHOT_HISTORY, SnapshotStore
from tests.conftest import TestSecrets


@pytest.fixture
async def sessionmaker(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(pg_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def store(nats_url: str, nats_prefix: str) -> AsyncIterator[SnapshotStore]:
    client = await nats.connect(nats_url)
    yield await SnapshotStore.create(client.jetstream(), make_buckets(nats_prefix))
    await client.close()


async def _seed(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[str, str]:
    async with sessionmaker() as session, session.begin():
        org = (await session.scalars(select(Organization))).one()
        dev = (await session.scalars(select(Environment).where(Environment.name == "dev"))).one()
        team = Team(organization_id=org.id, name="search")
        provider = Provider(name="mock", kind="mock", base_url="")
        session.add_all([team, provider])
        await session.flush()
        deployment = Deployment(name="mock-small", provider_id=provider.id, model="mock-1")
        session.add(deployment)
        await session.flush()
        route = Route(name="demo", targets=[RouteTarget(position=0, deployment_id=deployment.id)])
        key = Key(public_id="abcdefghijkl", secret_hash="0" * 64, team_id=team.id, environment_id=dev.id)
        expired = Key(
            public_id="expiredkey01",
            secret_hash="1" * 64,
            team_id=team.id,
            environment_id=dev.id,
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
        session.add_all([route, key, expired])
    return key.id, team.id


def _publisher(
    sessionmaker: async_sessionmaker[AsyncSession], store: SnapshotStore, secrets: TestSecrets
) -> SnapshotPublisher:
    return SnapshotPublisher(
        sessionmaker=sessionmaker, store=store, signing_key=load_signing_key(secrets.signing_key), debounce_seconds=0.01
    )


async def test_publishes_a_signed_consistent_snapshot_and_skips_unchanged_content(
    sessionmaker: async_sessionmaker[AsyncSession], store: SnapshotStore, test_secrets: TestSecrets
) -> None:
    key_id, team_id = await _seed(sessionmaker)
    publisher = _publisher(sessionmaker, store, test_secrets)

    pointer = await publisher.publish_if_changed()
    assert pointer is not None
    async with sessionmaker() as session:
        assert pointer.version == await read_revision(session)
    assert await store.read_pointer() == pointer

    data = await store.read_object(pointer.object)
    snapshot = open_snapshot(
        data, sha256=pointer.sha256, signature=pointer.signature, public_key=load_verify_key(test_secrets.verify_key)
    )
    assert [k.public_id for k in snapshot.keys] == ["abcdefghijkl"]  # the expired key is not shipped
    assert snapshot.keys[0].team_id == team_id and snapshot.keys[0].environment == "dev"
    assert [r.name for r in snapshot.routes] == ["demo"]
    assert snapshot.routes[0].deployment_ids == [snapshot.deployments[0].id]

    assert await store.read_processed() == pointer.version
    async with sessionmaker() as session, session.begin():
        session.add(User(email="no-config@example.com"))  # a change no data plane sees: new revision, same content
    assert await publisher.publish_if_changed() is None  # same content: the pointer does not move
    async with sessionmaker() as session:
        assert await store.read_processed() == await read_revision(session) > pointer.version

    async with sessionmaker() as session, session.begin():
        key = await session.get(Key, key_id)
        assert key is not None
        key.revoked_at = datetime.now(UTC)
    revoked = await publisher.publish_if_changed()
    assert revoked is not None and revoked.version > pointer.version
    revoked_snapshot = open_snapshot(
        await store.read_object(revoked.object),
        sha256=revoked.sha256,
        signature=revoked.signature,
        public_key=load_verify_key(test_secrets.verify_key),
    )
    assert revoked_snapshot.keys == []


async def test_a_fresh_publisher_does_not_republish_what_is_already_published(
    sessionmaker: async_sessionmaker[AsyncSession], store: SnapshotStore, test_secrets: TestSecrets
) -> None:
    await _seed(sessionmaker)
    assert await _publisher(sessionmaker, store, test_secrets).publish_if_changed() is not None
    assert await _publisher(sessionmaker, store, test_secrets).publish_if_changed() is None


async def test_old_snapshot_objects_are_pruned(
    sessionmaker: async_sessionmaker[AsyncSession], store: SnapshotStore, test_secrets: TestSecrets
) -> None:
    await _seed(sessionmaker)
    publisher = _publisher(sessionmaker, store, test_secrets)
    for index in range(SNAPSHOT_HISTORY + 3):
        async with sessionmaker() as session, session.begin():
            session.add(Team(organization_id=(await session.scalars(select(Organization))).one().id, name=f"t{index}"))
        assert await publisher.publish_if_changed() is not None
    names = [i.name for i in await store.snapshots.list(ignore_deletes=True)]
    assert len(names) == SNAPSHOT_HISTORY
    newest = await store.read_pointer()
    assert newest is not None and newest.object in names


async def test_every_config_change_bumps_the_revision_in_the_same_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        before = await read_revision(session)
    async with sessionmaker() as session, session.begin():
        session.add(Provider(name="p1", kind="mock", base_url=""))
        session.add(Provider(name="p2", kind="mock", base_url=""))
    async with sessionmaker() as session:
        after_insert = await read_revision(session)
    async with sessionmaker() as session, session.begin():
        provider = (await session.scalars(select(Provider).where(Provider.name == "p1"))).one()
        provider.base_url = "http://127.0.0.1:1"
    async with sessionmaker() as session:
        after_update = await read_revision(session)
    async with sessionmaker() as session:
        await session.scalars(select(Provider))  # reads alone do not bump
        await session.commit()
        assert await read_revision(session) == after_update
    assert after_insert == before + 1
    assert after_update == after_insert + 1
