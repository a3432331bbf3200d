"""Just enough RESP2 for the bridge's pub/sub connection: commands out, values in."""

from __future__ import annotations


class RedisReplyError(Exception):
    """A ``-ERR …`` reply."""


def encode_command(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            arg = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def parse(buf: bytes | bytearray, pos: int = 0):
    """One value from ``buf[pos:]`` as (value, next_pos), or None while it is incomplete.

    Bulk strings are bytes, a nil bulk string None, integers int, arrays lists, errors
    RedisReplyError instances (returned, not raised), simple strings bytes."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, line = buf[pos:pos + 1], bytes(buf[pos + 1:end])
    pos = end + 2
    if kind == b"$":
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            return None
        return bytes(buf[pos:pos + size]), pos + size + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            parsed = parse(buf, pos)
            if parsed is None:
                return None
            item, pos = parsed
            items.append(item)
        return items, pos
    if kind == b":":
        return int(line), pos
    if kind == b"-":
        return RedisReplyError(line.decode(errors="replace")), pos
    return line, pos  # "+OK" and friends
