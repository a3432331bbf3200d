"""Real-time pushes (placeholder until the WebSocket layer lands).

The interface handlers rely on:
- ``inventory_changed(change)``: stock or seats changed; push fresh counts (coalesced).
- ``await event_updated(event)``: an event's details or queue state changed.
"""

from __future__ import annotations

from .inventory import InventoryChange


class Realtime:
    def inventory_changed(self, change: InventoryChange) -> None:
        pass

    async def event_updated(self, event: dict) -> None:
        pass
