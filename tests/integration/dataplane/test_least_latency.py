"""A least-latency route measures its targets and then sends the first attempt to the faster one."""

from __future__ import annotations

from collections import Counter

from dataplane.settings import DataPlaneSettings
from tests.conftest import TestSecrets
from tests.fakes.scripted_upstream import Reply, ScriptedUpstream
from tests.integration.dataplane.chains import Hop, serving_chain

CHAT = {"model": "gpt-test", "messages": [{"role": "user", "content": "Hello!"}]}
SLOW_SECONDS = 0.15


async def test_least_latency_prefers_the_faster_of_two_upstreams(
    dp_settings: DataPlaneSettings,
    test_secrets: TestSecrets,
    nats_url: str,
    nats_prefix: str,
    upstreams: tuple[ScriptedUpstream, ScriptedUpstream],
) -> None:
    slow, fast = upstreams
    slow.script(*[Reply(delay_seconds=SLOW_SECONDS)] * 20)
    async with serving_chain(
        [Hop("slow", slow), Hop("fast", fast)],  # the slow one is first in priority order
        settings=dp_settings,
        test_secrets=test_secrets,
        nats_url=nats_url,
        nats_prefix=nats_prefix,
        strategy="least_latency",
    ) as chain:
        served = [
            (await chain.client.post("/v1/chat/completions", headers=chain.auth, json=CHAT)).headers["x-waypost-target"]
            for _ in range(12)
        ]

    # both are unmeasured at first, so priority order measures the slow one, then the unmeasured fast one
    assert served[:2] == ["slow", "fast"]
    assert Counter(served[2:]) == Counter({"fast": 10})
