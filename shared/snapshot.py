"""Config snapshot schema: everything a data plane needs to serve, shipped as one signed object.

New fields always get defaults so that older data planes keep decoding newer snapshots.
"""

from __future__ import annotations

import msgspec

from shared.route_policy import RoutePolicy, RouteRule


class TeamSpec(msgspec.Struct, frozen=True):
    id: str
    name: str
    models: list[str] | None = None  # route allow-list; None means every route


class ApplicationSpec(msgspec.Struct, frozen=True):
    id: str
    team_id: str
    name: str
    models: list[str] | None = None


class EnvironmentSpec(msgspec.Struct, frozen=True):
    name: str
    models: list[str] | None = None


class KeySpec(msgspec.Struct, frozen=True, gc=False):
    """An active API key. Revoked keys are not shipped at all. Not tracked by the cycle collector (`gc=False`: its
    fields hold strings, a list and a dict of strings, never a cycle): with 100k keys, the collector's passes over
    them made decoding a snapshot 3 to 5 times slower and would lengthen every full collection while serving."""

    id: str
    public_id: str
    secret_hash: str  # hex HMAC-SHA256(pepper, secret); the secret itself never leaves the creator
    environment: str
    team_id: str
    user_id: str | None = None
    application_id: str | None = None
    expires_at: int | None = None  # unix seconds
    models: list[str] | None = None  # route names this key may call; None means every route
    # after a rotation, the replaced secret's hash stays valid until `previous_valid_until` (unix seconds)
    previous_secret_hash: str | None = None
    previous_valid_until: int | None = None
    metadata: dict[str, str] = {}


class ProviderSpec(msgspec.Struct, frozen=True):
    id: str
    name: str
    kind: str  # one of shared.snapshot.PROVIDER_KINDS
    base_url: str
    # JSON {"api_key": ...} sealed (AES-256-GCM) by shared.crypto.MasterSecret with context = the provider id
    sealed_credentials: bytes | None = None


class DeploymentSpec(msgspec.Struct, frozen=True):
    id: str
    name: str
    provider_id: str
    model: str  # the upstream model name
    timeout_seconds: float = 60.0
    require_price: bool = False  # refuse calls while no PriceSpec is in effect for this deployment


class RouteSpec(msgspec.Struct, frozen=True):
    id: str
    name: str  # what clients put in `model`
    deployment_ids: list[str]  # targets in priority order
    environments: list[str] = []  # environment names allowed; empty means all
    strategy: str = "priority"  # one of ROUTE_STRATEGIES
    weights: list[int] = []  # with "weighted": one per target, in the same order; empty means 1 each
    rules: list[RouteRule] = []  # conditional routing: the first matching rule's targets replace these
    policy: RoutePolicy = RoutePolicy()  # retry and fallback overrides


class RateLimitSpec(msgspec.Struct, frozen=True):
    """Limits on one scope (optionally one route), each enforced by every data plane (DESIGN.md §5)."""

    id: str
    scope: str  # one of SCOPES
    scope_id: str | None  # the scope's id (environment: its name; organization: None)
    model: str | None = None  # a route name: the limit counts only calls to that route; None: every route
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    concurrent_requests: int | None = None


class PriceSpec(msgspec.Struct, frozen=True):
    """The price of one deployment from `effective_from` on; `id` is the price version usage events record.
    Prices are integer micro-USD per million tokens of each (non-overlapping) class of shared.usage.TokenUsage."""

    id: str
    deployment_id: str
    effective_from: int  # unix seconds
    input: int
    output: int
    cached_input: int | None = None  # None: priced as input
    cache_write: int | None = None  # None: priced as input
    reasoning: int | None = None  # None: priced as output


