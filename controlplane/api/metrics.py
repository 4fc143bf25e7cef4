"""GET /api/v1/metrics: Prometheus text exposition of what the control plane knows about the configuration, for a
scrape job that sends an admin key (`authorization: Bearer wpa_...`). For now: which deployments have no price in
effect (their calls are recorded at cost 0, or refused when they require a price)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from controlplane.api.handlers import Operation, transaction
from controlplane.api.prices import unpriced_deployments
from controlplane.rbac import ORG_READERS, allow


async def metrics(request: Request) -> Response:
    async with transaction(request, subject="metrics") as session:
        unpriced = await unpriced_deployments(session, now=datetime.now(UTC))
    registry = CollectorRegistry()
    count = Gauge("waypost_deployments_unpriced", "Deployments with no price in effect now.", registry=registry)
    count.set(len(unpriced))
    each = Gauge(
        "waypost_deployment_unpriced",
        "1 for each deployment with no price in effect now.",
        ["deployment", "require_price"],
        registry=registry,
    )
    for deployment in unpriced:
        each.labels(deployment=deployment.name, require_price=str(deployment.require_price).lower()).set(1)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


operations = (
    Operation(
        method="GET",
        path="/metrics",
        endpoint=metrics,
        operation_id="metrics",
        summary="Prometheus metrics of the configuration (unpriced deployments)",
        tag="meta",
        policy=allow(*ORG_READERS),
    ),
)
