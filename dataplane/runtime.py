"""What the request path needs from the app, built once in the lifespan and kept on `app.state.runtime`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from structlog.typing import FilteringBoundLogger

from dataplane.config_state import ConfigState, ConfigView
from dataplane.errors import ConfigUnavailableError
from dataplane.settings import DataPlaneSettings
from dataplane.upstream import UpstreamClient
from shared.crypto import MasterSecret


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: DataPlaneSettings
    master: MasterSecret
    config: ConfigState
    upstream: UpstreamClient
    clock: Callable[[], float]  # unix seconds
    logger: FilteringBoundLogger

    def admit_view(self) -> ConfigView:
        """The config this request uses from start to end; refuses while none was ever applied."""
        view = self.config.view
        if view is None:
            raise ConfigUnavailableError()
        return view


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
