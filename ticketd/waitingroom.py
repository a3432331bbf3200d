"""The waiting room (placeholder until the queue lands).

The interface handlers rely on:
- ``await is_active(event_id, mode)``: whether the event's queue is holding shoppers back.
- ``await require_admission(event_id, user_id)``: raise QueueRequired unless admitted.
- ``await purchase_confirmed(event_id, user_id)``: the shopper's admission ends.
- ``await settings_changed(event_id)``: the event's queue settings changed in PostgreSQL.
"""

from __future__ import annotations


class WaitingRoom:
    async def is_active(self, event_id: str, mode: str) -> bool:
        return mode == "on"

    async def require_admission(self, event_id: str, user_id: str) -> None:
        pass

    async def purchase_confirmed(self, event_id: str, user_id: str) -> None:
        pass

    async def settings_changed(self, event_id: str) -> None:
        pass
