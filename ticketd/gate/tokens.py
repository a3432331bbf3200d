"""Admission tokens: compact JWS (EdDSA, Ed25519) saying "this visitor or user may enter
the site behind the gate until exp". Signed and checked with PyJWT (on ``cryptography``):
a stock, well-kept JOSE implementation, so shops can verify them the same way.

Claims: iss (TICKETD_ISSUER), sub (the shopper), aud (``ticketd:event:{eventId}``), iat (the
admission's start), exp (its end, in seconds), jti ("<its end in ms>-<digest>": the
admission it stands for, to the millisecond, so a later admission of the same shopper never
revives it). The header names the key (kid). One admission has one token: asking again gives
the same one (Ed25519 signs deterministically).
"""

from __future__ import annotations

import base64
import hashlib

import jwt

from .. import errors
from .keys import SigningKeys


def audience(event_id: int) -> str:
    return f"ticketd:event:{event_id}"


# Verified tokens remembered, so that nginx asking about the same cookie for every request
# of a page costs one dict lookup instead of an Ed25519 verification. A signature that
# verified once always verifies: the cache changes no answer.
VERIFIED_CACHE = 50_000


class AdmissionTokens:
    def __init__(self, keys: SigningKeys, issuer: str):
        self.keys = keys
        self.issuer = issuer
        self._verified: dict[tuple[str, int], tuple[dict, int]] = {}

    def issue(self, event_id: int, shopper: str, expires_ms: int, session_seconds: int) -> str | None:
        """The token of an admission ending at ``expires_ms`` (None while no key can sign)."""
        key = self.keys.signing
        if key is None:
            return None
        aud = audience(event_id)
        digest = base64.urlsafe_b64encode(hashlib.sha256(f"{aud}|{shopper}|{expires_ms}".encode()).digest()[:9])
        claims = {"iss": self.issuer, "sub": shopper, "aud": aud, "iat": (expires_ms // 1000) - session_seconds,
                  "exp": expires_ms // 1000, "jti": f"{expires_ms}-{digest.decode()}"}
        return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})

    def verify(self, token: str, event_id: int) -> tuple[dict, int]:
        """The claims of a token signed by one of our keys for ``event_id`` and the end of the
        admission it stands for (ms), else 401. Its expiry is judged with the admission
        itself, on Redis's clock."""
        known = self._verified.get((token, event_id))
        if known is not None:
            return known
        verified = self._verify(token, event_id)
        if len(self._verified) >= VERIFIED_CACHE:
            self._verified.clear()  # cheaper than an LRU, and refilled by the next requests
        self._verified[(token, event_id)] = verified
        return verified

    def _verify(self, token: str, event_id: int) -> tuple[dict, int]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.keys.public.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise errors.Unauthorized("Unknown signing key")
            claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=audience(event_id),
                                issuer=self.issuer, options={"verify_exp": False,
                                                             "require": ["sub", "exp", "aud", "iss", "jti"]})
        except jwt.InvalidTokenError as exc:
            raise errors.Unauthorized(f"Invalid admission token ({exc})") from None
        ends, _, _ = str(claims["jti"]).partition("-")
        if not isinstance(claims["sub"], str) or not isinstance(claims["exp"], int) or not ends.isdigit():
            raise errors.Unauthorized("Invalid admission token")
        return claims, int(ends)
