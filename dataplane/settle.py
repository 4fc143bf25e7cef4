"""The end of every request (DESIGN.md §4: settle → emit usage + log), run by the RequestObserver once the
response is over or abandoned: price what was used, settle every admission, hand the usage event to the emitter.
Nothing here may fail the request: the observer logs and swallows an exception from this step."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.types import Scope

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
