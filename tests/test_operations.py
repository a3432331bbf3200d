"""Errors, health, OpenAPI and migrations."""

import asyncio
import uuid

import psycopg2
import yaml

from ticketd import db

from helpers import Api, db_query


async def test_malformed_json_is_400(api):
    for raw in (b"{not json", b"[1, 2]", b""):
        async with api.client.post("/api/auth/register", data=raw,
                                   headers={"Content-Type": "application/json"}) as resp:
            body = await resp.json()
            assert resp.status == 400, raw
            assert body["error"]["code"] == "validation_error" and "_body" in body["error"]["details"]


async def test_body_over_64k_is_413(api):
    async with api.client.post("/api/auth/register", data=b"{" + b" " * (65 * 1024) + b"}",
                               headers={"Content-Type": "application/json"}) as resp:
        body = await resp.json()
    assert resp.status == 413 and body["error"]["code"] == "payload_too_large"


async def test_unknown_route_and_method_use_the_error_shape(api):
    status, body = await api.call("GET", "/api/nothing-here")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = await api.call("DELETE", "/api/events")
    assert status == 405 and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "method_not_allowed"


async def test_healthz_and_readyz(api):
    assert (await api.call("GET", "/healthz"))[0] == 200
    status, body = await api.call("GET", "/readyz")
    assert status == 200 and body["checks"] == {"postgres": "ok", "redis": "ok"}


async def test_dead_redis_gives_503_where_needed_and_the_rest_keeps_serving(aiohttp_client, make_app,
                                                                             redis_server, database_url):
    api = Api(await aiohttp_client(make_app(redis_url=redis_server.url)))
    admin = await api.admin(database_url)
    event = await api.create_event(admin)
    fan = await api.register()
    redis_server.stop()
    status, body = await api.call("GET", "/readyz")
    assert status == 503 and body["checks"]["redis"] == "down" and body["checks"]["postgres"] == "ok"
    assert "redis" in body["error"]["message"]
    # Reads and purchases that need no queue still work.
    await api.call("GET", f"/api/events/{event['id']}", expect=200)
    await api.call("POST", "/api/reservations", fan, expect=201, json={
        "eventId": event["id"], "items": [{"ticketTypeId": event["ticketTypes"][0]["id"], "quantity": 1}]})
    # The queue needs Redis: 503 with Retry-After.
    async with api.client.post(f"/api/queue/check/{event['id']}",
                               headers={"Authorization": f"Bearer {fan}"}) as resp:
        body = await resp.json()
        assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
        assert body["error"]["code"] == "unavailable"
    redis_server.start()
    deadline = asyncio.get_running_loop().time() + 15
    while (await api.call("GET", "/readyz"))[0] != 200:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.1)
    await api.call("POST", f"/api/queue/check/{event['id']}", fan, expect=200)


async def test_openapi_describes_every_route(client):
    async with client.get("/api/openapi.json") as resp:
        assert resp.status == 200
        spec = await resp.json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    contract = {
        ("/api/auth/register", "POST"), ("/api/auth/login", "POST"), ("/api/me", "GET"),
        ("/api/events", "GET"), ("/api/events", "POST"), ("/api/events/{eventId}", "GET"),
        ("/api/events/{eventId}", "PATCH"), ("/api/events/{eventId}/seats", "GET"),
        ("/api/reservations", "POST"), ("/api/reservations", "GET"),
        ("/api/reservations/{reservationId}", "GET"), ("/api/reservations/{reservationId}/confirm", "POST"),
        ("/api/reservations/{reservationId}/cancel", "POST"), ("/api/queue/check/{eventId}", "POST"),
        ("/api/queue/status/{eventId}", "GET"), ("/api/queue/leave/{eventId}", "POST"),
        ("/api/admin/events/{eventId}/stats", "GET"), ("/api/admin/events/{eventId}/announce", "POST"),
        ("/healthz", "GET"), ("/readyz", "GET"), ("/metrics", "GET"), ("/api/openapi.json", "GET"),
    }
    assert contract <= documented, contract - documented
    register = spec["paths"]["/api/auth/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("RegisterRequest")
    assert "email" in spec["components"]["schemas"]["RegisterRequest"]["properties"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:  # said either way; only the toll's is optional
                optional = (method, path) == ("post", "/api/queue/check/{eventId}")
                assert operation["requestBody"].get("required") is (not optional), (method, path)
            assert operation["responses"], (method, path)
    # Response shapes are exact: what is always sent is required, nothing else may appear.
    event = spec["components"]["schemas"]["Event"]
    assert event["additionalProperties"] is False and "ticketTypes" in event["required"]


async def test_metrics_are_prometheus_text(client):
    async with client.get("/metrics") as resp:
        assert resp.status == 200 and resp.content_type.startswith("text/plain")
        assert "ticketd_ws_connections" in await resp.text()


async def test_migrations_apply_once_when_instances_start_together(database_url):
    name = f"migrate_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(database_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    fresh_url = _with_database(database_url, name)
    try:
        pools = [await db.create_pool(fresh_url, maxsize=1) for _ in range(4)]
        applied = await asyncio.gather(*[db.migrate(pool) for pool in pools])
        versions = [v for v, _ in db.migration_files()]
        assert sorted(v for run in applied for v in run) == versions  # each applied exactly once
        for pool in pools:
            pool.close()
            await pool.wait_closed()
        assert [r[0] for r in db_query(fresh_url, "SELECT version FROM schema_migrations ORDER BY 1")] == versions
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def _with_database(url: str, name: str) -> str:
    params = psycopg2.extensions.parse_dsn(url)
    params["dbname"] = name
    return " ".join(f"{k}='{v}'" for k, v in params.items())


def test_compose_file_has_the_expected_services():
    from pathlib import Path
    compose = yaml.safe_load((Path(__file__).resolve().parent.parent / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "ticketd", "lb"} <= set(services)
    assert services["ticketd"]["deploy"]["replicas"] == 2
    env = services["ticketd"]["environment"]
    assert env["TICKETD_DATABASE_URL"].startswith("postgresql://") and env["TICKETD_REDIS_URL"].startswith("redis://")


async def test_browsers_get_an_html_404_and_api_clients_json(client):
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    async with client.get("/nope", headers=browser) as resp:
        assert resp.status == 404 and resp.content_type == "text/html"
        assert "Page not found" in await resp.text()
    for path, headers in (("/nope", {}), ("/api/nope", browser), ("/api/events/abc", browser)):
        async with client.get(path, headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 404 and body["error"]["code"] == "not_found", path


async def test_pages_carry_a_strict_content_security_policy(client):
    async with client.get("/") as resp:
        policy = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
        assert "frame-ancestors 'none'" in policy and resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    async with client.get("/api/events") as resp:
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in resp.headers
        assert len(resp.headers["X-Request-Id"]) == 16
    async with client.get("/healthz", headers={"X-Request-Id": "lb-1234"}) as resp:
        assert resp.headers["X-Request-Id"] == "lb-1234"
