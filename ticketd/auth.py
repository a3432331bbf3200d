"""Passwords (scrypt) and signed, expiring bearer tokens (HMAC-SHA256)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass

import orjson

from . import db, errors

# scrypt cost: 16 MiB of memory per hash, about 50 ms on one core.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1

SELECT_USER_BY_EMAIL = "SELECT id, email, name, role, password_hash FROM users WHERE lower(email) = lower(%s)"
SELECT_USER_BY_ID = "SELECT id, email, name, role FROM users WHERE id = %s"
INSERT_USER = """
INSERT INTO users (email, name, password_hash, role) VALUES (%s, %s, %s, %s)
ON CONFLICT DO NOTHING
RETURNING id, email, name, role
"""
# Rehearsal accounts: many at once, one password hash for all (nobody knows the password;
# the caller gets tokens), so creating thousands does not cost thousands of scrypt runs.
INSERT_BULK_USERS = """
INSERT INTO users (email, name, password_hash, role)
SELECT %(prefix)s || '-' || n || '@loadtest.invalid', %(prefix)s || ' ' || n, %(password_hash)s, 'user'
FROM generate_series(1, %(count)s) AS n
ON CONFLICT DO NOTHING
RETURNING id, email
"""
UPSERT_ADMIN = """
INSERT INTO users (email, name, password_hash, role) VALUES (%s, %s, %s, 'admin')
ON CONFLICT (lower(email)) DO UPDATE SET role = 'admin', password_hash = EXCLUDED.password_hash
RETURNING id, email, name, role
"""


VISITOR = "visitor"
VISITOR_PREFIX = "v:"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a verified token speaks for: an account (``user_id``, role user or admin) or an
    anonymous visitor of a gated site (``visitor_id``, role visitor), who may only queue."""
    user_id: int | None
    role: str
    visitor_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_user(self) -> bool:
        return self.user_id is not None

    @property
    def shopper(self) -> str:
        """Who this is in the waiting room (and the admission token's subject)."""
        return str(self.user_id) if self.user_id is not None else VISITOR_PREFIX + self.visitor_id

    def view(self) -> dict:
        if self.user_id is not None:
            return {"userId": str(self.user_id), "role": self.role}
        return {"visitorId": self.visitor_id, "role": self.role}


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate, _unb64(digest))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """``payload.signature``, both base64url; the payload holds sub, role and exp."""

    def __init__(self, secret: str, ttl_seconds: int):
        if not secret:
            raise ValueError("a token secret is required (TICKETD_SECRET)")
        self._key = hashlib.sha256(("ticketd-token:" + secret).encode()).digest()
        self.ttl_seconds = ttl_seconds

    def issue(self, user_id: int, role: str) -> str:
        return self._issue(str(user_id), role)

    def issue_visitor(self) -> tuple[str, str]:
        """A new anonymous visitor: (token, visitor id)."""
        visitor_id = secrets.token_hex(12)
        return self._issue(VISITOR_PREFIX + visitor_id, VISITOR), visitor_id

    def _issue(self, subject: str, role: str) -> str:
        payload = _b64(orjson.dumps({"sub": subject, "role": role, "exp": int(time.time()) + self.ttl_seconds}))
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str) -> Identity:
        """The token's identity, or Unauthorized when it is forged, malformed or expired."""
        payload, _, signature = token.partition(".")
        if not signature or not hmac.compare_digest(signature, self._sign(payload)):
            raise errors.Unauthorized("Invalid token")
        try:
            claims = orjson.loads(_unb64(payload))
        except (ValueError, orjson.JSONDecodeError):
            raise errors.Unauthorized("Invalid token") from None
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int) \
                or not isinstance(claims.get("sub"), str):
            raise errors.Unauthorized("Invalid token")
        if claims["exp"] < time.time():
            raise errors.Unauthorized("Token expired")
        subject, role = claims["sub"], claims.get("role")
        if role == VISITOR and subject.startswith(VISITOR_PREFIX):
            return Identity(None, VISITOR, subject[len(VISITOR_PREFIX):])
        if role in ("user", "admin") and subject.isascii() and subject.isdigit():
            return Identity(int(subject), role)
        raise errors.Unauthorized("Invalid token")

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def user_view(row: dict) -> dict:
    """The contract's user object from a users row (as the functions below return them)."""
    return {"id": str(row["id"]), "email": row["email"], "name": row["name"], "role": row["role"]}


async def register(pool, email: str, password: str, name: str) -> dict:
    # scrypt is deliberately slow: keep it off the event loop.
    password_hash = await asyncio.to_thread(hash_password, password)
    row = await db.fetch_one(pool, INSERT_USER, (email, name, password_hash, "user"))
    if row is None:
        raise errors.EmailTaken(details={"email": ["This email is already registered"]})
    return row


async def login(pool, email: str, password: str) -> dict:
    row = await db.fetch_one(pool, SELECT_USER_BY_EMAIL, (email,))
    if row is None or not await asyncio.to_thread(verify_password, password, row["password_hash"]):
        raise errors.Unauthorized("Wrong email or password")
    return row


async def get_user(pool, user_id: int) -> dict:
    row = await db.fetch_one(pool, SELECT_USER_BY_ID, (user_id,))
    if row is None:
        raise errors.Unauthorized("Unknown user")
    return row


async def create_bulk_users(pool, prefix: str, count: int) -> list[dict]:
    """``count`` new accounts ``{prefix}-{n}@loadtest.invalid`` (those already there are
    skipped); their password is random and thrown away."""
    password_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(24))
    return await db.fetch_all(pool, INSERT_BULK_USERS, {"prefix": prefix, "count": count,
                                                        "password_hash": password_hash})


async def create_admin(pool, email: str, password: str, name: str = "Administrator") -> dict:
    password_hash = await asyncio.to_thread(hash_password, password)
    return await db.fetch_one(pool, UPSERT_ADMIN, (email, name, password_hash))
