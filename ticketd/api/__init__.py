"""The web layer: HTTP plumbing (``http``), request and response schemas, the OpenAPI
description, the browser pages, and one module of routes per area."""

from . import admin, auth, events, gate, health, pages, queue, reservations

# Pages last: they own "/" and /static/.
ROUTES = [health.routes, auth.routes, events.routes, reservations.routes, queue.routes,
          gate.routes, admin.routes, pages.routes]
