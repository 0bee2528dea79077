#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_icerpc_server and fuzz_icerpc_client
into corpus/icerpc_server/ and corpus/icerpc_client/.

Each seed is a script for tests/fuzz/icerpc_session.c: four configuration
bytes, then operations. The peer's bytes are real icerpc sessions over
Slic: the handshake, Settings, requests (server under test) or responses
(client under test), flow control, pings, GoAway and Close, with calls
made, canceled and timed out on the way."""
import os
import sys
import zlib

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from gen_slic_corpus import (ACK, CLOSE, INIT, LAST, PING,  # noqa: E402
                             READS_CLOSED, STREAM, WINDOW_UPDATE,
                             WRITES_CLOSED, frame, params, varu)
from gen_icerpc_corpus import (FORMATS, TICKS, control, request,  # noqa: E402
                               response, settings as settings_body, sized)

# ---- Configuration bytes (see icerpc_session.c) ----
SHAPED, RESET, CANCEL_COMPLETES, FREE_FIRST, CACHE, CLIENT_DISPATCHER = (
    1, 8, 0x10, 0x20, 0x40, 0x80)
IDLE_3MS, INACTIVITY_2MS, SHUTDOWN_5MS, ONE_DISPATCH = 2, 8, 0x10, 0x40
ONE_BIDI, SMALL_WINDOW, SMALL_PAYLOAD = 1, 0x10, 0x40
RETRY, DEADLINE, DEADLINE_20MS, COMPRESS, COMPRESS_ALWAYS = 1, 2, 4, 8, 0x10
DEADLINE_MW, COMPRESS_MW, RETRY_4 = 0x20, 0x40, 0x80


def profile(n):
    return n << 1  # the shaped link's profile


def cfg(c0=0, c1=0, c2=0, c3=0):
    return bytes([c0, c1, c2, c3])


# ---- Operations ----
def send(data):
    out = b""
    for i in range(0, len(data), 256):
        chunk = data[i:i + 256]
        out += bytes([0, len(chunk) - 1]) + chunk
    return out


def send_small(data, piece):
    """The same bytes in writes of `piece` (1..16) bytes."""
    out = b""
    for i in range(0, len(data), piece):
        chunk = data[i:i + piece]
        out += bytes([1 | (len(chunk) - 1) << 4]) + chunk
    return out


def run(n=16):
    return bytes([2 | (n - 1) << 4])


def advance(step):
    return bytes([3 | step << 4])  # steps[]: 3 = 1 ms, 8 = 50 ms, 11 = 1 s


def wait(ms):
    return bytes([4 | (ms - 1) << 4])


def read(on):
    return bytes([5 | (1 << 4 if on else 0)])


FIN, CLOSE_PEER, ABORT = 0, 1, 2


def peer(action):
    return bytes([6 | action << 4])


def new_peer():
    return bytes([7])


ONEWAY, IDEMPOTENT, WITH_DEADLINE, COMPRESSED, BIG = 1, 2, 4, 8, 16
HUGE = BIG | 0xe0  # over the streaming threshold
ECHO, HOLD, OTHER, DIRECT = 0, 1, 2, 8  # client paths; DIRECT skips the pipeline


def call(kind=0, a=0):
    return bytes([8 | a << 4, kind])


def cancel(i, deadline=False):
    return bytes([9 | (1 << 4 if deadline else 0), i])


def release(i, mode=0):
    return bytes([10 | mode << 4, i])


SHUT_ENDPOINT, SHUT_CONNECTION, ABORT_CONNECTION, CONNECT = 0, 1, 2, 3


def shutdown(a):
    return bytes([11 | a << 4])


# ---- icerpc over Slic ----
SETTINGS, GOAWAY = 0, 1
CLIENT_HELLO = frame(INIT, varu(1) + params(32768, 65536, 30000, 100, 101))
SERVER_HELLO = frame(ACK, params(32768, 65536, 30000, 100, 101))
SMALL_HELLO = frame(INIT, varu(1) + params(1024, 1024, 30000, 4, 4))


def settings(sid, entries=()):
    return frame(STREAM, settings_body(list(entries)), sid)


def goaway(sid, bidi, uni):
    return frame(STREAM, control(GOAWAY, varu(bidi) + varu(uni)), sid)


def req(sid, path="/echo", payload=b"hello", fields=()):
    return frame(LAST, sized(request(path, "op", fields)) + payload, sid)


def resp(sid, status=0, payload=b"pong", fields=()):
    return frame(LAST, sized(response(status, "failed", fields)) + payload,
                 sid)


def deflate(data):
    """Raw Deflate (IceRPC's CompressionFormat.Deflate)."""
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    return z.compress(data) + z.flush()


DEFLATE = [(2, b"\x01")]  # the compression format field: Deflate
TEXT = b"compressible " * 40


def window(sid, n):
    return frame(WINDOW_UPDATE, varu(n), sid)


# The manual clock starts at FZ_START_NS (icerpc_session.c); a deadline
# 50 ms later, in .NET ticks.
START_NS = 1800000000000000000
LATER = (START_NS // 100 + 621355968000000000 + 500000).to_bytes(8, "little")

SERVER_START = run(4) + send(CLIENT_HELLO) + run(4) + send(settings(2))
CLIENT_START = run(4) + send(SERVER_HELLO + settings(3)) + run(8)

SERVER = {
    # Requests answered by each dispatcher, a one-way one, a ping, GoAway
    # and Close.
    "echo": cfg() + SERVER_START
    + send(req(0) + req(4, "/fail") + req(8, "/nowhere")
           + req(6, "/echo", b"one-way")) + run()
    + send(frame(PING, bytes(8)) + goaway(2, 12, 10)) + run()
    + send(frame(CLOSE, varu(0))) + run(),
    # The same requests, a byte at a time at first, then in 7-byte writes.
    "pieces": cfg() + run(4) + send_small(CLIENT_HELLO, 1) + run(2)
    + send_small(settings(2) + req(0) + req(4, "/fail"), 7) + run(),
    # Held dispatches: one released, one canceled by the peer, the rest
    # canceled by the end of the connection.
    "hold": cfg(CANCEL_COMPLETES) + SERVER_START
    + send(req(0, "/hold") + req(4, "/hold") + req(8, "/hold")) + run()
    + release(0) + run()
    + send(frame(READS_CLOSED, b"", 4) + frame(WRITES_CLOSED, b"", 4)) + run(),
    # Held dispatches when the server is freed first, the peer resetting.
    "hold_free": cfg(RESET | FREE_FIRST) + SERVER_START
    + send(req(0, "/hold") + req(4, "/hold")) + run() + release(1, 2),
    # A response bigger than the window: the peer pauses, reads again and
    # opens the window.
    "stream": cfg() + SERVER_START + read(False)
    + send(req(0, "/stream")) + run() + read(True) + run()
    + send(window(0, 32768)) + run() + send(window(0, 32768)) + run()
    + send(window(0, 65536)) + run(),
    # The server calls the peer back while dispatching; the peer answers.
    "callback": cfg() + SERVER_START + send(req(0, "/callback")) + run()
    + send(resp(1)) + run() + call(0) + run() + send(resp(5, 1)) + run(),
    # A request with a deadline through the deadline middleware; time
    # passes on the manual clock.
    "deadline": cfg(c3=DEADLINE_MW | COMPRESS_MW) + SERVER_START
    + send(req(0, "/hold", b"x", [(3, TICKS)])) + run()
    + advance(8) + run() + advance(11) + run(),
    # A held dispatch whose deadline, 50 ms away, passes on the manual
    # clock: the deadline middleware cancels it.
    "deadline_later": cfg(c3=DEADLINE_MW) + SERVER_START
    + send(req(0, "/hold", b"x", [(3, LATER)]) + req(4, "/echo", b"y",
                                                      [(3, LATER)]))
    + run() + advance(7) + run() + advance(7) + run() + advance(11) + run(),
    # A Deflate-compressed request through the compress middleware, and one
    # whose bytes are not Deflate.
    "compressed": cfg(c3=COMPRESS_MW) + SERVER_START
    + send(req(0, "/echo", deflate(TEXT), DEFLATE)
           + req(4, "/echo", b"not deflate", DEFLATE)) + run() + run(),
    # Short connection timers that real time makes fire, a small window.
    "timers": cfg(c1=IDLE_3MS | INACTIVITY_2MS | SHUTDOWN_5MS,
                  c2=SMALL_WINDOW) + run(4) + send(SMALL_HELLO) + run(4)
    + send(settings(2) + req(0)) + run() + wait(4) + run() + wait(4) + run(),
    # The server shuts down gracefully with a dispatch held and a request
    # arriving.
    "shutdown": cfg(c1=SHUTDOWN_5MS) + SERVER_START
    + send(req(0, "/hold")) + run() + shutdown(SHUT_ENDPOINT) + run()
    + send(req(4) + goaway(2, 8, 6)) + run() + release(0) + run(),
    # Two peers; the first one's connection is shut down, the second's
    # aborted.
    "two_peers": cfg(c1=ONE_DISPATCH) + SERVER_START
    + send(req(0, "/hold") + req(4)) + new_peer() + run() + send(CLIENT_HELLO)
    + run() + send(settings(2) + req(0)) + run()
    + shutdown(SHUT_CONNECTION) + run() + shutdown(ABORT_CONNECTION | 4)
    + run(),
    # Over a shaped link on the manual clock.
    "shaped": cfg(SHAPED | profile(2)) + SERVER_START + advance(5)
    + send(req(0) + req(4, "/stream")) + advance(8) + run() + advance(11)
    + run() + send(window(4, 65536)) + advance(11) + run(),
}

CLIENT = {
    # A two-way call answered, a one-way call whose stream the peer
    # releases.
    "echo": cfg() + call(0) + call(ONEWAY) + CLIENT_START
    + send(resp(0) + frame(READS_CLOSED, b"", 6)) + run() + call(COMPRESSED) + run() + send(resp(4))
    + run(),
    # Through a connection cache: the first call connects.
    "cache": cfg(CACHE) + call(0) + CLIENT_START + send(resp(0)) + run()
    + send(goaway(3, 0, 2)) + run(),
    # The peer resets the stream of an idempotent call, which is sent again
    # on the next stream after a backoff.
    "retry": cfg(c3=RETRY | RETRY_4) + call(IDEMPOTENT) + CLIENT_START
    + send(frame(WRITES_CLOSED, b"", 0)) + run() + advance(8) + run()
    + send(resp(4)) + run(),
    # The deadline interceptor's default timeout passes on the manual clock.
    "deadline": cfg(c3=DEADLINE | DEADLINE_20MS) + call(0)
    + call(WITH_DEADLINE | 0x20) + CLIENT_START + advance(7) + run()
    + advance(8) + run() + send(resp(0)) + run(),
    # Calls canceled, one after the peer answered part of it.
    "cancel": cfg() + call(0) + call(0) + call(0) + CLIENT_START
    + cancel(0) + run() + send(frame(STREAM, sized(response(0)), 4)) + run()
    + cancel(1, True) + run() + send(resp(8)) + run(),
    # GoAway with calls in flight: the retry interceptor sends the refused
    # one again on a new connection, which the peer accepts.
    "goaway": cfg(c3=RETRY) + call(0) + call(IDEMPOTENT) + CLIENT_START
    + send(goaway(3, 4, 2)) + run() + send(resp(0)) + run()
    + send(frame(CLOSE, varu(0))) + run() + advance(8) + run()
    + send(SERVER_HELLO + settings(3)) + run() + send(resp(0)) + run(),
    # The server calls the client's dispatcher.
    "dispatcher": cfg(CLIENT_DISPATCHER) + CLIENT_START
    + send(req(1) + req(5, "/hold") + req(9, "/callback")) + run()
    + send(resp(0)) + run() + release(0) + run(),
    # A compressed big payload towards a peer announcing what it reads.
    "compress": cfg(c3=COMPRESS | COMPRESS_ALWAYS) + run(4)
    + send(SERVER_HELLO + settings(3, [(FORMATS, 0b110)])) + run()
    + call(BIG) + run()
    + send(resp(0)) + run(),
    # A compressed response decompressed by the interceptor, and a corrupt
    # one.
    "compressed": cfg(c3=COMPRESS) + call(0) + call(0) + CLIENT_START
    + send(resp(0, 0, deflate(TEXT), DEFLATE)) + run()
    + send(resp(4, 0, b"garbage", DEFLATE)) + run(),
    # A payload over the streaming threshold, compressed as it streams; the
    # peer opens the window as it reads.
    "huge": cfg(c3=COMPRESS | COMPRESS_ALWAYS) + run(4)
    + send(SERVER_HELLO + settings(3, [(FORMATS, 0b110)])) + run()
    + call(HUGE) + run() + send(window(0, 65536)) + run()
    + send(window(0, 65536)) + run() + send(resp(0)) + run(),
    # The same without compression.
    "huge_plain": cfg() + call(HUGE) + CLIENT_START
    + send(window(0, 65536) + window(0, 65536)) + run()
    + send(window(0, 1 << 20)) + run() + send(resp(0)) + run(),
    # A graceful shutdown both ways: GoAway each, the peer ends its control
    # stream, the client sends Close.
    "close": cfg() + call(0) + CLIENT_START + send(resp(0)) + run()
    + shutdown(SHUT_ENDPOINT) + run() + send(goaway(3, 4, 2)) + run()
    + send(frame(LAST, b"", 3)) + run() + send(frame(CLOSE, varu(0)))
    + run(),
    # A big payload against a small window: the peer opens it bit by bit.
    "window": cfg(c2=SMALL_WINDOW) + call(BIG | DIRECT) + run(4)
    + send(frame(ACK, params(1024, 1024, 30000, 100, 101)) + settings(3))
    + run() + send(window(0, 30000)) + run() + send(window(0, 40000)) + run()
    + send(resp(0)) + run(),
    # Short timers, pings, and the shaped link.
    "timers": cfg(SHAPED, c1=IDLE_3MS | INACTIVITY_2MS) + call(0)
    + advance(4) + CLIENT_START + advance(5) + wait(4) + run()
    + send(frame(PING, bytes(8))) + advance(5) + run() + wait(4) + run(),
    # The client shuts down with a call in flight; the peer answers, then
    # resets.
    "shutdown": cfg(RESET, c1=SHUTDOWN_5MS) + call(0) + CLIENT_START
    + shutdown(SHUT_ENDPOINT) + run() + send(resp(0) + goaway(3, 4, 2))
    + run(),
}


def write(corpus, seeds):
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, "corpus", corpus)
    os.makedirs(out, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


def main():
    write("icerpc_server", SERVER)
    write("icerpc_client", CLIENT)


if __name__ == "__main__":
    main()
