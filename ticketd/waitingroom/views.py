"""What a shopper is told about their place: the queue-status shapes of the contract."""

from __future__ import annotations

import datetime
import math

from .scripts import CheckReply

NONE = {"status": "none"}


def wait_estimate(position: int, admitted_last_minute: int, capacity: int, session_seconds: int) -> int:
    """Seconds until ``position`` is admitted at the rate observed over the last minute,
    or at ``capacity / sessionSeconds`` before any admission was observed."""
    if admitted_last_minute > 0:
        rate = admitted_last_minute / 60
    else:
        rate = capacity / max(session_seconds, 1)
    return max(0, math.ceil(position / rate))


def expires_at(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)


def admitted(expires_ms: int) -> dict:
    return {"status": "admitted", "expiresAt": expires_at(expires_ms)}


def queued(rank: int, queue_length: int, admitted_last_minute: int, capacity: int,
           session_seconds: int) -> dict:
    return {"status": "queued", "position": rank + 1, "ahead": rank, "queueLength": queue_length,
            "estimatedWaitSeconds": wait_estimate(rank + 1, admitted_last_minute, capacity,
                                                  session_seconds)}


def status(reply: CheckReply) -> dict:
    if reply.kind == "admitted":
        return admitted(reply.expires_ms)
    if reply.kind == "queued":
        return queued(reply.rank, reply.queue_length, reply.admitted_last_minute, reply.capacity,
                      reply.session_seconds)
    return NONE
