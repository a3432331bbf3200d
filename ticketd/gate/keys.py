"""The admission-token signing keys: Ed25519, kept in PostgreSQL, loaded by every instance.

- The first start creates one (under an advisory lock: instances starting together make
  exactly one).
- ``rotate`` adds a key that activates ACTIVATION_SECONDS later, on PostgreSQL's clock.
  Every instance reloads the keys every REFRESH_SECONDS, so each one publishes the new key
  (JWKS, and accepts tokens signed with it) within REFRESH_SECONDS; the activation waits
  longer than that, so that no instance signs with a key another instance does not publish
  yet. An instance that loaded the key before its activation switches to it at the
  activation itself (a timer on its own monotonic clock, set from PostgreSQL's), not at its
  next reload: all of them sign with it ACTIVATION_SECONDS after the rotation, well within
  the contract's 10 s. The keys it replaces stay published until every token they signed
  has expired.
- Private keys are stored encrypted (AES-GCM, key derived from TICKETD_SECRET with HKDF)
  and are never logged or served; only the public halves are published (JWKS).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import time
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .. import db

log = logging.getLogger(__name__)

# Publication within REFRESH_SECONDS, signing at ACTIVATION_SECONDS: the difference is the
# margin for a slow reload (a reload that fails keeps the keys it had, see app.py).
REFRESH_SECONDS = 2.0
ACTIVATION_SECONDS = 5.0
# Admission tokens live at most as long as an admission: sessionSeconds is at most a day.
MAX_TOKEN_SECONDS = 86_400
KEYS_LOCK_ID = 0x6B657973  # "keys"

LOCK_KEYS = "SELECT pg_advisory_xact_lock(%s)"
SELECT_ANY_KEY = "SELECT 1 AS one FROM signing_keys LIMIT 1"
INSERT_KEY = """
INSERT INTO signing_keys (kid, private_key, public_key, activates_at)
VALUES (%s, %s, %s, now() + make_interval(secs => %s))
"""
RETIRE_OLD_KEYS = """
UPDATE signing_keys SET retires_at = now() + make_interval(secs => %s)
WHERE retires_at IS NULL AND kid <> %s
"""
SELECT_PUBLISHED_KEYS = """
SELECT kid, private_key, public_key,
       GREATEST(0, EXTRACT(EPOCH FROM activates_at - now()))::float8 AS activates_in
FROM signing_keys WHERE retires_at IS NULL OR retires_at > now()
ORDER BY activates_at DESC, created_at DESC
"""


class LoadedKey(NamedTuple):
    kid: str
    private: Ed25519PrivateKey | None   # None: stored under another TICKETD_SECRET
    public: Ed25519PublicKey
    activates: float                    # time.monotonic() from which it signs


class SigningKeys:
    def __init__(self, pool, secret: str):
        self._pool = pool
        self._aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                                 info=b"ticketd admission signing keys").derive(secret.encode()))
        self._loaded: list[LoadedKey] = []   # newest activation first
        self.public: dict[str, Ed25519PublicKey] = {}
        self.jwks: dict = {"keys": []}

    async def ensure(self) -> None:
        """The first start creates a key, once, whoever gets there first."""
        async with db.transaction(self._pool) as cur:
            await cur.execute(LOCK_KEYS, (KEYS_LOCK_ID,))
            await cur.execute(SELECT_ANY_KEY)
            if await cur.fetchone() is None:
                kid = await self._insert(cur, activate_in=0)
                log.info("created the first admission-token signing key %s", kid)
        await self.load()

    async def rotate(self) -> str:
        """A new signing key; the old ones stay published until their tokens expired."""
        async with db.transaction(self._pool) as cur:
            await cur.execute(LOCK_KEYS, (KEYS_LOCK_ID,))
            kid = await self._insert(cur, activate_in=ACTIVATION_SECONDS)
            await cur.execute(RETIRE_OLD_KEYS, (ACTIVATION_SECONDS + MAX_TOKEN_SECONDS + 60, kid))
        return kid

    async def load(self) -> None:
        """The published keys from PostgreSQL (every instance, every REFRESH_SECONDS)."""
        loaded = []
        rows = await db.fetch_all(self._pool, SELECT_PUBLISHED_KEYS)
        # PostgreSQL said how long until each activation; from when it answered, on this
        # instance's monotonic clock (the wall clocks of instances may disagree).
        answered = time.monotonic()
        for row in rows:
            public = Ed25519PublicKey.from_public_bytes(bytes(row["public_key"]))
            loaded.append(LoadedKey(row["kid"], self._decrypt(row["kid"], bytes(row["private_key"])),
                                    public, answered + float(row["activates_in"])))
        if loaded and not any(k.private is not None for k in loaded):
            log.error("no admission-token key can sign: TICKETD_SECRET differs from the one that "
                      "stored them; run `ticketd rotate-keys` with the current secret")
        self._loaded = loaded
        self.public = {k.kid: k.public for k in loaded}
        self.jwks = {"keys": [_jwk(k) for k in loaded]}

    @property
    def signing(self) -> LoadedKey | None:
        """The key to sign with now: the newest active one this instance can use."""
        now = time.monotonic()
        return next((k for k in self._loaded if k.activates <= now and k.private is not None), None)

    async def _insert(self, cur, activate_in: float) -> str:
        private = Ed25519PrivateKey.generate()
        raw_public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        kid = _b64(hashlib.sha256(raw_public).digest()[:12])
        await cur.execute(INSERT_KEY, (kid, self._encrypt(kid, private), raw_public, activate_in))
        return kid

    def _encrypt(self, kid: str, private: Ed25519PrivateKey) -> bytes:
        raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                    serialization.NoEncryption())
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, raw, kid.encode())

    def _decrypt(self, kid: str, stored: bytes) -> Ed25519PrivateKey | None:
        try:
            return Ed25519PrivateKey.from_private_bytes(self._aead.decrypt(stored[:12], stored[12:], kid.encode()))
        except InvalidTag:
            return None


def _jwk(key: LoadedKey) -> dict:
    raw = key.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw), "kid": key.kid, "alg": "EdDSA", "use": "sig"}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
