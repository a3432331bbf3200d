"""A WebSocket client on a bare asyncio connection that sends any frame at all (reserved
opcodes and bits, unmasked, fragmented control frames, lengths that lie) and reads the
server's frames as they are, for fuzzing /ws below what aiohttp's client will send."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def frame(payload: bytes, opcode: int = TEXT, fin: bool = True, rsv: int = 0, mask: bool = True,
          length: int | None = None) -> bytes:
    """One client frame; ``length`` overrides the length field (to lie about it)."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv & 0x7) << 4 | opcode & 0xF])
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += struct.pack("!BH", bit | 126, size)
    else:
        head += struct.pack("!BQ", bit | 127, size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class RawWs:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str = "/ws", rcvbuf: int | None = None) -> "RawWs":
        sock = socket.socket()
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def recv(self, timeout: float = 5.0) -> tuple[int, bytes]:
        """The next server frame: (opcode, payload). EOF is (-1, b"")."""
        try:
            first, second = await asyncio.wait_for(self.reader.readexactly(2), timeout)
        except asyncio.IncompleteReadError:
            return -1, b""
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        assert not second & 0x80, "server frames are never masked"
        assert first & 0x80 and not first & 0x70, f"a final frame with no reserved bits, got {first:#x}"
        return first & 0xF, await self.reader.readexactly(size)

    async def close_code(self, timeout: float = 5.0) -> int | None:
        """Read until the server's close frame (its code) or EOF (None), skipping the rest."""
        while True:
            opcode, payload = await self.recv(timeout)
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if opcode == -1:
                return None

    def abort(self) -> None:
        """Drop the connection at once (RST), mid-frame or not."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def aclose(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
