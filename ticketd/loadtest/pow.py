"""The waiting room's proof-of-work toll (CONTRACT.md, "On-sale day", ``queue.challengeBits``):
find a nonce so that SHA-256 of ``challenge + ":" + nonce`` starts with ``bits`` zero bits."""

from __future__ import annotations

import hashlib


def leading_zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def verify(challenge: str, nonce: str, bits: int) -> bool:
    digest = hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()
    return leading_zero_bits(digest) >= bits


def solve(challenge: str, bits: int, start: int = 0) -> str:
    """The first nonce (decimal text, counting from ``start``) that meets ``bits``.
    About 2**bits hashes on average: ~1 µs each in CPython, so 16 bits is tens of ms and
    20 bits about a second of one core."""
    if bits <= 0:
        return str(start)
    prefix = hashlib.sha256(f"{challenge}:".encode())
    if bits <= 32:
        shift = 32 - bits
        nonce = start
        while True:
            h = prefix.copy()
            h.update(str(nonce).encode())
            if int.from_bytes(h.digest()[:4], "big") >> shift == 0:
                return str(nonce)
            nonce += 1
    limit = 1 << (256 - bits)
    nonce = start
    while True:
        h = prefix.copy()
        h.update(str(nonce).encode())
        if int.from_bytes(h.digest(), "big") < limit:
            return str(nonce)
        nonce += 1


def solve_range(challenge: str, bits: int, start: int, count: int) -> str | None:
    """The first good nonce in ``start .. start + count - 1``, or None: lets a caller on an
    event loop solve in slices and stay responsive."""
    if bits <= 0:
        return str(start)
    prefix = hashlib.sha256(f"{challenge}:".encode())
    limit = 1 << (256 - bits)
    for nonce in range(start, start + count):
        h = prefix.copy()
        h.update(str(nonce).encode())
        if int.from_bytes(h.digest(), "big") < limit:
            return str(nonce)
    return None