class BudgetSpec(msgspec.Struct, frozen=True):
    """A spending limit on one scope (optionally one route). Data planes admit a request only if every matching
    hard budget has room for its reservation (DESIGN.md §5)."""

    id: str
    name: str
    scope: str  # one of SCOPES
    scope_id: str | None
    amount_micro_usd: int
    period: str  # one of BUDGET_PERIODS
    model: str | None = None  # a route name; None: every route
    timezone: str = "UTC"  # IANA name; calendar periods start at midnight there
    hard: bool = True  # False: soft, only alerts
    on_stale: str = "closed"  # one of BUDGET_STALE_POLICIES: spend data older than 60 s
    alert_thresholds: list[int] = []  # percent of the amount


class Snapshot(msgspec.Struct, frozen=True):
    version: int
    created_at: int  # unix milliseconds
    teams: list[TeamSpec] = []
    applications: list[ApplicationSpec] = []
    environments: list[EnvironmentSpec] = []
    keys: list[KeySpec] = []
    providers: list[ProviderSpec] = []
    deployments: list[DeploymentSpec] = []
    routes: list[RouteSpec] = []
    rate_limits: list[RateLimitSpec] = []
    prices: list[PriceSpec] = []
    budgets: list[BudgetSpec] = []


class SnapshotPointer(msgspec.Struct, frozen=True):
    """The KV value that names the newest snapshot object."""

    version: int
    object: str
    sha256: str  # hex digest of the object bytes
    signature: bytes  # Ed25519 over the object bytes
    content_sha256: str  # hex digest of the snapshot content without version and time
    published_at: int  # unix milliseconds


class DataPlaneStatus(msgspec.Struct, frozen=True):
    instance: str
    version: int | None
    stale: bool
    last_error: str | None
    reported_at: int  # unix milliseconds


# the OpenAI-compatible family: OpenAI's protocol, each with its own default URL and quirks (dataplane.providers.compat)
OPENAI_COMPATIBLE_KINDS = (
    "openai_compatible",
    "mistral",
    "groq",
    "together",
    "deepseek",
    "xai",
    "fireworks",
    "openrouter",
    "ollama",
    "vllm",
)
# the base URL a provider of each kind gets when it is created without one (the public API); kinds missing here
# (openai_compatible, vllm, azure_openai, vertex_ai, bedrock) require one. The mock is served in the data plane.
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "mistral": "https://api.mistral.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.xyz/v1",
    "deepseek": "https://api.deepseek.com",
    "xai": "https://api.x.ai/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "ollama": "http://localhost:11434/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
    "cohere": "https://api.cohere.com",
    "mock": "",
}
PROVIDER_KINDS = (
    "openai",
    *OPENAI_COMPATIBLE_KINDS,
    "anthropic",
    "azure_openai",
    "gemini",
    "vertex_ai",
    "bedrock",
    "cohere",
    "mock",
)
# priority: the first target serves, the others are fallbacks in order; weighted: the first attempt goes to a
# target picked by weight (or by the caller's assignment id), the others are fallbacks in priority order;
# least_latency: targets ordered by each data plane's moving average of their time to answer
# lowest_cost: targets ordered by the price in effect (input + output per million tokens); unpriced ones last
ROUTE_STRATEGIES = ("priority", "weighted", "least_latency", "lowest_cost")
# what rate limits and budgets attach to; a key's scope id is KeySpec.id, an environment's is its name
SCOPES = ("key", "user", "application", "team", "environment", "organization")
BUDGET_PERIODS = ("daily", "weekly", "monthly", "lifetime")
BUDGET_STALE_POLICIES = ("closed", "open", "local_share")


class SnapshotInvalidError(ValueError):
    """A snapshot whose references do not resolve."""


