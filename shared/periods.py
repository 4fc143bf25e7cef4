"""Budget periods, calendar-aligned in the budget's time zone. Both planes compute them with this one function so
that a `BudgetSpend.period_start` from the control plane names the same period a data plane computes."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LIFETIME_START = 0


def period_bounds(period: str, timezone: str, now: float) -> tuple[int, int | None]:
    """The [start, end) of the period containing `now` (unix seconds), in unix seconds; end None for "lifetime".

    daily: local midnight to the next local midnight; weekly: Monday 00:00 local to the next Monday; monthly: the
    1st 00:00 local to the next 1st. Boundaries are wall-clock midnights, so a day across a DST change lasts 23 or
    25 hours (arithmetic on aware datetimes of one zone is wall-clock arithmetic).
    Raises ValueError on an unknown period and ZoneInfoNotFoundError on an unknown zone."""
    if period == "lifetime":
        return LIFETIME_START, None
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        start = midnight
        end = start + timedelta(days=1)
    elif period == "weekly":
        start = midnight - timedelta(days=midnight.weekday())
        end = start + timedelta(days=7)
    elif period == "monthly":
        start = midnight.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return int(start.timestamp()), int(end.timestamp())
