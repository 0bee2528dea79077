#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_slic_frames into corpus/slic/.

Each seed is a configuration byte (see tests/fuzz/slic_frames.c) followed
by the frames the peer sends. The endpoint under test uses a 1024-byte
window and frame size and 4 streams of each kind."""
import os

INIT, ACK, VERSION, CLOSE, PING, PONG = 1, 2, 3, 4, 5, 6
STREAM, LAST, READS_CLOSED, WINDOW_UPDATE, WRITES_CLOSED = 7, 8, 9, 10, 11
CLIENT, READ, ANSWER, CLOCK, RAW = 1, 0x10, 0x20, 0x40, 0x80


def varu(v, width=None):
    if width is None:
        width = 1 if v < 1 << 6 else 2 if v < 1 << 14 else 4 if v < 1 << 30 else 8
    code = {1: 0, 2: 1, 4: 2, 8: 3}[width]
    return ((v << 2) | code).to_bytes(width, "little")


def frame(ftype, body=b"", sid=None):
    head = b"" if sid is None else varu(sid)
    width = 4 if ftype in (STREAM, LAST) else 2
    return bytes([ftype]) + varu(len(head) + len(body), width) + head + body


def params(frame_size=1024, window=1024, idle=1000, bidi=4, uni=4):
    items = [(4, frame_size), (3, window), (2, idle), (0, bidi), (1, uni)]
    out = varu(len(items))
    for key, value in items:
        v = varu(value)
        out += varu(key) + varu(len(v)) + v
    return out


def pieces(n):
    return n << 1  # index into the piece sizes table


SEEDS = {
    # Server: a request, its data read, a window update, a ping, Close.
    "server_request": bytes([READ | ANSWER | pieces(7)])
    + frame(STREAM, b"hello ", 0)
    + frame(LAST, b"world", 0)
    + frame(WINDOW_UPDATE, varu(100), 0)
    + frame(PING, bytes(8))
    + frame(CLOSE, varu(0)),
    # Server: one-way streams, an aborted one, reads closed.
    "server_oneway": bytes([READ | pieces(2)])
    + frame(LAST, b"one-way", 2)
    + frame(STREAM, b"abc", 6)
    + frame(WRITES_CLOSED, b"", 6)
    + frame(STREAM, b"x" * 1000, 0)
    + frame(READS_CLOSED, b"", 0),
    # Server: data beyond the window (not read).
    "server_window": bytes([pieces(5)])
    + frame(STREAM, b"y" * 1024, 0)
    + frame(STREAM, b"z", 0),
    # Client: the server opens streams and pings; time passes.
    "client_streams": bytes([CLIENT | READ | ANSWER | CLOCK | pieces(6)])
    + frame(LAST, b"push", 1)
    + frame(STREAM, b"uni", 3)
    + frame(LAST, b"", 3)
    + frame(PING, bytes(8))
    + frame(CLOSE, varu(3)),
    # Raw server: version negotiation, then version 1.
    "raw_server": bytes([RAW | READ | pieces(7)])
    + frame(INIT, varu(2) + b"\x00")
    + frame(INIT, varu(1) + params())
    + frame(LAST, b"after handshake", 0),
    # Raw client: InitializeAck, then a Pong for nothing.
    "raw_client": bytes([RAW | CLIENT | pieces(0)])
    + frame(ACK, params(bidi=0, uni=1))
    + frame(PONG, bytes(8)),
    # Raw client: refused by Version.
    "raw_version": bytes([RAW | CLIENT | pieces(7)])
    + frame(VERSION, varu(1) + varu(2)),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "slic")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
