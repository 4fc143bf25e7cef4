"""The end of every request (DESIGN.md §4: settle → emit usage + log), run by the RequestObserver once the
response is over or abandoned: price what was used, settle every admission, hand the usage event to the emitter;
and the end of each attempt that failed and was followed by another (`settle_failed_attempt`).
Nothing here may fail the request: the observer logs and swallows an exception from this step."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

import msgspec
from starlette.types import Scope

from dataplane.errors import GatewayError
from dataplane.observability import RequestRecord
from dataplane.pricing import cost_micro_usd
from dataplane.usage_events import make_usage_event, metered

if TYPE_CHECKING:
    from dataplane.runtime import Runtime


def finish_request(scope: Scope, record: RequestRecord) -> None:
    runtime = getattr(scope["app"].state, "runtime", None)
    if runtime is not None:
        price_request(runtime, record)
    for admission in record.admissions:
        admission.settle(record)
    if runtime is not None and runtime.usage is not None and metered(record):
        event = make_usage_event(record, instance=runtime.settings.instance_id, now=time.perf_counter())
        runtime.usage.emit(event)


def price_request(runtime: Runtime, record: RequestRecord) -> None:
    """Set `record.cost_micro_usd` and `record.price_id` from `record.usage`, at the deployment's price in effect
    when the request arrived (prices are effective-dated, so the view applied now gives the same price). An unpriced
    deployment leaves cost 0 and price_id None."""
    view = runtime.config.view
    if record.usage is None or record.deployment_id is None or view is None:
        return
    when = record.started_unix or runtime.clock()
    price = runtime.budgets.index(view.snapshot).prices.price_at(record.deployment_id, when)
    if price is not None:
        record.cost_micro_usd = cost_micro_usd(record.usage, price)
        record.price_id = price.id


def settle_failed_attempt(runtime: Runtime, record: RequestRecord, error: GatewayError) -> None:
    """An attempt that raised `error` and is followed by another: price what it used (usually nothing), settle its
    admissions, emit its usage event (id `<request id>.<attempt number>`, with the request's id as its parent),
    and clear the record's usage and admissions for the next attempt."""
    attempt = dataclasses.replace(
        record,
        request_id=f"{record.request_id}.{record.attempts}",
        status=error.status,
        error_code=error.code,
    )
    price_request(runtime, attempt)
    for admission in record.admissions:
        admission.settle(attempt)
    if runtime.usage is not None and metered(attempt):
        event = make_usage_event(attempt, instance=runtime.settings.instance_id, now=time.perf_counter())
        runtime.usage.emit(msgspec.structs.replace(event, parent_request_id=record.request_id))
    record.admissions = []
    record.usage, record.usage_estimated = None, False
    record.cost_micro_usd, record.price_id = 0, None
