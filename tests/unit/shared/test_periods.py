"""Budget periods are calendar-aligned in the budget's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from shared.periods import period_bounds


def _unix(text: str, zone: str = "UTC") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp())


@pytest.mark.parametrize(
    ("period", "zone", "now", "start", "end"),
    [
        ("daily", "UTC", "2026-11-22T13:45:00", "2026-11-22T00:00:00", "2026-11-23T00:00:00"),
        ("daily", "UTC", "2026-11-22T00:00:00", "2026-11-22T00:00:00", "2026-11-23T00:00:00"),
        ("daily", "UTC", "2026-11-21T23:59:59", "2026-11-21T00:00:00", "2026-11-22T00:00:00"),
        # 2026-11-22 is a Sunday: the week started on Monday the 16th
        ("weekly", "UTC", "2026-11-22T23:00:00", "2026-11-16T00:00:00", "2026-11-23T00:00:00"),
        ("weekly", "UTC", "2026-11-23T00:00:00", "2026-11-23T00:00:00", "2026-11-30T00:00:00"),
        ("monthly", "UTC", "2026-12-31T23:59:59", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
        ("monthly", "UTC", "2028-02-29T12:00:00", "2028-02-01T00:00:00", "2028-03-01T00:00:00"),
    ],
)
def test_utc_periods(period: str, zone: str, now: str, start: str, end: str) -> None:
    assert period_bounds(period, zone, _unix(now, zone)) == (_unix(start, zone), _unix(end, zone))


def test_a_daily_period_starts_at_local_midnight_in_a_non_utc_zone() -> None:
    # 2026-11-22 03:00 UTC is still the 21st in New York (UTC-5): the day runs 05:00 UTC to 05:00 UTC
    now = datetime(2026, 11, 22, 3, 0, tzinfo=UTC).timestamp()
    start, end = period_bounds("daily", "America/New_York", now)
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
    assert end is not None and datetime.fromtimestamp(end, UTC) == datetime(2026, 11, 22, 5, 0, tzinfo=UTC)
    # the same instant in Tokyo (UTC+9) is 12:00 on the 22nd
    start, _ = period_bounds("daily", "Asia/Tokyo", now)
    assert datetime.fromtimestamp(start, UTC) == datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


def test_a_day_across_a_dst_change_lasts_23_hours() -> None:
    # Europe/Paris springs forward on 2026-03-29
    now = _unix("2026-03-29T12:00:00", "Europe/Paris")
    start, end = period_bounds("daily", "Europe/Paris", now)
    assert end is not None and end - start == 23 * 3600


def test_a_month_in_a_non_utc_zone_starts_on_the_local_first() -> None:
    now = datetime(2026, 11, 30, 23, 30, tzinfo=UTC).timestamp()  # already December 1st in Paris (UTC+1)
    start, end = period_bounds("monthly", "Europe/Paris", now)
    assert start == _unix("2026-12-01T00:00:00", "Europe/Paris")
    assert end == _unix("2027-01-01T00:00:00", "Europe/Paris")


def test_lifetime_never_ends() -> None:
    assert period_bounds("lifetime", "UTC", 1e9) == (0, None)


def test_unknown_periods_and_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="period"):
        period_bounds("hourly", "UTC", 0)
    with pytest.raises(ZoneInfoNotFoundError):
        period_bounds("daily", "Mars/Olympus", 0)
