"""Redis Lua scripts: one per ``.lua`` file in a package's ``lua/`` folder, loaded when
the service that runs them starts.

Each file begins with a header naming its KEYS, ARGV and reply. A package may keep shared
helpers in ``lua/prelude.lua``; every script of that package gets them prepended, so a
step the scripts share (the clock, "switch the queue on") is written once.

A reply is decoded into the NamedTuple the script was loaded with, field by field by the
field's type: ``int``, ``str``, ``bool``, and a last field ``tuple[str, ...]`` that takes
the rest of the reply.
"""

from __future__ import annotations

import importlib.resources
import typing
import weakref
from typing import Any, Callable

import redis.exceptions


def source(package: str, name: str) -> str:
    folder = importlib.resources.files(package) / "lua"
    text = (folder / f"{name}.lua").read_text(encoding="utf-8")
    prelude = folder / "prelude.lua"
    if name != "prelude" and prelude.is_file():
        text = prelude.read_text(encoding="utf-8") + "\n" + text
    return text


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value) -> int:
    return 0 if value is None else int(value)


def _bool(value) -> bool:
    return value is not None and int(value) != 0


_CONVERTERS: dict[Any, Callable] = {int: _int, str: _text, bool: _bool}


def decoder(reply: type | None) -> Callable[[Any], Any]:
    """A function turning a raw reply into ``reply`` (a NamedTuple), or the identity."""
    if reply is None:
        return lambda raw: raw
    hints = typing.get_type_hints(reply)
    converters = [_CONVERTERS.get(hints[name]) for name in reply._fields]
    rest = None
    if converters and converters[-1] is None:  # tuple[str, ...]: the rest of the reply
        rest = _CONVERTERS[typing.get_args(hints[reply._fields[-1]])[0]]
        converters.pop()
    if None in converters:
        raise TypeError(f"{reply.__name__}: unsupported field type")
    fixed = len(converters)

    def decode(raw):
        values = [convert(raw[i] if i < len(raw) else None) for i, convert in enumerate(converters)]
        if rest is not None:
            values.append(tuple(rest(v) for v in raw[fixed:]))
        return reply._make(values)
    return decode


_created: "weakref.WeakSet[Script]" = weakref.WeakSet()


async def load_all(client) -> None:
    """SCRIPT LOAD every script made for ``client``, at start: a script missing from Redis
    costs a NOSCRIPT round trip, and redis-py keeps that error (with a traceback holding the
    caller's frame) alive, so it must not happen on a request's path."""
    for script in list(_created):
        if script.client is client:
            await client.script_load(script.source)


class Script:
    """A script of ``package``'s ``lua/`` folder, registered with ``client``."""

    def __init__(self, client, package: str, name: str, reply: type | None = None):
        self.name = name
        self.client = client
        self.source = source(package, name)
        self._script = client.register_script(self.source)
        self.decode = decoder(reply)
        _created.add(self)

    async def __call__(self, keys, args=()):
        return self.decode(await self._script(keys=list(keys), args=list(args)))

    async def queue(self, pipe, keys, args=()) -> None:
        """Add a call to ``pipe``; decode its result from ``pipe.execute()`` with ``decode``."""
        await self._script(keys=list(keys), args=list(args), client=pipe)


def is_error(raw, code: str) -> bool:
    """Whether a raw reply (or exception) is the script's ``error(code)``: Redis wraps the
    text in its own words, which differ between versions."""
    return isinstance(raw, redis.exceptions.ResponseError) and code in str(raw)
