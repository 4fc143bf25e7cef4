"""Three data-plane replicas on one control plane: a revocation reaches every replica. The time from the admin
call to refusal on all three is measured over 20 trials and printed (speed is reported, never asserted)."""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from tests.e2e.gateway import Gateway, poll

TRIALS = 20


@pytest.fixture(scope="module")
def dataplane_count() -> int:
    return 3


@pytest.fixture(scope="module")
def publish_debounce_ms() -> int:
    return 250  # the default, so the printed times are what a deployment sees


def test_a_revoked_key_is_refused_by_every_replica(gateway: Gateway) -> None:
    team = gateway.create("teams", {"name": "replicas"})
    seconds: list[float] = []
    for trial in range(TRIALS):
        key = gateway.create("keys", {"name": f"trial-{trial}", "team_id": team["id"], "environment": "dev"})
        gateway.wait_until_key_works(key["key"])
        auth = {"Authorization": f"Bearer {key['key']}"}

        started = time.monotonic()
        assert gateway.admin.post(f"/keys/{key['id']}/revoke").status_code == 200
        for url in gateway.dataplane_urls:
            poll(lambda url=url, auth=auth: httpx.get(f"{url}/v1/models", headers=auth).status_code == 401, timeout=10)
        seconds.append(time.monotonic() - started)

    status = gateway.admin.get("/config/status", params={"wait": 10}).json()
    assert status["converged"] is True and len(status["dataplanes"]) == 3
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    print(
        f"revocation refused by all 3 replicas: p50 {statistics.median(seconds) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms over {TRIALS} trials "
        "(default 250 ms publish debounce)"
    )
