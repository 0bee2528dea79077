#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_connection into corpus/connection/.

Each seed is a configuration byte (see tests/fuzz/connection.c) followed by
what the peer sends: a real Slic handshake and icerpc Settings, then
requests (server under test) or responses (client under test), GoAway,
pings and Close."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from gen_slic_corpus import (ACK, CLOSE, INIT, LAST, PING, STREAM,  # noqa: E402
                             WINDOW_UPDATE, WRITES_CLOSED, frame, params,
                             varu)
from gen_icerpc_corpus import control, request, response, sized  # noqa: E402

CLIENT, CANCEL, RESET = 1, 0x40, 0x80
SETTINGS, GOAWAY = 0, 1


def pieces(n):
    return n << 1  # index into the piece sizes table


def calls(n):
    return n << 4  # calls the client under test starts at once


def settings(sid):
    return frame(STREAM, control(SETTINGS, varu(0)), sid)


def goaway(sid, bidi, uni):
    return frame(STREAM, control(GOAWAY, varu(bidi) + varu(uni)), sid)


CLIENT_HELLO = frame(INIT, varu(1) + params(32768, 65536, 30000, 100, 101))
SERVER_HELLO = frame(ACK, params(32768, 65536, 30000, 100, 101))


def req(sid, payload=b"hello", path="/echo"):
    return frame(LAST, sized(request(path, "op")) + payload, sid)


def resp(sid, status=0, payload=b"ping"):
    return frame(LAST, sized(response(status, "failed")) + payload, sid)


SEEDS = {
    # Server: two requests, a one-way one, a ping, GoAway, Close.
    "server_echo": bytes([pieces(7)]) + CLIENT_HELLO + settings(2)
    + req(0) + req(4, b"world") + req(6, b"one-way") + frame(PING, bytes(8))
    + goaway(2, 8, 6) + frame(CLOSE, varu(0)),
    # Server: the same in 7-byte pieces.
    "server_pieces": bytes([pieces(3)]) + CLIENT_HELLO + settings(2)
    + req(0) + req(4, b"world"),
    # Server: a request in several frames, a window update, an aborted one.
    "server_frames": bytes([pieces(6)]) + CLIENT_HELLO + settings(2)
    + frame(STREAM, sized(request("/echo", "op")) + b"a" * 1000, 0)
    + frame(STREAM, b"b" * 1000, 0) + frame(LAST, b"c" * 1000, 0)
    + frame(STREAM, sized(request("/echo", "op")), 4)
    + frame(WRITES_CLOSED, b"", 4) + frame(WINDOW_UPDATE, varu(100), 0),
    # Server: an unknown path, then the peer resets.
    "server_reset": bytes([RESET | pieces(7)]) + CLIENT_HELLO + settings(2)
    + req(0, b"x", "/nowhere") + req(4),
    # Client: three calls answered (the one-way needs none), GoAway.
    "client_echo": bytes([CLIENT | calls(3) | pieces(7)]) + SERVER_HELLO
    + settings(3) + resp(0) + resp(4, 6) + goaway(3, 8, 2),
    # Client: an answer and GoAway in one write, a call started after it.
    "client_goaway": bytes([CLIENT | calls(1) | pieces(7)]) + SERVER_HELLO
    + settings(3) + resp(0) + goaway(3, 0, 2) + frame(PING, bytes(8)),
    # Client: the first call canceled half-way, in small pieces.
    "client_cancel": bytes([CLIENT | CANCEL | calls(2) | pieces(2)])
    + SERVER_HELLO + settings(3) + frame(PING, bytes(8)) + resp(4),
    # Client: a response in pieces, then a reset.
    "client_reset": bytes([CLIENT | RESET | calls(2) | pieces(4)])
    + SERVER_HELLO + settings(3)
    + frame(STREAM, sized(response(0)) + b"p" * 500, 0)
    + frame(LAST, b"q" * 500, 0),
    # Client: Close from the server with calls in flight.
    "client_close": bytes([CLIENT | calls(3) | pieces(5)]) + SERVER_HELLO
    + settings(3) + frame(CLOSE, varu(0)),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "corpus", "connection")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
