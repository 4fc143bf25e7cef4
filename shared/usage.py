"""The usage contract between the planes (DESIGN.md §5, §6).

Data planes publish one `UsageEvent` per request to the JetStream stream `usage_stream(prefix)` on subject
`usage_subject(prefix)` with header `Nats-Msg-Id` = the request id (the stream's duplicate window drops a replay).
The control plane's ingester stores them, and publishes each budget's spend to the KV bucket
`spend_bucket(prefix)` (key = budget id) as a `BudgetSpend` that says which stream position it covers: a data plane
adds to it only the cost of its own events the spend does not cover yet (published at a higher stream sequence, or
not published at all), so no cost is counted twice.

Wire format: each message's payload is one `UsageEvent` encoded as msgpack (msgspec; `encode_usage_event` /
`decode_usage_event`), about half the size of JSON and faster to encode on the data plane's hot path. The stream's
configuration is `usage_stream_config(prefix)`: both the data planes (which publish) and the control plane's
ingester (which consumes) create the stream with it if it is missing, so neither needs the other to start first.
Its duplicate window (`USAGE_DUPLICATE_WINDOW_SECONDS`, 2 minutes) is how long a re-published request id is
dropped by JetStream itself; past it, the ingester's insert (`ON CONFLICT DO NOTHING`) is what keeps a replay from
being counted twice.
"""

from __future__ import annotations

import msgspec
from nats.js.api import StorageType, StreamConfig


class TokenUsage(msgspec.Struct, frozen=True, omit_defaults=True):
    """Tokens of one request in non-overlapping classes, so cost = sum of class x its price.

    - input: prompt tokens read at the full input price (OpenAI: prompt_tokens - cached_tokens; Anthropic:
      input_tokens)
    - cached_input: prompt tokens read from the provider's cache (OpenAI: prompt_tokens_details.cached_tokens;
      Anthropic: cache_read_input_tokens)
    - cache_write: prompt tokens written to the provider's cache (Anthropic: cache_creation_input_tokens)
    - output: completion tokens that are not reasoning (OpenAI: completion_tokens - reasoning_tokens)
    - reasoning: completion tokens spent reasoning (OpenAI: completion_tokens_details.reasoning_tokens)
    """

    input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        return self.input + self.cached_input + self.cache_write + self.output + self.reasoning


class UsageEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One request, whatever its outcome (success, refusal, upstream error, client disconnect: status 499), or one
    of its upstream attempts that did not answer (`parent_request_id` set)."""

    request_id: str  # UUIDv7; also the Nats-Msg-Id and the ledger's primary key
    # an attempt that did not answer (a retry or fallback followed, or none was left) has its own event, with
    # request_id `<the request's id>.<attempt number>` and the request's id here; the request's own event
    # describes the attempt that answered last
    parent_request_id: str | None = None
    time: int  # unix milliseconds when the request arrived
    instance: str  # the data plane that served it
    config_version: int | None
    method: str
    path: str
    status: int
    error_code: str | None = None
    key_id: str | None = None
    key_public_id: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    application_id: str | None = None
    environment: str | None = None
    route: str | None = None  # what the client asked for in `model`
    deployment_id: str | None = None  # the deployment that answered last
    deployment: str | None = None
    provider_kind: str | None = None
    upstream_model: str | None = None
    stream: bool = False
    attempts: int = 0
    tokens: TokenUsage = TokenUsage()
    estimated: bool = False  # the provider reported no usage; tokens are the gateway's estimate
    cost_micro_usd: int = 0
    price_id: str | None = None  # the PriceSpec used; None with cost 0: the deployment has no price
    latency_ms: float = 0.0
    ttft_ms: float | None = None  # streams: time to the first byte sent to the client
    cache_hit: bool = False
    guardrails: list[str] = []  # verdicts, once guardrails exist


class BudgetSpend(msgspec.Struct, frozen=True):
    """A budget's spend in its current period as the ledger knows it, covering every usage event at stream
    sequence ≤ `covers_stream_seq` and none above it."""

    budget_id: str
    period_start: int  # unix seconds; 0 for lifetime budgets
    spent_micro_usd: int
    covers_stream_seq: int
    computed_at: int  # unix milliseconds


USAGE_DUPLICATE_WINDOW_SECONDS = 120.0
USAGE_MAX_AGE_SECONDS = 7 * 24 * 3600.0  # the stream is a buffer; the ledger is the record


def usage_stream(prefix: str) -> str:
    return f"{prefix}_usage"


def usage_subject(prefix: str) -> str:
    return f"{prefix}.usage"


def usage_stream_config(prefix: str) -> StreamConfig:
    """The usage stream, as both planes create it when it is missing: file storage, the subject of every usage
    event, a 2-minute `Nats-Msg-Id` duplicate window, events kept a week (the ingester acks within seconds)."""
    return StreamConfig(
        name=usage_stream(prefix),
        subjects=[usage_subject(prefix)],
        storage=StorageType.FILE,
        duplicate_window=USAGE_DUPLICATE_WINDOW_SECONDS,
        max_age=USAGE_MAX_AGE_SECONDS,
    )


_event_encoder = msgspec.msgpack.Encoder()
_event_decoder = msgspec.msgpack.Decoder(UsageEvent)


def encode_usage_event(event: UsageEvent) -> bytes:
    return _event_encoder.encode(event)


def decode_usage_event(data: bytes) -> UsageEvent:
    """Raises msgspec.DecodeError (or ValidationError) on a payload that is not a UsageEvent."""
    return _event_decoder.decode(data)


def spend_bucket(prefix: str) -> str:
    return f"{prefix}_spend"


def rate_limit_gossip_subject(prefix: str) -> str:
    """Core NATS (not JetStream): each data plane's per-bucket counts, once a second."""
    return f"{prefix}.ratelimit.gossip"


_spend_encoder = msgspec.json.Encoder()
_spend_decoder = msgspec.json.Decoder(BudgetSpend)


def encode_spend(spend: BudgetSpend) -> bytes:
    """The value of key `spend.budget_id` in the spend bucket (JSON)."""
    return _spend_encoder.encode(spend)


def decode_spend(data: bytes) -> BudgetSpend:
    """Raises msgspec.DecodeError (or ValidationError) on a value that is not a BudgetSpend."""
    return _spend_decoder.decode(data)
