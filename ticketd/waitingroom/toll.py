"""The proof-of-work toll on entering the queue: a cost to scripts that enter with many
accounts, next to nothing for one fan's browser.

A challenge is stateless: ``{eventId}.{expiresMs}.{bits}.{random}.{mac}``, the MAC binding
it to the caller, the event and the toll asked. Solving it means finding a nonce such that SHA-256 of
``challenge + ":" + nonce`` starts with ``bits`` zero bits. The signature and the work are
checked here, in the instance; expiry (Redis's clock) and single use (a key per challenge,
across instances) in the check script that spends it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import NamedTuple

TTL_MS = 5 * 60 * 1000
MAX_NONCE = 128


class Solved(NamedTuple):
    challenge_id: str
    expires_ms: int
    bits: int


class Toll:
    def __init__(self, secret: str):
        self._key = hashlib.sha256(("ticketd-toll:" + secret).encode()).digest()

    def issue(self, shopper: str, event_id: int, bits: int, now_ms: int) -> tuple[str, int]:
        """A fresh challenge for ``shopper`` at ``event_id``, and when it expires."""
        expires = now_ms + TTL_MS
        head = f"{event_id}.{expires}.{bits}.{secrets.token_urlsafe(12)}"
        return f"{head}.{self._mac(shopper, head)}", expires

    def verify(self, shopper: str, event_id: int, challenge, nonce) -> Solved | None:
        """The solved challenge, or None when it is malformed, someone else's, for another
        event, or not solved (its expiry and whether it suffices are the check script's)."""
        if not isinstance(challenge, str) or not isinstance(nonce, str) or len(nonce) > MAX_NONCE:
            return None
        head, _, mac = challenge.rpartition(".")
        parts = head.split(".")
        if len(parts) != 4 or parts[0] != str(event_id) or not (parts[1].isdigit() and parts[2].isdigit()):
            return None
        if not hmac.compare_digest(mac, self._mac(shopper, head)):
            return None
        bits = int(parts[2])
        if not solves(challenge, nonce, bits):
            return None
        return Solved(parts[3], int(parts[1]), bits)

    def _mac(self, shopper: str, head: str) -> str:
        message = f"{shopper}|{head}".encode()
        return base64.urlsafe_b64encode(hmac.new(self._key, message, hashlib.sha256).digest()[:18]).decode()


def solves(challenge: str, nonce: str, bits: int) -> bool:
    """Whether SHA-256(challenge ":" nonce) starts with ``bits`` zero bits."""
    digest = hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()
    return int.from_bytes(digest, "big") >> (256 - bits) == 0 if bits else True


def solve(challenge: str, bits: int) -> str:
    """A nonce for ``challenge`` (for tests and scripts; browsers solve it in ticketd.js)."""
    n = 0
    while not solves(challenge, str(n), bits):
        n += 1
    return str(n)
