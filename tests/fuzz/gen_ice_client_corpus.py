#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ice_client into corpus/ice_client/.

Each seed is a script for tests/fuzz/ice_client.c: a configuration byte,
then operations. The server peer's bytes are those of a real Ice 3.7
server (ice-vectors): ValidateConnection, replies of every status, a
bzip2-compressed reply, the server's own requests and CloseConnection,
with calls made, canceled and timed out on the way."""
import bz2
import os
import struct

COMPRESS, SMALL_MAX, DISPATCHER, RESET, IDLE, CONNECT_4MS = 1, 2, 4, 8, 16, 32

# The table of ice_client.c, by index.
VALIDATE, CLOSE, OK, OK_PAYLOAD, USER_EXCEPTION = 0, 1, 2, 3, 4
OBJECT_NOT_EXIST, OPERATION_NOT_EXIST, UNKNOWN_LOCAL, BAD_STATUS = 5, 6, 7, 8
COMPRESSED, STATUS1, ENCODING10 = 9, 10, 11
SERVER_REQUEST, SERVER_ONEWAY, SERVER_BATCH, HEARTBEAT1 = 12, 13, 14, 15
NO_ID = (VALIDATE, CLOSE, COMPRESSED, HEARTBEAT1)

# Call kinds.
TWOWAY, ONEWAY, IDEMPOTENT, CONTEXT, FACET, ZYES, ZNO, BIG = range(8)


def msg(k, rid=1):
    return bytes([1 | k << 4]) + (b"" if k in NO_ID else bytes([rid]))


def call(kind, noise=False):
    return bytes([5 | (kind | (8 if noise else 0)) << 4])


def run(n=1):
    return bytes([2 | (n - 1) << 4])


def wait(ms):
    return bytes([3 | (ms - 1) << 4])


def end(how):  # 0 FIN, 1 close, 2 abort
    return bytes([4 | how << 4])


def cancel(i):
    return bytes([6 | i << 4])


SHUTDOWN, CONNECT = bytes([7]), bytes([0x17])


def send(data):
    out = b""
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        out += bytes([(len(chunk) - 1) << 4]) + chunk
    return out


def header(mtype, cstat, size):
    return b"IceP\x01\x00\x01\x00" + bytes([mtype, cstat]) + struct.pack(
        "<i", size)


def reply_ok(rid, payload):
    body = struct.pack("<iB", rid, 0) + struct.pack(
        "<i", len(payload) + 6) + b"\x01\x01" + payload
    return header(2, 0, 14 + len(body)) + body


def compressed(message):
    """A message compressed as Ice compresses it (100k blocks)."""
    body = bz2.compress(message[14:], 1)
    return header(message[8], 2, 18 + len(body)) + struct.pack(
        "<i", len(message)) + body


ZEROS = b"\xff\x00\x01\x00\x00" + bytes(256)

SEEDS = {
    "session": bytes([0]) + call(TWOWAY) + run() + msg(VALIDATE) + run() +
    msg(OK_PAYLOAD, 1) + run() + call(ONEWAY) + run() + call(IDEMPOTENT) +
    run() + msg(OK, 2) + call(CONTEXT) + run() + msg(USER_EXCEPTION, 3) +
    call(FACET) + run() + msg(OBJECT_NOT_EXIST, 4) + call(TWOWAY) + run() +
    msg(OPERATION_NOT_EXIST, 5) + call(TWOWAY) + run() +
    msg(UNKNOWN_LOCAL, 6) + SHUTDOWN + run(2) + msg(CLOSE) + run(2),
    "compressed": bytes([COMPRESS]) + call(ZYES) + call(ZNO) + call(BIG) +
    run() + msg(VALIDATE) + run(2) +
    send(compressed(reply_ok(1, ZEROS))) + msg(STATUS1, 2) +
    send(compressed(reply_ok(3, ZEROS))) + run(2),
    "compressed_bomb": bytes([0]) + call(TWOWAY) + msg(VALIDATE) + run() +
    send(header(2, 2, 18 + 40) + struct.pack("<i", 1 << 30) +
         bz2.compress(bytes(4096), 1)[:40]) + run(2),
    "callback": bytes([DISPATCHER]) + call(TWOWAY) + msg(VALIDATE) + run() +
    msg(SERVER_REQUEST, 7) + msg(SERVER_ONEWAY) + msg(SERVER_BATCH) + run(2) +
    msg(OK, 1) + run(2) + SHUTDOWN + run(2) + msg(CLOSE) + run(),
    "no_dispatcher": bytes([0]) + call(TWOWAY) + msg(VALIDATE) + run() +
    msg(SERVER_REQUEST, 7) + run(2) + msg(OK, 1) + run(),
    "cancel": bytes([0]) + call(TWOWAY) + call(TWOWAY) + call(ONEWAY) +
    msg(VALIDATE) + run() + cancel(0) + run() + msg(OK, 2) + msg(OK, 1) +
    run(2) + cancel(0) + run(),
    "too_big": bytes([SMALL_MAX]) + call(BIG) + call(TWOWAY) +
    msg(VALIDATE) + run(2) + send(reply_ok(2, bytes(400))) + run(2),
    "peer_goes": bytes([0]) + call(TWOWAY) + msg(VALIDATE) + run() + end(2) +
    run(2) + call(TWOWAY) + CONNECT + run(2) + msg(VALIDATE) + run() +
    msg(OK, 1) + run() + end(0) + run(2),
    "heartbeats": bytes([IDLE]) + call(TWOWAY) + msg(VALIDATE) + wait(2) +
    msg(HEARTBEAT1) + wait(3) + msg(VALIDATE) + wait(3) + msg(OK, 1) + run(),
    "connect_timeout": bytes([CONNECT_4MS | RESET]) + call(TWOWAY) +
    call(ONEWAY) + wait(6) + run(),
    "bad_replies": bytes([0]) + call(TWOWAY) + call(TWOWAY) + call(TWOWAY) +
    msg(VALIDATE) + run() + msg(BAD_STATUS, 1) + msg(ENCODING10, 2) +
    msg(OK, 9) + run(2) + msg(OK, 3) + run(),
    "garbage": bytes([0]) + call(TWOWAY) + msg(VALIDATE) + run() +
    send(b"hello, this is garbage") + run(2),
    "shutdown_first": bytes([DISPATCHER]) + call(TWOWAY) + SHUTDOWN +
    msg(VALIDATE) + run() + msg(SERVER_REQUEST, 1) + run() + msg(OK, 1) +
    run(2) + msg(CLOSE) + run(2),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "corpus", "ice_client")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
