"""The admin API's provider kinds are exactly the kinds the snapshot knows."""

from __future__ import annotations

from typing import get_args

from controlplane.api.providers import ProviderKind
from shared.snapshot import DEFAULT_BASE_URLS, PROVIDER_KINDS


def test_provider_kinds_match_the_snapshot_contract() -> None:
    assert set(get_args(ProviderKind)) == set(PROVIDER_KINDS)


def test_every_kind_has_a_default_base_url_but_those_that_live_at_the_customers_address() -> None:
    assert set(DEFAULT_BASE_URLS) <= set(PROVIDER_KINDS)
    required = set(PROVIDER_KINDS) - set(DEFAULT_BASE_URLS)
    assert required == {"openai_compatible", "vllm", "azure_openai", "vertex_ai", "bedrock"}
