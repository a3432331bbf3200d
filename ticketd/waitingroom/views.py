"""What a shopper is told about their place: the queue-status shapes of the contract."""

from __future__ import annotations

import datetime
import math

NONE = {"status": "none"}


def wait_estimate(position: int, admitted_last_minute: int, capacity: int, session_seconds: int,
                  admit_per_minute: int = 0) -> int:
    """Seconds until ``position`` is admitted at the rate observed over the last minute, or
    at ``capacity / sessionSeconds`` before any admission was observed; never faster than
    the pacing allows."""
    if admitted_last_minute > 0:
        rate = admitted_last_minute / 60
    else:
        rate = capacity / max(session_seconds, 1)
    if admit_per_minute:
        rate = min(rate, admit_per_minute / 60)
    return max(0, math.ceil(position / rate))


def at(ms: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)


def admitted(expires_ms: int, token: str | None = None) -> dict:
    """Admitted until ``expires_ms``, with the admission token for sites behind the gate."""
    view = {"status": "admitted", "expiresAt": at(expires_ms)}
    if token is not None:
        view["admissionToken"] = token
    return view


def queued(rank: int, queue_length: int, admitted_last_minute: int, capacity: int,
           session_seconds: int, admit_per_minute: int = 0) -> dict:
    return {"status": "queued", "position": rank + 1, "ahead": rank, "queueLength": queue_length,
            "estimatedWaitSeconds": wait_estimate(rank + 1, admitted_last_minute, capacity,
                                                  session_seconds, admit_per_minute)}


def prequeue(starts_ms: int, prequeue_length: int) -> dict:
    """Waiting for the draw: no position, only how many wait for it."""
    return {"status": "prequeue", "saleStartsAt": at(starts_ms), "prequeueLength": prequeue_length}


def closed(opens_ms: int, starts_ms: int) -> dict:
    return {"status": "closed", "opensAt": at(opens_ms), "saleStartsAt": at(starts_ms)}


def status(reply, token: str | None = None) -> dict:
    """The view of a CheckReply (any kind but 'challenge'); ``token`` for an admission."""
    if reply.kind == "admitted":
        return admitted(reply.expires_ms, token)
    if reply.kind == "queued":
        return queued(reply.rank, reply.queue_length, reply.admitted_last_minute, reply.capacity,
                      reply.session_seconds, reply.admit_per_minute)
    if reply.kind == "prequeue":
        return prequeue(reply.starts_ms, reply.prequeue_length)
    if reply.kind == "closed":
        return closed(reply.opens_ms, reply.starts_ms)
    return NONE
