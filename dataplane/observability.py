"""Per-request observation: the `RequestRecord`, and the plain-ASGI middleware that stamps `x-request-id` and
`x-waypost-overhead-ms` on every response (and `x-waypost-target`/`x-waypost-attempts` on those that reached an
upstream) and writes the one canonical `request_completed` line."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import FilteringBoundLogger

from dataplane.errors import InternalError, error_response
from dataplane.ids import make_request_id
from shared.logs import LineWriter
from shared.snapshot import KeySpec
from shared.usage import TokenUsage

if TYPE_CHECKING:
    from dataplane.admission import Admission, AdmissionPlan

RECORD_SCOPE_KEY = "waypost.record"


class RequestCompleted(msgspec.Struct, frozen=True):
    """The canonical `request_completed` line's fields: flat, no secrets (ids, names from the config, our codes)."""

    request_id: str
    method: str
    path: str
    status: int
    route: str | None
    deployment: str | None
    provider_kind: str | None
    key_public_id: str | None
    team_id: str | None
    environment: str | None
    stream: bool
    duration_ms: float
    overhead_ms: float
    upstream_ms: float
    retry_wait_ms: float
    attempts: int
    error_code: str | None


@dataclass(slots=True)
class RequestRecord:
    """What one request did, filled in by the steps as they learn it; becomes the canonical log line."""

    request_id: str
    method: str
    path: str
    started: float  # perf_counter
    started_unix: float = 0.0  # the runtime's clock, for the usage event's time
    status: int = 0
    config_version: int | None = None
    route: str | None = None
    deployment_id: str | None = None
    deployment: str | None = None
    provider_kind: str | None = None
    upstream_model: str | None = None
    key_id: str | None = None
    key_public_id: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    application_id: str | None = None
    environment: str | None = None
    stream: bool = False
    reserved_tokens: int = 0  # the admission estimate (prompt + max output) that limits and budgets reserved
    usage: TokenUsage | None = None  # what the provider reported (or, with usage_estimated, the gateway's estimate)
    usage_estimated: bool = False
    cost_micro_usd: int = 0
    price_id: str | None = None
    first_byte_seconds: float | None = None  # streams: from arrival to the first body byte sent
    # added to the response's headers when it starts (e.g. x-ratelimit-*), by the steps that know them
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # admissions (rate limits, budgets) made for this request; each is settled exactly once when it ends
    admissions: list[Admission] = field(default_factory=list)
    admission_plan: AdmissionPlan | None = None  # what each attempt is admitted with (dataplane.admission)
    upstream_seconds: float = 0.0
    retry_wait_seconds: float = 0.0  # backoff between attempts: neither upstream time nor gateway overhead
    attempts: int = 0  # upstream attempts made (the built-in mock counts as one)
    error_code: str | None = None
    response_started: bool = False

    def set_principal(self, key: KeySpec) -> None:
        self.key_id, self.key_public_id, self.user_id = key.id, key.public_id, key.user_id
        self.team_id, self.application_id, self.environment = key.team_id, key.application_id, key.environment

    def add_upstream(self, seconds: float) -> None:
        self.upstream_seconds += seconds

    def overhead_ms(self, now: float) -> float:
        return max(0.0, (now - self.started - self.upstream_seconds - self.retry_wait_seconds) * 1000)

    def target_headers(self) -> list[tuple[bytes, bytes]]:
        """`x-waypost-target` (the deployment that answered last) and `x-waypost-attempts`, once one was tried."""
        if not self.attempts or self.deployment is None:
            return []
        return [(b"x-waypost-target", self.deployment.encode()), (b"x-waypost-attempts", str(self.attempts).encode())]

    def completed(self, now: float) -> RequestCompleted:
        return RequestCompleted(
            request_id=self.request_id,
            method=self.method,
            path=self.path,
            status=self.status,
            route=self.route,
            deployment=self.deployment,
            provider_kind=self.provider_kind,
            key_public_id=self.key_public_id,
            team_id=self.team_id,
            environment=self.environment,
            stream=self.stream,
            duration_ms=round((now - self.started) * 1000, 2),
            overhead_ms=round(self.overhead_ms(now), 2),
            upstream_ms=round(self.upstream_seconds * 1000, 2),
            retry_wait_ms=round(self.retry_wait_seconds * 1000, 2),
            attempts=self.attempts,
            error_code=self.error_code,
        )

    def log_fields(self, now: float) -> dict[str, Any]:
        return msgspec.structs.asdict(self.completed(now))


def record_of(request: Request) -> RequestRecord:
    record: RequestRecord = request.scope[RECORD_SCOPE_KEY]
    return record


class RequestObserver:
    """Outermost middleware. Unknown exceptions become a 500 with the request id and nothing else."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        logger: FilteringBoundLogger,
        lines: LineWriter,
        on_complete: Callable[[Scope, RequestRecord], None] | None = None,
    ) -> None:
        self.app = app
        self.log = logger
        self.lines = lines  # the canonical line skips structlog's processor chain (shared.logs.LineWriter)
        self.on_complete = on_complete  # settles admissions and emits the usage event (dataplane.settle)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(
            request_id=make_request_id(),
            method=scope["method"],
            path=scope["path"],
            started=time.perf_counter(),
            started_unix=time.time(),
        )
        scope[RECORD_SCOPE_KEY] = record

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.response_started = True
                record.status = message["status"]
                overhead = f"{record.overhead_ms(time.perf_counter()):.2f}"
                headers = [
                    *message.get("headers", ()),
                    (b"x-request-id", record.request_id.encode()),
                    (b"x-waypost-overhead-ms", overhead.encode()),
                    *record.target_headers(),
                    *record.response_headers,
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            self.log.exception("request_failed", request_id=record.request_id, path=record.path)
            record.error_code = "internal_error"
            if record.response_started:
                record.status = 500
            else:
                await error_response(InternalError(record.request_id))(scope, receive, observed_send)
        finally:
            if not record.response_started:
                record.status = 499  # the client went away before any answer
            if self.on_complete is not None:
                try:
                    self.on_complete(scope, record)
                except Exception:
                    self.log.exception("request_settlement_failed", request_id=record.request_id)
            self.lines.info("request_completed", record.completed(time.perf_counter()))
