"""Rate-limit gossip between several limiters over a real NATS server: counts reach every replica, a limit holds
globally within the documented bound, and a replica that loses gossip falls back to `limit / replicas`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import nats
import pytest
from nats.aio.client import Client as NatsClient

from dataplane.errors import RateLimitedError
from dataplane.observability import RequestRecord
from dataplane.ratelimit.admission import admit_rate_limits
from dataplane.ratelimit.gossip import Gossip
from dataplane.ratelimit.limiter import REQUESTS, RateLimiter
from shared.logs import make_logger
from shared.snapshot import KeySpec, RateLimitSpec, RouteSpec

INTERVAL = 0.2  # gossip rounds, shortened for the test
LOST_AFTER = 0.8
KEY = KeySpec(id="key-1", public_id="pub1", secret_hash="00", environment="dev", team_id="team-1")
ROUTE = RouteSpec(id="route-1", name="chat", deployment_ids=["d"])


@dataclass
class Replica:
    limiter: RateLimiter
    gossip: Gossip
    client: NatsClient
    connected: bool = True

    def connection(self) -> NatsClient | None:
        return self.client if self.connected else None


@asynccontextmanager
async def replicas(nats_url: str, prefix: str, count: int) -> AsyncIterator[list[Replica]]:
    started: list[Replica] = []
    try:
        for index in range(count):
            client = await nats.connect(nats_url)
            limiter = RateLimiter(
                instance=f"replica-{index}",
                clock=time.time,
                monotonic=time.monotonic,
                lost_after=LOST_AFTER,
                peer_timeout=LOST_AFTER,
            )
            replica = Replica(limiter=limiter, gossip=None, client=client)  # type: ignore[arg-type]
            replica.gossip = Gossip(
                limiter=limiter,
                prefix=prefix,
                connection=replica.connection,
                clock=time.time,
                monotonic=time.monotonic,
                logger=make_logger("warning"),
                interval=INTERVAL,
            )
            replica.gossip.start()
            started.append(replica)
        yield started
    finally:
        for replica in started:
            await replica.gossip.stop()
            await replica.client.close()


async def until(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def try_admit(limiter: RateLimiter, limit: RateLimitSpec) -> bool:
    record = RequestRecord(request_id="r", method="POST", path="/v1/chat/completions", started=0.0)
    try:
        admission = admit_rate_limits(
            limiter, version=1, limits=[limit], key=KEY, route=ROUTE, record=record, reserved_tokens=1
        )
    except RateLimitedError:
        return False
    assert admission is not None
    return True


def requests_seen(replica: Replica, limit: RateLimitSpec) -> int:
    usage = replica.limiter.usage_of(limit, REQUESTS)
    assert usage is not None
    return usage.used


def rpm(limit: int) -> RateLimitSpec:
    return RateLimitSpec(id="limit-1", scope="key", scope_id=KEY.id, requests_per_minute=limit)


async def test_counts_reach_every_replica(nats_url: str, nats_prefix: str) -> None:
    async with replicas(nats_url, nats_prefix, 3) as group:
        await until(lambda: all(r.limiter.gossip_healthy() and r.limiter.live_replicas() == 3 for r in group))
        limit = rpm(1000)
        for _ in range(7):
            assert try_admit(group[0].limiter, limit)
        for _ in range(5):
            assert try_admit(group[1].limiter, limit)
        await until(lambda: all(requests_seen(r, limit) == 12 for r in group))


@pytest.mark.parametrize("limit_value", [60, 200])
async def test_a_limit_holds_across_replicas_within_the_bound(
    nats_url: str, nats_prefix: str, limit_value: int
) -> None:
    async with replicas(nats_url, nats_prefix, 3) as group:
        await until(lambda: all(r.limiter.live_replicas() == 3 and r.limiter.gossip_healthy() for r in group))
        limit = rpm(limit_value)
        admitted = 0
        attempts = 0
        ends = time.monotonic() + 3.0  # many rounds, all within one minute's window
        while time.monotonic() < ends:
            admitted += try_admit(group[attempts % 3].limiter, limit)
            attempts += 1
            await asyncio.sleep(0.002)
        print(f"limit {limit_value}: admitted {admitted} of {attempts} over 3 replicas")
        assert admitted <= limit_value + (3 - 1)  # README "Rate limits": at most one request per other replica
        assert admitted >= limit_value // 2  # shares reach what is left within a few rounds


async def test_a_replica_that_loses_gossip_enforces_limit_over_replicas(nats_url: str, nats_prefix: str) -> None:
    async with replicas(nats_url, nats_prefix, 3) as group:
        await until(lambda: all(r.limiter.live_replicas() == 3 and r.limiter.gossip_healthy() for r in group))
        cut_off = group[0]
        cut_off.connected = False  # what ConfigSync.connected_client says while NATS is down
        await until(lambda: not cut_off.limiter.gossip_healthy())
        await until(lambda: group[1].limiter.live_replicas() == 2)  # the others stop counting it
        limit = rpm(90)
        admitted = sum(try_admit(cut_off.limiter, limit) for _ in range(100))
        assert admitted == 30  # 90 / 3 last known replicas

        cut_off.connected = True
        await until(lambda: cut_off.limiter.gossip_healthy() and group[1].limiter.live_replicas() == 3)
        await until(lambda: requests_seen(group[2], limit) == 30)
