"""Domain errors. Each carries the contract's status and code; the error middleware
renders them as ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "bad_request"
    message = "Bad request"

    def __init__(self, message: str | None = None, details: dict | None = None, *,
                 headers: dict | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details or {}
        self.headers = headers or {}


class HttpError(ApiError):
    """One of aiohttp's own HTTP errors (unknown route, wrong method, body too large)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message, headers=headers)
        self.status, self.code = status, code


class ValidationFailed(ApiError):
    status, code, message = 400, "validation_error", "Request validation failed"

    def __init__(self, message: str | None = None, details: dict | None = None, **kwargs):
        # No message of its own: the first problem in words, as from the schemas.
        super().__init__(message or (first_problem(details) if details else None), details, **kwargs)

    @classmethod
    def from_marshmallow(cls, exc) -> "ValidationFailed":
        """Details name each bad field, as marshmallow reports them; the message says the
        first problem in words."""
        details = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return cls(first_problem(details), details)


def first_problem(details: dict) -> str:
    """"Choose at least 1 ticket (items.0.quantity)" from nested field errors."""
    path, node = [], details
    while isinstance(node, dict) and node:
        key = next(iter(node))
        path.append(str(key))
        node = node[key]
    message = node[0] if isinstance(node, list) and node else str(node)
    where = ".".join(p for p in path if not p.startswith("_"))
    return f"{message.rstrip('.')} ({where})" if where else message.rstrip(".")


class Unauthorized(ApiError):
    status, code, message = 401, "unauthorized", "Authentication required"


class Forbidden(ApiError):
    status, code, message = 403, "forbidden", "Not allowed"


class QueueRequired(ApiError):
    status, code, message = 403, "queue_required", "The waiting room is active: wait for your turn"


class SaleNotStarted(ApiError):
    status, code, message = 403, "sale_not_started", "The sale has not started yet"


class ChallengeRequired(ApiError):
    status, code, message = 403, "challenge_required", "Solve the entry challenge first"


class NotFound(ApiError):
    status, code, message = 404, "not_found", "Not found"


class Conflict(ApiError):
    status = 409


class SoldOut(Conflict):
    code, message = "sold_out", "Not enough tickets left"


class SeatUnavailable(Conflict):
    code, message = "seat_unavailable", "A requested seat is not available"


class EmailTaken(Conflict):
    code, message = "email_taken", "This email is already registered"


class ReservationExpired(Conflict):
    code, message = "reservation_expired", "The reservation has expired"


class LimitExceeded(Conflict):
    code, message = "limit_exceeded", "More tickets than allowed per order"


class InvalidState(Conflict):
    code, message = "invalid_state", "The reservation cannot change from its current status"


class IdempotencyMismatch(Conflict):
    code, message = "idempotency_key_reused", "This Idempotency-Key was used with a different request"


class RateLimited(ApiError):
    status, code, message = 429, "rate_limited", "Too many requests"


class Internal(ApiError):
    """A bug: the caller has logged the traceback."""
    status, code, message = 500, "internal_error", "Internal server error"


class Unavailable(ApiError):
    status, code, message = 503, "unavailable", "Service temporarily unavailable"

    def __init__(self, message: str | None = None, details: dict | None = None, *,
                 retry_after: int = 5):
        super().__init__(message, details, headers={"Retry-After": str(retry_after)})
