"""The admin API's provider kinds are exactly the kinds the snapshot knows."""

from __future__ import annotations

from typing import get_args

from controlplane.api.providers import ProviderKind
from shared.snapshot import PROVIDER_KINDS


def test_provider_kinds_match_the_snapshot_contract() -> None:
    assert set(get_args(ProviderKind)) == set(PROVIDER_KINDS)
