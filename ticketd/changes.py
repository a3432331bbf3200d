"""What changed, told to whoever pushes it: the one path from a write to a push.

The domain (inventory, events, the waiting room) emits a change once its write has
committed; the live layer subscribes and turns each into pushes. Listeners run in the
order they subscribed, each awaited in turn, and a failing listener is logged, never
raised: a committed write has happened whatever a push does.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Awaitable, Callable, Union

from .failures import BackgroundFailures

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class StockChanged:
    """Stock of the event's ticket types (and these seats) changed."""
    event_id: int
    seat_ids: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class EventChanged:
    """The event's details, settings or queue state changed."""
    event_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class PurchaseConfirmed:
    event_id: int
    shopper: str


@dataclasses.dataclass(frozen=True, slots=True)
class Announcement:
    event_id: int
    message: str
    at: datetime.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class AdmissionDecided:
    """One admission tick decided for the event (``decision`` is a waitingroom.Decision)."""
    event_id: int
    decision: object


@dataclasses.dataclass(frozen=True, slots=True)
class QueueDrawn:
    """The pre-queue has been drawn: every one of its shoppers has a place now."""
    event_id: int


Change = Union[StockChanged, EventChanged, PurchaseConfirmed, Announcement, AdmissionDecided, QueueDrawn]
Listener = Callable[[Change], Awaitable[None]]


class ChangeFeed:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._failures = BackgroundFailures(log, "pushing a change")

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def emit(self, change: Change) -> None:
        for listener in self._listeners:
            try:
                await listener(change)
            except Exception as exc:
                self._failures.failed(exc)
