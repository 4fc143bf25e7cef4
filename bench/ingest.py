"""The usage ingester's sustained rate: publish N usage events to JetStream first, then time one ingester
(batches of --batch) until the ledger's committed position covers them all, on a fresh PostgreSQL database.

Usage: python -m bench.ingest [--events 20000] [--batch 500] [--database postgresql+asyncpg://postgres@127.0.0.1/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid

import asyncpg
import nats
from sqlalchemy import text
from sqlalchemy.engine import make_url

from controlplane.db import migrate
from controlplane.db.session import make_engine, make_sessionmaker
from controlplane.ingest.consumer import UsageIngester, ensure_usage_stream
from shared.usage import TokenUsage, UsageEvent, encode_usage_event, usage_stream, usage_subject


def _event(rng: random.Random, now_ms: int) -> UsageEvent:
    key = rng.randrange(200)  # a key belongs to one user, team and environment, as in the gateway
    return UsageEvent(
        request_id=str(uuid.uuid4()),
        time=now_ms - rng.randrange(6 * 3_600_000),
        instance="bench",
        config_version=1,
        method="POST",
        path="/v1/chat/completions",
        status=rng.choice([200] * 9 + [429]),
        key_id=f"key-{key}",
        user_id=f"user-{key % 50}",
        team_id=f"team-{key % 10}",
        environment=("dev", "prod")[key % 2],
        route=rng.choice(["chat", "embed", "reason"]),
        deployment_id=f"dep-{rng.randrange(4)}",
        upstream_model=f"model-{rng.randrange(4)}",
        tokens=TokenUsage(input=rng.randrange(4000), output=rng.randrange(800), cached_input=rng.randrange(100)),
        cost_micro_usd=rng.randrange(50_000),
        latency_ms=rng.random() * 900,
    )


async def _admin(server_url: str, statement: str) -> None:
    connection = await asyncpg.connect(make_url(server_url).set(drivername="postgresql").render_as_string(False))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def run(events: int, batch: int, server_url: str, nats_url: str) -> None:
    name = f"waypost_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    client = await nats.connect(nats_url)
    engine = make_engine(url)
    try:
        await migrate.upgrade(url)
        js = client.jetstream()
        await ensure_usage_stream(js, prefix)
        rng, now_ms = random.Random(1), int(time.time() * 1000)
        for start in range(0, events, 1000):
            acks = [
                js.publish(usage_subject(prefix), encode_usage_event(_event(rng, now_ms)))
                for _ in range(min(1000, events - start))
            ]
            await asyncio.gather(*acks)
        ingester = UsageIngester(js=js, prefix=prefix, sessionmaker=make_sessionmaker(engine), batch_size=batch)
        started = time.perf_counter()
        task = asyncio.create_task(ingester.run())
        while ingester.committed_seq < events:
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with engine.connect() as connection:
            stored = (await connection.execute(text("SELECT count(*) FROM usage_events"))).scalar_one()
            groups = (await connection.execute(text("SELECT count(*) FROM usage_rollups_hourly"))).scalar_one()
        print(f"{events} events in {elapsed:.2f}s: {events / elapsed:,.0f} events/s (batch {batch}); ", end="")
        print(f"{stored} rows, {groups} rollup rows")
    finally:
        await engine.dispose()
        await client.jetstream().delete_stream(usage_stream(prefix))
        await client.close()
        await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--database", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    args = parser.parse_args()
    asyncio.run(run(args.events, args.batch, args.database, args.nats))


if __name__ == "__main__":
    main()