def check_consistency(snapshot: Snapshot) -> None:
    """Raise SnapshotInvalidError unless every reference inside the snapshot resolves."""
    team_ids = {t.id for t in snapshot.teams}
    provider_ids = {p.id for p in snapshot.providers}
    deployment_ids = {d.id for d in snapshot.deployments}
    route_names = [r.name for r in snapshot.routes]
    if len(set(route_names)) != len(route_names):
        raise SnapshotInvalidError("duplicate route names")
    for provider in snapshot.providers:
        if provider.kind not in PROVIDER_KINDS:
            raise SnapshotInvalidError(f"provider {provider.id} has unknown kind {provider.kind!r}")
    application_ids = {a.id for a in snapshot.applications}
    for application in snapshot.applications:
        if application.team_id not in team_ids:
            raise SnapshotInvalidError(f"application {application.id} references unknown team")
    for key in snapshot.keys:
        if key.team_id not in team_ids:
            raise SnapshotInvalidError(f"key {key.public_id} references unknown team {key.team_id}")
        if key.application_id is not None and key.application_id not in application_ids:
            raise SnapshotInvalidError(f"key {key.public_id} references unknown application")
    for deployment in snapshot.deployments:
        if deployment.provider_id not in provider_ids:
            raise SnapshotInvalidError(f"deployment {deployment.id} references unknown provider")
    for route in snapshot.routes:
        if not route.deployment_ids or any(not rule.deployment_ids for rule in route.rules):
            raise SnapshotInvalidError(f"route {route.name} has a rule or default with no targets")
        if route.strategy not in ROUTE_STRATEGIES:
            raise SnapshotInvalidError(f"route {route.name} has unknown strategy {route.strategy!r}")
        if route.weights and (len(route.weights) != len(route.deployment_ids) or min(route.weights) < 1):
            raise SnapshotInvalidError(f"route {route.name} needs one positive weight per target")
        missing = [d for d in route.deployment_ids if d not in deployment_ids]
        missing += [d for rule in route.rules for d in rule.deployment_ids if d not in deployment_ids]
        if missing:
            raise SnapshotInvalidError(f"route {route.name} references unknown deployments {missing}")
    _check_billing(snapshot, deployment_ids)
    _check_rate_limits(snapshot)


def _check_billing(snapshot: Snapshot, deployment_ids: set[str]) -> None:
    for price in snapshot.prices:
        if price.deployment_id not in deployment_ids:
            raise SnapshotInvalidError(f"price {price.id} references unknown deployment")
    for budget in snapshot.budgets:
        if budget.scope not in SCOPES or budget.period not in BUDGET_PERIODS:
            raise SnapshotInvalidError(f"budget {budget.id} has unknown scope or period")
        if budget.on_stale not in BUDGET_STALE_POLICIES:
            raise SnapshotInvalidError(f"budget {budget.id} has unknown on_stale policy {budget.on_stale!r}")
        if (budget.scope == "organization") != (budget.scope_id is None):
            raise SnapshotInvalidError(f"budget {budget.id}: a scope id is needed unless the scope is organization")


def _check_rate_limits(snapshot: Snapshot) -> None:
    known: dict[str, set[str]] = {
        "key": {k.id for k in snapshot.keys},
        "application": {a.id for a in snapshot.applications},
        "team": {t.id for t in snapshot.teams},
        "environment": {e.name for e in snapshot.environments},
    }
    routes = {r.name for r in snapshot.routes}
    for limit in snapshot.rate_limits:
        if limit.scope not in SCOPES or (limit.scope == "organization") != (limit.scope_id is None):
            raise SnapshotInvalidError(f"rate limit {limit.id} has an unknown scope or a wrong scope id")
        if limit.scope in known and limit.scope_id not in known[limit.scope]:
            raise SnapshotInvalidError(f"rate limit {limit.id} references unknown {limit.scope}")
        if limit.model is not None and limit.model not in routes:
            raise SnapshotInvalidError(f"rate limit {limit.id} references unknown route {limit.model}")
        values = [limit.requests_per_minute, limit.tokens_per_minute, limit.concurrent_requests]
        if all(v is None for v in values) or any(v is not None and v < 1 for v in values):
            raise SnapshotInvalidError(f"rate limit {limit.id} needs at least one limit, each positive")
