"""The end of every request (DESIGN.md §4: settle → emit usage + log), run by the RequestObserver once the
response is over or abandoned: price what was used, settle every admission, hand the usage event to the emitter.
Nothing here may fail the request: the observer logs and swallows an exception from this step."""

from __future__ import annotations

from starlette.types import Scope

from dataplane.observability import RequestRecord


def finish_request(scope: Scope, record: RequestRecord) -> None:
    for admission in record.admissions:
        admission.settle(record)
