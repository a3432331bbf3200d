"""An admitted visitor of a gated site (``--visitors``): the site asks
``GET /api/queue/verify/{eventId}`` whether to let the admission token through (as nginx's
auth_request does), the visitor looks around for a moment and leaves. Visitors buy nothing."""

from __future__ import annotations

import asyncio

from .queueing import leave
from .state import DONE, SHOPPING, Fan


async def visit(c, fan: Fan) -> None:
    c.set_state(fan, SHOPPING)
    if not fan.admission_token:
        c.api.errors["no_admission_token"] += 1
        await leave(c, fan)
        c.give_up(fan, "no_admission_token")
        return
    r = await c.api.call_retried("GET", f"/api/queue/verify/{c.event_id}", fan.admission_token)
    if r.status != 204:
        if r.status in (401, 403):
            c.verify_refused += 1
        await leave(c, fan)
        c.give_up(fan, f"verify_{r.code or r.status}")
        return
    c.record_verified(r.elapsed)
    await asyncio.sleep(c.think())
    await leave(c, fan)
    c.set_state(fan, DONE)
