"""Rate limits in memory (DESIGN.md §5): which limits apply to a request, whether it fits, and what it used.

Each limit has three dimensions: requests per minute, tokens per minute (reserved at admission, settled to the
actual total) and concurrent requests (a slot held until settlement). A replica's view of a dimension is its own
counts plus every peer's last gossiped counts. In a round (one per gossip interval, see `start_round`) its share
is `(limit - view - live peers' leases) / live replicas`, where a peer's lease is what it may still admit in its
own current round; it admits a request only if the view leaves room for it AND what it admitted in the round stays
within its share (the round's first request may exceed a share smaller than itself while view + leases leave
room). Its own lease goes out with its counts, so no share is ever promised twice. When gossip is lost (its own
messages stopped coming back) it enforces `limit / last known replica count` on its own counts alone. README
"Rate limits" derives the overshoot bound."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from dataplane.ratelimit.window import WINDOW_SECONDS, Window, bucket_of, first_live_bucket, leaves_window_at
from shared.snapshot import KeySpec, RateLimitSpec, RouteSpec

GOSSIP_LOST_SECONDS = 3.0  # no echo of our own gossip for this long: gossip is lost, fall back to limit / replicas
PEER_TIMEOUT_SECONDS = 3.0  # a peer not heard from for this long no longer counts as a live replica

REQUESTS, TOKENS, CONCURRENT = 0, 1, 2
DIMENSION_NAMES = ("requests per minute", "tokens per minute", "concurrent requests")


def limit_of(spec: RateLimitSpec, dimension: int) -> int | None:
    if dimension == REQUESTS:
        return spec.requests_per_minute
    if dimension == TOKENS:
        return spec.tokens_per_minute
    return spec.concurrent_requests


@dataclass(slots=True)
class LimitState:
    """This replica's counts for one limit and its allowance in the current round."""

    spec: RateLimitSpec
    window: Window = field(default_factory=Window)
    inflight: int = 0
    share: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # per dimension, this round
    spent: list[int] = field(default_factory=lambda: [0, 0, 0])  # admitted against the share this round
    round: int = 0
    last_used: float = 0.0  # unix seconds of the last admission (or creation): idle states are dropped


@dataclass(slots=True)
class PeerState:
    seq: int = -1
    last_seen: float = 0.0  # monotonic
    windows: dict[str, Window] = field(default_factory=dict)
    inflight: dict[str, int] = field(default_factory=dict)
    leases: dict[str, list[float]] = field(default_factory=dict)  # per limit: unspent share per dimension


@dataclass(frozen=True, slots=True)
class Usage:
    """One dimension of one limit as the replica sees it when deciding."""

    spec: RateLimitSpec
    dimension: int
    limit: float  # the effective limit (limit / replicas when gossip is lost)
    used: int
    reset_seconds: float  # until the oldest counted bucket leaves the window (0: nothing counted)

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.limit - self.used))


@dataclass(frozen=True, slots=True)
class Refusal:
    usage: Usage
    requested: int
    retry_after_seconds: int


@dataclass(frozen=True, slots=True)
class Decision:
    """What `RateLimiter.check` found: the first refusal, if any, and the tightest dimension of each kind."""

    refusal: Refusal | None
    tightest: dict[int, Usage]


class GossipRead(msgspec.Struct, frozen=True):
    healthy: bool  # its own gossip comes back: limits are global; else `limit / last_known_replicas` locally
    replicas: int  # itself and the peers heard from lately
    last_known_replicas: int


Index = dict[tuple[str, str | None], list[RateLimitSpec]]


def build_index(limits: list[RateLimitSpec]) -> Index:
    index: Index = {}
    for spec in limits:
        index.setdefault((spec.scope, spec.scope_id), []).append(spec)
    return index


def applicable(index: Index, key: KeySpec, route: RouteSpec) -> list[RateLimitSpec]:
    """The limits on the key's scopes whose model is unset or this route, most specific scope first."""
    scopes = (
        ("key", key.id),
        ("user", key.user_id),
        ("application", key.application_id),
        ("team", key.team_id),
        ("environment", key.environment),
        ("organization", None),
    )
    found: list[RateLimitSpec] = []
    for scope, scope_id in scopes:
        if scope != "organization" and scope_id is None:
            continue
        found.extend(s for s in index.get((scope, scope_id), ()) if s.model is None or s.model == route.name)
    return found


