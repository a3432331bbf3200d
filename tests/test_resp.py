"""The bridge's RESP parser: every value kind, frames split anywhere, several at once."""

from __future__ import annotations

import pytest

from ticketd.live.resp import RedisReplyError, encode_command, parse

MESSAGE = encode_command("message", "ticketd:room:event:1", '7 1.5|tick {"op":"event"}')


def _all(buf: bytes) -> list:
    values, pos = [], 0
    while (parsed := parse(buf, pos)) is not None:
        value, pos = parsed
        values.append(value)
    assert pos == len(buf)
    return values


@pytest.mark.parametrize("raw, value", [
    (b"+OK\r\n", b"OK"),
    (b":42\r\n", 42),
    (b":-1\r\n", -1),
    (b"$5\r\nhello\r\n", b"hello"),
    (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"*0\r\n", []),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),  # a bulk string may hold CRLF
    (b"*2\r\n*2\r\n:1\r\n$1\r\na\r\n*0\r\n", [[1, b"a"], []]),
])
def test_values(raw, value):
    assert parse(raw, 0) == (value, len(raw))


def test_an_error_is_returned_not_raised():
    value, pos = parse(b"-ERR wrong password\r\n", 0)
    assert isinstance(value, RedisReplyError) and str(value) == "ERR wrong password" and pos == 21


def test_a_frame_split_at_every_byte_is_incomplete_until_whole():
    for cut in range(len(MESSAGE)):
        assert parse(MESSAGE[:cut], 0) is None, cut
    assert parse(MESSAGE, 0) == ([b"message", b"ticketd:room:event:1", b'7 1.5|tick {"op":"event"}'],
                                 len(MESSAGE))


def test_a_stream_fed_in_every_split_gives_the_same_values():
    stream = b"+PONG\r\n" + MESSAGE + b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n" + MESSAGE
    expected = _all(stream)
    assert len(expected) == 4
    for cut in range(1, len(stream)):
        buf, got = bytearray(), []
        for chunk in (stream[:cut], stream[cut:]):
            buf += chunk
            pos = 0
            while (parsed := parse(buf, pos)) is not None:
                value, pos = parsed
                got.append(value)
            del buf[:pos]
        assert got == expected and not buf, cut


def test_a_big_bulk_string():
    payload = bytes(range(256)) * 4096  # 1 MiB, every byte value, CRLFs included
    raw = b"$%d\r\n%s\r\n" % (len(payload), payload)
    assert parse(raw[:-1], 0) is None
    assert parse(raw, 0) == (payload, len(raw))


def test_parsing_from_an_offset():
    raw = b":1\r\n:2\r\n"
    assert parse(raw, 4) == (2, 8)


def test_commands_are_arrays_of_bulk_strings():
    assert encode_command("SUBSCRIBE", b"a", "bc") == b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$2\r\nbc\r\n"
    assert parse(encode_command("PING"), 0) == ([b"PING"], 14)
