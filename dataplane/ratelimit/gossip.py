"""Rate-limit gossip over core NATS (DESIGN.md §5): once a second every worker opens a new round and publishes,
on `shared.usage.rate_limit_gossip_subject`, its cumulative per-bucket counts, its requests in flight and its lease
(what it may still admit in the round); it takes in everyone else's (idempotent max-merge, so a repeated or
reordered message is harmless) and watches for the echo of its own messages, which tells it that gossip works.
The NATS connection is the data plane's own (ConfigSync.connected_client); while it is down nothing is published
and the limiter falls back to `limit / last known replicas`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import msgspec
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from structlog.typing import FilteringBoundLogger

from dataplane.ratelimit.limiter import LimitState, PeerState, RateLimiter
from dataplane.ratelimit.window import Window
from shared.usage import rate_limit_gossip_subject

GOSSIP_INTERVAL_SECONDS = 1.0
STOP_ATTEMPTS = 10
CONNECT_POLL_SECONDS = 0.1  # until NATS is first connected: gossip as soon as it is
_TRANSIENT = (nats.errors.Error, asyncio.TimeoutError, OSError)


class LimitCounts(msgspec.Struct, frozen=True, array_like=True):
    limit_id: str
    inflight: int
    buckets: list[tuple[int, int, int, int]]  # (bucket, requests, tokens added, tokens released), cumulative
    # per dimension (requests, tokens, concurrent): what the sender may still admit in the round it just opened
    leases: tuple[float, float, float] = (0.0, 0.0, 0.0)


class GossipMessage(msgspec.Struct, frozen=True):
    instance: str
    seq: int
    limits: list[LimitCounts]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(GossipMessage)


def lease_of(state: LimitState) -> tuple[float, float, float]:
    share, spent = state.share, state.spent
    return (max(0.0, share[0] - spent[0]), max(0.0, share[1] - spent[1]), max(0.0, share[2] - spent[2]))


def make_message(limiter: RateLimiter, *, seq: int, now: float) -> GossipMessage:
    limits = [
        LimitCounts(
            limit_id=limit_id,
            inflight=state.inflight,
            buckets=[(b, c[0], c[1], c[2]) for b, c in sorted(state.window.live(now).items())],
            leases=lease_of(state),
        )
        for limit_id, state in limiter.states.items()
    ]
    return GossipMessage(instance=limiter.instance, seq=seq, limits=limits)


def merge_message(limiter: RateLimiter, message: GossipMessage, *, monotonic: float) -> None:
    """Take in one replica's message; our own echo only proves that gossip works."""
    if message.instance == limiter.instance:
        limiter.mark_echo()
        return
    peer = limiter.peers.get(message.instance)
    if peer is None:
        peer = limiter.peers[message.instance] = PeerState()
    newest = message.seq > peer.seq
    for counts in message.limits:
        window = peer.windows.get(counts.limit_id)
        if window is None:
            window = peer.windows[counts.limit_id] = Window()
        for bucket, requests, added, released in counts.buckets:
            window.merge(bucket, [requests, added, released])
    if newest:  # gauges (in-flight requests) and liveness come from the newest message only
        peer.seq = message.seq
        peer.last_seen = monotonic
        peer.inflight = {c.limit_id: c.inflight for c in message.limits}
        peer.leases = {c.limit_id: list(c.leases) for c in message.limits}


class Gossip:
    """Publishes this worker's counts every second and merges everyone's, over the shared NATS connection."""

    def __init__(
        self,
        *,
        limiter: RateLimiter,
        prefix: str,
        connection: Callable[[], NatsClient | None],
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        logger: FilteringBoundLogger,
        interval: float = GOSSIP_INTERVAL_SECONDS,
    ) -> None:
        self._limiter = limiter
        self._subject = rate_limit_gossip_subject(prefix)
        self._connection = connection
        self._clock = clock
        self._monotonic = monotonic
        self._log = logger
        self._interval = interval
        self._seq = 0
        self._client: NatsClient | None = None
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._round_now = asyncio.Event()
        limiter.on_new_limit = self._round_now.set

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="waypost-ratelimit-gossip")

    async def stop(self) -> None:
        task, self._task = self._task, None
        for _ in range(STOP_ATTEMPTS):  # nats-py can swallow a cancel: repeat it until the task has ended
            if task is None or task.done():
                break
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if self._subscription is not None:
            with contextlib.suppress(*_TRANSIENT):
                await asyncio.wait_for(self._subscription.unsubscribe(), 2)
            self._subscription = None

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except _TRANSIENT as exc:
                self._log.debug("ratelimit_gossip_failed", error=repr(exc))
            except Exception:
                self._log.exception("ratelimit_gossip_failed")
            wait = self._interval if self._client is not None else min(self._interval, CONNECT_POLL_SECONDS)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):  # unlike wait_for, never swallows a cancel
                    await self._round_now.wait()
            self._round_now.clear()

    async def round(self) -> None:
        """One round: new shares from the current view, then this worker's counts out."""
        self._limiter.start_round()
        client = self._connection()
        if client is None:
            return
        if self._client is not client:  # nats-py resubscribes by itself across reconnects of one client
            self._subscription = await client.subscribe(self._subject, cb=self._on_message)
            self._client = client
        self._seq += 1
        message = make_message(self._limiter, seq=self._seq, now=self._clock())
        await client.publish(self._subject, _encoder.encode(message))

    async def _on_message(self, msg: Msg) -> None:
        try:
            message = _decoder.decode(msg.data)
        except msgspec.DecodeError:
            self._log.warning("ratelimit_gossip_rejected", subject=msg.subject)
            return
        merge_message(self._limiter, message, monotonic=self._monotonic())