class RateLimiter:
    """The limits of one data-plane worker. Not thread-safe: used from its event loop only."""

    def __init__(
        self,
        *,
        instance: str,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        lost_after: float = GOSSIP_LOST_SECONDS,
        peer_timeout: float = PEER_TIMEOUT_SECONDS,
    ) -> None:
        self.instance = instance  # unique per worker process: gossip keys counts by it
        self._clock = clock  # unix seconds: bucket numbers must agree across replicas
        self._monotonic = monotonic
        self._lost_after = lost_after
        self._peer_timeout = peer_timeout
        self.states: dict[str, LimitState] = {}
        self.peers: dict[str, PeerState] = {}
        self._last_echo: float | None = None
        self.last_known_replicas = 1
        self._index_version: int | None = None
        self._index: Index = {}
        self.on_new_limit: Callable[[], None] | None = None

    # --- which limits apply ---------------------------------------------------------------------------------

    def limits_for(
        self, *, version: int, limits: list[RateLimitSpec], key: KeySpec, route: RouteSpec
    ) -> list[RateLimitSpec]:
        if version != self._index_version:
            self._index, self._index_version = build_index(limits), version
        return applicable(self._index, key, route)

    # --- gossip health and replicas -------------------------------------------------------------------------

    def mark_echo(self) -> None:
        """Our own gossip came back through NATS: gossip works."""
        self._last_echo = self._monotonic()

    def gossip_healthy(self) -> bool:
        return self._last_echo is not None and self._monotonic() - self._last_echo <= self._lost_after

    def read(self) -> GossipRead:
        return GossipRead(
            healthy=self.gossip_healthy(), replicas=self.live_replicas(), last_known_replicas=self.last_known_replicas
        )

    def live_replicas(self) -> int:
        now = self._monotonic()
        return 1 + sum(1 for peer in self.peers.values() if now - peer.last_seen <= self._peer_timeout)

    # --- views ----------------------------------------------------------------------------------------------

    def _state(self, spec: RateLimitSpec) -> LimitState:
        state = self.states.get(spec.id)
        if state is None:
            state = self.states[spec.id] = LimitState(spec=spec, last_used=self._clock())
            self._open_round(state, healthy=self.gossip_healthy(), replicas=self.live_replicas())
            if self.on_new_limit is not None:
                self.on_new_limit()  # peers must learn of the new share (lease) now, not within the second
        else:
            state.spec = spec  # the newest snapshot's numbers apply at once
        return state

    def _peer_leases(self, state: LimitState, dimension: int) -> float:
        """What live peers may still admit in their current rounds, which this worker's share must not promise."""
        alive = self._monotonic() - self._peer_timeout
        return sum(
            lease[dimension]
            for p in self.peers.values()
            if p.last_seen >= alive and (lease := p.leases.get(state.spec.id)) is not None
        )

    def _used(self, state: LimitState, dimension: int, now: float, *, with_peers: bool) -> int:
        if dimension == CONCURRENT:
            used = state.inflight
            if with_peers:
                alive = self._monotonic() - self._peer_timeout
                used += sum(p.inflight.get(state.spec.id, 0) for p in self.peers.values() if p.last_seen >= alive)
            return used
        windows = [state.window]
        if with_peers:
            windows += [w for p in self.peers.values() if (w := p.windows.get(state.spec.id)) is not None]
        if dimension == REQUESTS:
            return sum(w.requests(now) for w in windows)
        return sum(w.tokens(now) for w in windows)

    def _committed(self, state: LimitState, dimension: int, now: float, *, healthy: bool) -> float:
        """Everything counted, plus what live peers may still admit in their rounds."""
        used = float(self._used(state, dimension, now, with_peers=healthy))
        return used + self._peer_leases(state, dimension) if healthy else used

    def _reset_seconds(self, state: LimitState, dimension: int, now: float, *, with_peers: bool) -> float:
        if dimension == CONCURRENT:
            return 0.0
        windows = [state.window]
        if with_peers:
            windows += [w for p in self.peers.values() if (w := p.windows.get(state.spec.id)) is not None]
        oldest = [b for w in windows if (b := w.oldest_used_bucket(now, tokens=dimension == TOKENS)) is not None]
        return max(0.0, leaves_window_at(min(oldest)) - now) if oldest else 0.0

    def usage_of(self, spec: RateLimitSpec, dimension: int) -> Usage | None:
        return self.usage(self._state(spec), dimension)

    def new_count_reset_seconds(self) -> float:
        """When something counted now leaves the window."""
        now = self._clock()
        return leaves_window_at(bucket_of(now)) - now

    def usage(self, state: LimitState, dimension: int) -> Usage | None:
        limit = limit_of(state.spec, dimension)
        if limit is None:
            return None
        now = self._clock()
        healthy = self.gossip_healthy()
        effective = limit if healthy else limit / self.last_known_replicas
        return Usage(
            spec=state.spec,
            dimension=dimension,
            limit=effective,
            used=self._used(state, dimension, now, with_peers=healthy),
            reset_seconds=self._reset_seconds(state, dimension, now, with_peers=healthy),
        )

    # --- rounds ---------------------------------------------------------------------------------------------

    def _open_round(self, state: LimitState, *, healthy: bool, replicas: int) -> None:
        now = self._clock()
        state.round += 1
        for dimension in (REQUESTS, TOKENS, CONCURRENT):
            limit = limit_of(state.spec, dimension)
            committed = self._committed(state, dimension, now, healthy=healthy)
            state.share[dimension] = 0.0 if limit is None else max(0.0, limit - committed) / replicas
            state.spent[dimension] = 0

    def start_round(self) -> None:
        """Called once per gossip interval, just before this replica publishes its counts: every share is
        recomputed from the current view and what was admitted against it starts again from zero."""
        healthy = self.gossip_healthy()
        replicas = self.live_replicas()
        if healthy:
            self.last_known_replicas = replicas
        now = self._clock()
        for limit_id, state in list(self.states.items()):
            state.window.prune(now)
            if state.window.is_empty() and state.inflight == 0 and now - state.last_used > WINDOW_SECONDS:
                del self.states[limit_id]
                continue
            self._open_round(state, healthy=healthy, replicas=replicas)
        oldest_peer = self._monotonic() - WINDOW_SECONDS
        for instance, peer in list(self.peers.items()):
            for window in peer.windows.values():
                window.prune(now)
            if peer.last_seen < oldest_peer:
                del self.peers[instance]

    # --- admission ------------------------------------------------------------------------------------------

    def check(self, specs: list[RateLimitSpec], *, reserved_tokens: int) -> Decision:
        """Whether every applying limit has room (nothing is counted yet)."""
        healthy = self.gossip_healthy()
        costs = (1, reserved_tokens, 1)
        tightest: dict[int, Usage] = {}
        refusal: Refusal | None = None
        for spec in specs:
            state = self._state(spec)
            for dimension in (REQUESTS, TOKENS, CONCURRENT):
                usage = self.usage(state, dimension)
                if usage is None:
                    continue
                cost = costs[dimension]
                if refusal is None:
                    refusal = self._refusal(state, usage, cost, healthy=healthy)
                best = tightest.get(dimension)
                if best is None or usage.limit - usage.used < best.limit - best.used:
                    tightest[dimension] = usage
        return Decision(refusal=refusal, tightest=tightest)

    def _refusal(self, state: LimitState, usage: Usage, cost: int, *, healthy: bool) -> Refusal | None:
        if usage.used + cost > usage.limit:
            wait = 1 if usage.dimension == CONCURRENT else max(1, math.ceil(usage.reset_seconds))
            if usage.used == 0:  # a request larger than the whole limit: waiting will not help
                wait = math.ceil(WINDOW_SECONDS)
            return Refusal(usage=usage, requested=cost, retry_after_seconds=wait)
        dimension = usage.dimension
        spent = state.spent[dimension]
        if not healthy or spent + cost <= state.share[dimension]:
            return None
        # A share smaller than one request still lets the round's first request through if nothing any live
        # replica may still admit is promised away (so small limits stay usable).
        if spent == 0 and self._committed(state, dimension, self._clock(), healthy=True) + cost <= usage.limit:
            return None
        return Refusal(usage=usage, requested=cost, retry_after_seconds=1)  # the next round brings a new share

    def commit(self, specs: list[RateLimitSpec], *, reserved_tokens: int) -> list[Held]:
        """Count an admitted request in every applying limit; the returned holds are settled at its end."""
        bucket = bucket_of(self._clock())
        held: list[Held] = []
        for spec in specs:
            state = self._state(spec)
            state.window.add(bucket, requests=1, tokens=reserved_tokens)
            state.inflight += 1
            state.last_used = self._clock()
            state.spent[REQUESTS] += 1
            state.spent[TOKENS] += reserved_tokens
            state.spent[CONCURRENT] += 1
            held.append(Held(state=state, bucket=bucket, reserved_tokens=reserved_tokens, round=state.round))
        return held

    def settle(self, held: list[Held], *, actual_tokens: int) -> None:
        """Replace the reservation by the actual tokens and free the concurrency slot."""
        now = self._clock()
        for hold in held:
            state = hold.state
            state.inflight = max(0, state.inflight - 1)
            difference = actual_tokens - hold.reserved_tokens
            if hold.round == state.round:  # what it really used counts against this round's share
                state.spent[TOKENS] = max(0, state.spent[TOKENS] + difference)
                state.spent[CONCURRENT] = max(0, state.spent[CONCURRENT] - 1)  # a slot given back is free again
            if hold.bucket >= first_live_bucket(now):
                state.window.add(hold.bucket, tokens=difference)
            elif difference > 0:  # the reservation already left the window; the excess still counts, now
                state.window.add(bucket_of(now), tokens=difference)


@dataclass(slots=True)
class Held:
    state: LimitState
    bucket: int
    reserved_tokens: int
    round: int


def make_rate_limiter(
    instance_id: str = "dataplane",
    *,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> RateLimiter:
    """A limiter for one worker process. Granian workers of one data plane share its instance id, so a random
    suffix keeps their gossip apart."""
    return RateLimiter(instance=f"{instance_id}/{uuid.uuid4().hex[:8]}", clock=clock, monotonic=monotonic)
