"""Where the gate page may send a visitor once admitted: never an open redirect.

Allowed: an absolute http(s) URL whose origin (scheme, host, port) is exactly one of
TICKETD_GATE_ORIGINS, or a path on this same site ("/shop", not "//elsewhere"). Host
names are compared whole, so "https://shop.example.evil.com" is not "https://shop.example".
"""

from __future__ import annotations

import urllib.parse

from .. import errors

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LENGTH = 2000


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, normalised; None otherwise."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    host = parts.hostname.lower()
    if port is None or port == DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def allowed_origins(values: tuple[str, ...]) -> frozenset[str]:
    """The configured origins, normalised (a value that is not an origin is an error)."""
    found = set()
    for value in values:
        normal = origin(value)
        if normal is None or urllib.parse.urlsplit(value).path not in ("", "/"):
            raise ValueError(f"not an origin (scheme://host[:port]): {value!r}")
        found.add(normal)
    return frozenset(found)


def checked_return(url, allowed: frozenset[str]) -> str:
    """``url`` if the gate may send a visitor there, else 400 validation_error."""
    if isinstance(url, str) and 0 < len(url) <= MAX_LENGTH and url.isprintable() and " " not in url:
        if url.startswith("/") and not url.startswith(("//", "/\\")) and "\\" not in url:
            return url  # a path on this site
        if origin(url) in allowed and "\\" not in url:
            return url
    raise errors.ValidationFailed("The return address is not a site this waiting room lets visitors into",
                                  {"return": ["Not an allowed address (TICKETD_GATE_ORIGINS)"]})
