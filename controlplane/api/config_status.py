"""GET /api/v1/config/status: the newest published snapshot version and what each data plane applied."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def config_status(request: Request) -> JSONResponse:
    return JSONResponse({"published_version": None, "dataplanes": []})


routes = [Route("/config/status", config_status, methods=["GET"])]
