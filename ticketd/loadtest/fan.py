"""One fan's visit, as the browser client makes it: arrive on time, queue up, and once
admitted, shop (or, for a visitor of a gated site, pass the gate)."""

from __future__ import annotations

import asyncio

from .queueing import queue_up
from .queuesocket import close_socket
from .shopping import shop
from .state import Fan
from .visiting import visit


async def run_fan(c, fan: Fan) -> None:
    loop = asyncio.get_running_loop()
    delay = fan.arrive_at - loop.time()
    if delay > 0:
        await asyncio.sleep(delay)
    c.on_arrive(fan)
    try:
        if await queue_up(c, fan):
            await (visit(c, fan) if c.visitors else shop(c, fan))
    except asyncio.CancelledError:
        raise
    except Exception:
        c.tool_error()
        c.give_up(fan, "tool_error")
    finally:
        await close_socket(fan)
