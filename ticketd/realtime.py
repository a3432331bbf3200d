"""Real-time pushes (placeholder until the WebSocket layer lands; see the interface).

The interface the rest of ticketd relies on:

- ``inventory_changed(change)``: stock or seats of ``change.event_id`` changed; push fresh
  absolute counts to ``event:{id}`` (``tickets-batch-updated``) and the touched seats to
  ``seats:{id}`` (``seats-updated``), coalesced. Never blocks, never raises.
- ``await event_updated(event)``: an event's details or queue state changed; pushes
  ``event-updated`` with the event object to ``event:{id}``.
- ``await publish(room, event, data)``: one push to every member of ``room`` on every
  instance, with the room's next ``seq``.
- ``register_room(prefix, *, authorize, snapshot, personalize=None)``: a room kind, e.g.
  ``"queue"`` for ``queue:{eventId}``.
    - ``await authorize(identity | None, key)`` raises errors.Unauthorized / Forbidden /
      NotFound when the connection may not join ``prefix:key``.
    - ``await snapshot(identity | None, key) -> dict``: the join reply's data (seq is added).
    - ``await personalize(key, event, data, identities) -> list[tuple[event, data] | None]``:
      optional; when given, a push to this room is rendered per local member (one call per
      push per instance with every local member's identity) instead of the same bytes for
      all; None skips that member. The seq is the room's seq for that push.
- ``local_connection_count(room_prefix_or_room)`` and ``live_rooms()`` for stats.
"""

from __future__ import annotations

from .inventory import InventoryChange


class Realtime:
    def inventory_changed(self, change: InventoryChange) -> None:
        pass

    async def event_updated(self, event: dict) -> None:
        pass

    async def publish(self, room: str, event: str, data: dict) -> None:
        pass

    def register_room(self, prefix: str, *, authorize, snapshot, personalize=None) -> None:
        pass
