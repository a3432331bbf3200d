"""Liveness, readiness, metrics and the OpenAPI description."""

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .. import appkeys, db
from .http import json_response
from .openapi import spec_for

routes = web.RouteTableDef()

CHECK_TIMEOUT = 2.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 while the process runs.
    ---
    summary: Liveness
    tags: [operations]
    responses:
      200: {description: Alive, content: {application/json: {schema: Health}}}
    """
    return json_response({"status": "ok"})


async def _check(probe) -> str:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
        return "ok"
    except Exception:
        return "down"


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """200 when PostgreSQL and Redis answer, else 503 naming what is down.
    ---
    summary: Readiness
    tags: [operations]
    responses:
      200: {description: Ready, content: {application/json: {schema: Health}}}
      503: {description: Not ready, content: {application/json: {schema: NotReady}}}
    """
    app = request.app
    postgres, redis = await asyncio.gather(
        _check(lambda: db.fetch_one(app[appkeys.db], "SELECT 1 AS one")),
        _check(app[appkeys.redis].ping))
    checks = {"postgres": postgres, "redis": redis}
    down = [name for name, state in checks.items() if state != "ok"]
    if down:
        body = {"error": {"code": "unavailable", "message": f"Not ready: {', '.join(down)} down",
                          "details": checks}, "status": "unavailable", "checks": checks}
        return json_response(body, status=503, headers={"Retry-After": "5"})
    return json_response({"status": "ok", "checks": checks})


@routes.get("/api/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    """This description.
    ---
    summary: OpenAPI description
    tags: [operations]
    responses:
      200: {description: OpenAPI 3 document, content: {application/json: {schema: {type: object}}}}
    """
    return json_response(spec_for(request.app))


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format.
    ---
    summary: Metrics
    tags: [operations]
    responses:
      200: {description: Prometheus text exposition format, content: {text/plain: {schema: {type: string}}}}
    """
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
