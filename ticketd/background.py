"""Stopping background tasks reliably."""

from __future__ import annotations

import asyncio


async def stop(*tasks: asyncio.Task) -> None:
    """Cancel ``tasks`` and wait until they are done.

    A cancellation can arrive inside a driver call that turns it into its own
    exception (aiopg does, when the cancelled query's cursor is closed); a loop that
    logs and carries on would then never stop. So cancel again until the task ends.
    """
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved
