"""Fuzzing /ws: random, truncated, oversized, binary, fragmented and control frames, invalid
UTF-8, JSON of the wrong shapes for every op, ping floods, join/leave storms, thousands of
rooms, sockets dropped mid-frame.

Frames go out on a bare socket (tests/wsraw.py), so anything RFC 6455 forbids can be sent.
A model of the contract says what each sequence must get back, frame for frame: a pong per
ping, a reply per op, {"op":"error"} bad_request per frame that is not a known op in JSON
(1008 at the tenth in a row), 1009 for a message over 4 KiB, 1002 for what breaks the
protocol, 1007 for a close reason that is not UTF-8. After every example, another client
still gets pushes.
"""

from __future__ import annotations

import asyncio
import os
import struct

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from ticketd import appkeys
from ticketd.live.protocol import MAX_BAD_FRAMES, MAX_FRAME_BYTES
from ticketd.live.hub import MAX_ROOMS

from helpers import FUZZ_COUNTS, until
from wsclient import connect
from wsraw import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, RawWs, frame

EXAMPLES = int(os.environ.get("TICKETD_FUZZ_WS_EXAMPLES", "200"))
# No shrinking: a failing example is reported as found (shrinking through 5 s timeouts
# could take many minutes).
FUZZ = settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate], derandomize=bool(os.environ.get("CI")), database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
RESERVED_OPCODES = [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF]


@pytest.fixture
async def live(client, api, admin_token):
    """An event, and an observer in its room that must keep getting pushes whatever the
    fuzzed sockets do."""
    event = await api.create_event(admin_token, seats=(2, 3))
    hub = client.server.app[appkeys.hub]
    observer = await connect(client)
    room = f"event:{event['id']}"
    await observer.join(room)
    sent = [0]

    async def still_serving():
        sent[0] += 1
        await hub.publish(room, "announcement", {"message": "still here", "n": sent[0]})
        push = await observer.push("announcement", timeout=5)
        assert push["data"]["n"] == sent[0]
        assert (await observer.call("ping"))["op"] == "pong"

    yield {"client": client, "hub": hub, "event": event, "port": client.server.port, "api": api,
           "admin_token": admin_token, "still_serving": still_serving}
    await observer.close()


# ---- the model -----------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=10)


def messages(event_id: str):
    """Whole messages (bytes), from well-formed ops to noise."""
    ops = st.fixed_dictionaries({"op": st.sampled_from(["ping", "join", "leave", "auth"])},
                                optional={"ref": JSON, "room": st.sampled_from(
                                    [f"event:{event_id}", f"seats:{event_id}", "event:999999", "nowhere:1"]) | JSON,
                                    "token": JSON})
    return st.one_of(
        ops.map(orjson.dumps),
        st.dictionaries(st.text(max_size=5), JSON, max_size=4).map(orjson.dumps),
        JSON.map(orjson.dumps),
        st.binary(max_size=64),
        st.sampled_from([b'{"op":"ping","ref":"\xff"}', b"\xc3\x28", b"\xed\xa0\x80", b'{"op":"ping"',
                         b'{"op":"ping","ref":' + b"[" * 300 + b"]" * 300 + b"}"]),
        # Over 4 KiB, as one frame or (below) in fragments.
        st.integers(MAX_FRAME_BYTES + 100, 6000).map(lambda n: b'{"op":"ping","ref":"' + b"x" * n + b'"}'),
    )


@st.composite
def frame_plans(draw, event_id: str):
    """A list of frames to send: (opcode, fin, rsv, payload)."""
    plans = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["message"] * 6 + ["fragmented", "control", "broken"]))
        if kind in ("message", "fragmented"):
            payload = draw(messages(event_id))
            opcode = draw(st.sampled_from([TEXT] * 5 + [BINARY]))
            if kind == "message" or len(payload) < 2:
                plans.append((opcode, True, 0, payload))
                continue
            cuts = sorted(draw(st.lists(st.integers(1, len(payload) - 1), min_size=1, max_size=3, unique=True)))
            pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)])]
            for i, piece in enumerate(pieces):
                plans.append((opcode if i == 0 else CONTINUATION, i == len(pieces) - 1, 0, piece))
                if i < len(pieces) - 1 and draw(st.booleans()):  # control frames may come between
                    plans.append((PING, True, 0, draw(st.binary(max_size=20))))
        elif kind == "control":
            opcode = draw(st.sampled_from([PING, PING, PONG, CLOSE]))
            if opcode == CLOSE:
                payload = draw(st.one_of(st.just(b""), st.binary(min_size=1, max_size=1),
                                         st.builds(lambda code, reason: struct.pack("!H", code) + reason,
                                                   st.sampled_from([1000, 1001, 1005, 1008, 2999, 3000, 4999, 999]),
                                                   st.sampled_from([b"", b"bye", b"\xff\xfe"]))))
            else:
                payload = draw(st.binary(max_size=130))
            plans.append((opcode, draw(st.sampled_from([True] * 5 + [False])), 0, payload))
        else:
            plans.append(draw(st.sampled_from([
                (draw(st.sampled_from(RESERVED_OPCODES)), True, 0, b"x"),
                (TEXT, True, draw(st.integers(1, 7)), b'{"op":"ping"}'),
                (CONTINUATION, True, 0, b"orphan"),
            ])))
    return plans


def _message_answer(opcode: int, data: bytes):
    """What one whole message gets: ("pong"|"reply", ref) for a known op, "error" else."""
    if opcode == BINARY:
        return "error"
    try:
        msg = orjson.loads(data)
        ref = msg.get("ref") if isinstance(msg, dict) else None
        orjson.dumps(ref)
    except (orjson.JSONDecodeError, TypeError):
        return "error"
    if not isinstance(msg, dict) or msg.get("op") not in ("ping", "join", "leave", "auth"):
        return "error"
    return ("pong" if msg["op"] == "ping" else "reply", ref)


def expected(plans) -> tuple[list, int]:
    """What the contract says comes back, in order: ("text", kind) / ("pong", payload) /
    ("close", code), and how many of the frames are sent: the model stops at the first
    close, and so does the test (frames after it would only be left unread)."""
    out, sent = _expected(plans)
    return out, sent


def _expected(plans):
    out, partial, bad = [], None, 0
    for index, (opcode, fin, rsv, payload) in enumerate(plans):
        end = index + 1
        if rsv or opcode in RESERVED_OPCODES:
            return out + [("close", 1002)], end
        if opcode >= CLOSE:
            if not fin or len(payload) > 125:
                return out + [("close", 1002)], end
            if opcode == PING:
                out.append(("pong", payload))
            elif opcode == CLOSE:
                return out + [("close", _close_answer(payload))], end
            continue
        if opcode == CONTINUATION:
            if partial is None:
                return out + [("close", 1002)], end
            partial = (partial[0], partial[1] + payload)
        else:
            if partial is not None:
                return out + [("close", 1002)], end
            partial = (opcode, payload)
        if len(partial[1]) > MAX_FRAME_BYTES:
            return out + [("close", 1009)], end
        if fin:
            answer = _message_answer(*partial)
            partial = None
            if answer == "error":
                bad += 1
                out.append(("text", "error"))
                if bad >= MAX_BAD_FRAMES:
                    return out + [("close", 1008)], end
            else:
                bad = 0
                out.append(("text", answer))
    return out, len(plans)


def _close_answer(payload: bytes) -> int:
    if len(payload) == 1:
        return 1002
    if len(payload) >= 2:
        code = struct.unpack("!H", payload[:2])[0]
        if code < 3000 and code not in (1000, 1001, 1002, 1003, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                                        1014):
            return 1002
        try:
            payload[2:].decode()
        except UnicodeDecodeError:
            return 1007
    return 1000


async def answers(ws: RawWs, closes: bool) -> list:
    """The server's frames, as the model writes them, up to its close (or, when the model
    expects none, up to the pong of a last ping sent as a marker)."""
    if not closes:
        ws.send(frame(b"marker", opcode=PING))
    got = []
    while True:
        try:
            opcode, payload = await ws.recv()
        except ConnectionResetError:
            got.append(("reset", None))
            return got
        if opcode == CLOSE:
            got.append(("close", struct.unpack("!H", payload[:2])[0]))
            return got
        if opcode == -1:
            got.append(("eof", None))
            return got
        if opcode == PONG:
            if not closes and payload == b"marker":
                return got
            got.append(("pong", payload))
        else:
            assert opcode == TEXT, opcode
            msg = orjson.loads(payload)
            if msg["op"] == "error":
                assert msg["error"]["code"] == "bad_request" and msg["error"]["message"]
                got.append(("text", "error"))
            else:
                assert msg["op"] in ("pong", "reply"), msg
                if msg["op"] == "reply" and not msg["ok"]:
                    assert msg["error"]["code"] in ("bad_request", "not_found", "unauthorized", "forbidden",
                                                    "limit_exceeded"), msg
                got.append(("text", (msg["op"], msg["ref"])))


# ---- the fuzzers -----------------------------------------------------------------------

@given(data=st.data())
@FUZZ
async def test_random_frames_get_the_contracts_answers(live, data):
    plans = data.draw(frame_plans(live["event"]["id"]), label="frames")
    want, sent = expected(plans)
    plans = plans[:sent]
    ws = await RawWs.connect(live["port"])
    for opcode, fin, rsv, payload in plans:
        ws.send(frame(payload, opcode=opcode, fin=fin, rsv=rsv))
    closes = bool(want) and want[-1][0] == "close"
    got = await answers(ws, closes)
    if got[-1:] == [("reset", None)]:
        # The server closed with the rest of a frame it refused still unread (over 4 KiB, or
        # broken): TCP then resets, and what was in flight to us may be lost with it.
        assert closes and want[:len(got) - 1] == got[:-1], (plans, got, want)
    else:
        assert got == want, plans
    await ws.aclose()
    FUZZ_COUNTS["/ws frame sequences (hypothesis)"] += 1
    FUZZ_COUNTS["/ws frames sent"] += len(plans)
    await live["still_serving"]()


@given(data=st.data())
@FUZZ
async def test_every_op_with_json_of_the_wrong_shapes(live, data):
    """Each op with every field of any type: a pong, a reply with the ref, or bad_request;
    the socket stays up."""
    op = data.draw(st.sampled_from(["ping", "join", "leave", "auth"]) | JSON, label="op")
    fields = data.draw(st.dictionaries(st.sampled_from(["ref", "room", "token", "data", "op2"]), JSON, max_size=4),
                       label="fields")
    ws = await connect(live["client"])
    await ws.send({"op": op, **fields})
    msg = await ws.recv()
    known = isinstance(op, str) and op in ("ping", "join", "leave", "auth")
    if not known:
        assert msg["op"] == "error" and msg["error"]["code"] == "bad_request", msg
    elif op == "ping":
        assert msg == {"op": "pong", "ref": fields.get("ref")}
    else:
        assert msg["op"] == "reply" and msg["ref"] == fields.get("ref"), msg
        room, token = fields.get("room"), fields.get("token")
        if op == "auth" and not (isinstance(token, str) and token):
            assert msg["error"]["code"] == "bad_request", msg
        elif op == "auth":
            assert msg["error"]["code"] == "unauthorized", msg
        elif not (isinstance(room, str) and room and len(room) <= 200):
            assert msg["error"]["code"] == "bad_request", msg
        elif op == "leave":
            assert msg["ok"] is True and msg["data"] == {}
        else:
            assert msg["ok"] is False and msg["error"]["code"] in ("not_found", "unauthorized"), msg
    assert (await ws.call("ping"))["op"] == "pong"
    await ws.close()
    FUZZ_COUNTS["/ws op shapes (hypothesis)"] += 1
    await live["still_serving"]()


async def test_a_ping_flood_is_answered_in_order(live):
    ws = await RawWs.connect(live["port"])
    count = 5000
    ws.send(b"".join(frame(b'{"op":"ping","ref":%d}' % i) for i in range(count)))
    ws.send(b"".join(frame(b"%d" % i, opcode=PING) for i in range(count)))
    for i in range(count):
        assert await ws.recv() == (TEXT, b'{"op":"pong","ref":%d}' % i)
    for i in range(count):
        assert await ws.recv() == (PONG, b"%d" % i)
    await ws.aclose()
    FUZZ_COUNTS["/ws pings in floods"] += 2 * count
    await live["still_serving"]()


async def test_join_leave_storms_leave_no_rooms_behind(live):
    hub, event = live["hub"], live["event"]
    rooms_before = set(hub.rooms)
    storms = [await RawWs.connect(live["port"]) for _ in range(5)]
    rounds = 300
    for ws in storms:
        ws.send(b"".join(frame(orjson.dumps({"op": op, "room": f"{kind}:{event['id']}", "ref": i}))
                         for i in range(rounds) for kind in ("event", "seats") for op in ("join", "leave")))
    for ws in storms:
        for i in range(rounds * 4):
            opcode, payload = await ws.recv()
            msg = orjson.loads(payload)
            if msg["op"] == "event":  # a push that raced a join: fine
                continue
            assert msg["op"] == "reply" and msg["ok"], msg
    FUZZ_COUNTS["/ws joins and leaves in storms"] += len(storms) * rounds * 4
    await live["still_serving"]()
    assert set(hub.rooms) == rooms_before
    for ws in storms:
        ws.abort()
    await until(lambda: _async(len(hub.conns) == 1))


async def test_thousands_of_rooms_requested(live):
    hub, event = live["hub"], live["event"]
    rooms_before = set(hub.rooms)
    ws = await RawWs.connect(live["port"])
    # 2,000 rooms of events that do not exist, then 60 of every kind of an existing one's
    # name... and one more than the limit of real ones.
    count = 2000
    ws.send(b"".join(frame(orjson.dumps({"op": "join", "room": f"event:{1000 + i}", "ref": i}))
                     for i in range(count)))
    for i in range(count):
        msg = orjson.loads((await ws.recv())[1])
        assert msg["ok"] is False and msg["error"]["code"] == "not_found" and msg["ref"] == i, msg
    assert set(hub.rooms) == rooms_before
    events = [live["event"]] + [await _event(live) for _ in range(MAX_ROOMS // 2)]
    names = [f"{kind}:{e['id']}" for e in events for kind in ("event", "seats")]
    ws.send(b"".join(frame(orjson.dumps({"op": "join", "room": name, "ref": name})) for name in names))
    for i, name in enumerate(names):
        while (msg := orjson.loads((await ws.recv())[1]))["op"] == "event":
            pass
        assert msg["ref"] == name
        if i < MAX_ROOMS:
            assert msg["ok"], msg
        else:
            assert msg["ok"] is False and msg["error"]["code"] == "limit_exceeded", msg
    FUZZ_COUNTS["/ws rooms requested"] += count + len(names)
    await live["still_serving"]()
    ws.abort()
    await until(lambda: _async(set(hub.rooms) == rooms_before | {f"event:{event['id']}"}))


async def test_sockets_dropped_mid_frame_leave_nothing_behind(live):
    hub, event = live["hub"], live["event"]
    rooms_before = set(hub.rooms)
    join = frame(orjson.dumps({"op": "join", "room": f"seats:{event['id']}", "ref": "j"}))
    cuts = [
        join[:1],                                    # inside the header
        join[:6],                                    # inside the mask
        join[:-3],                                   # inside the payload
        frame(b"x" * 1000)[:200],                    # a long frame's first part
        frame(b"", length=2**40)[:10],               # a frame that says 1 TiB
        join + frame(b'{"op":"ping"}', fin=False),   # joined, then half a message
    ]
    for cut in cuts:
        for drop in ("reset", "close"):
            ws = await RawWs.connect(live["port"])
            ws.send(cut)
            await ws.writer.drain()
            if cut.startswith(join):  # wait for the join: the drop must find the room joined
                assert orjson.loads((await ws.recv())[1])["ok"]
            if drop == "reset":
                ws.abort()
            else:
                await ws.aclose()
            FUZZ_COUNTS["/ws sockets dropped mid-frame"] += 1
    await until(lambda: _async(len(hub.conns) == 1 and set(hub.rooms) == rooms_before))
    # Mid-handshake, too.
    reader, writer = await asyncio.open_connection("127.0.0.1", live["port"])
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
    writer.close()
    await live["still_serving"]()


async def _event(live) -> dict:
    return await live["api"].create_event(live["admin_token"], quantity=1)


async def _async(value):
    return value
