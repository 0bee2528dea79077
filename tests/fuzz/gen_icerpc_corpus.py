#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_icerpc_header into corpus/icerpc_header/.

Each seed is a configuration byte (see tests/fuzz/icerpc_header.c) followed
by the bytes to decode. The byte-exact examples of IceRPC's documentation
and sources (the request and response headers, Settings, GoAway, the
Idempotent field, a Deadline in a 2-byte placeholder) are among them."""
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from gen_slic_corpus import varu  # noqa: E402 (varuint62, 1 to 8 bytes)

REQUEST, RESPONSE, CONTROL, SIZED = 0, 1, 2, 3
ONEWAY = 4  # mode 0: a one-way request
AS_RESPONSE = 4  # mode 3: a response header
MAX_63, MAX_255, MAX_16383, MAX_1048575 = 0, 8, 16, 24  # mode 3


def string(s):
    b = s.encode()
    return varu(len(b)) + b


def fields(items, width=None):
    """A field dictionary; `width` forces the size width of every value, as
    IceRPC's WriteAction placeholders do."""
    out = varu(len(items))
    for key, value in items:
        out += varu(key) + varu(len(value), width) + value
    return out


def request(path, op, items=(), width=None):
    return string(path) + string(op) + fields(items, width)


def response(status, message=None, items=()):
    body = varu(status)
    if status != 0:
        body += string(message or "")
    return body + fields(items)


def sized(body, width=2):
    return varu(len(body), width) + body


def control(ftype, body):
    return bytes([ftype]) + varu(len(body), 2) + body


def settings(entries):
    out = varu(len(entries))
    for key, value in entries:
        out += varu(key) + varu(value)
    return control(0, out)


FORMATS = 0x69727063  # IRPC_SETTING_COMPRESSION_FORMATS
TICKS = (638000000000000000).to_bytes(8, "little")  # a Deadline value
CONTEXT = varu(1) + string("user") + string("alice")

SEEDS = {
    # The worked example of the docs: op "op" on /foo, no field.
    "doc_request": bytes([SIZED | MAX_16383])
    + bytes.fromhex("2500102f666f6f086f7000"),
    "doc_request_body": bytes([REQUEST]) + bytes.fromhex("102f666f6f086f7000"),
    # Ok, no field, with its 2-byte size.
    "doc_response": bytes([SIZED | AS_RESPONSE | MAX_16383]) + bytes.fromhex("09000000"),
    "doc_response_body": bytes([RESPONSE]) + bytes.fromhex("0000"),
    # The default Settings, and the GoAway of a client that accepted nothing.
    "doc_settings": bytes([CONTROL]) + bytes.fromhex("00050000"),
    "doc_goaway": bytes([CONTROL]) + bytes.fromhex("010900041c"),
    # Idempotent (key 4, empty: 10 00) and Deadline (key 3) written through
    # a 2-byte placeholder (21 00), as IceRPC does.
    "idempotent": bytes([REQUEST])
    + request("/hello", "sayHello", [(4, b"")]),
    "deadline_placeholder": bytes([REQUEST])
    + request("/a/b", "op", [(3, TICKS)], width=2),
    "context_oneway": bytes([REQUEST | ONEWAY])
    + request("/ctx", "notify", [(0, CONTEXT), (2, b"\x02")]),
    "request_max_255": bytes([SIZED | MAX_255])
    + sized(request("/svc", "op", [(1, bytes(26))])),
    "request_4_byte_size": bytes([SIZED | MAX_1048575])
    + sized(request("/svc", "op"), 4),
    "request_over_63": bytes([SIZED | MAX_63])
    + sized(request("/" + "x" * 70, "op")),
    "not_found": bytes([RESPONSE])
    + response(2, "The dispatch failed with status code NotFound."),
    "compressed_response": bytes([SIZED | AS_RESPONSE | MAX_16383])
    + sized(response(0, items=[(2, b"\x02")])),
    "unknown_status": bytes([RESPONSE]) + response(11, ""),
    "settings_max_header": bytes([CONTROL]) + settings([(0, 1048575)]),
    "settings_formats": bytes([CONTROL])
    + settings([(0, 100), (FORMATS, (1 << 1) | (1 << 2) | (1 << 32))]),
    "settings_unknown_key": bytes([CONTROL])
    + settings([(7, 1)])
    + control(1, varu(4) + varu(7)),
    # Invalid: a duplicate key, a size of 0, bytes left over, a bad max.
    "duplicate_key": bytes([REQUEST])
    + request("/x", "op", [(1, b""), (1, b"")]),
    "size_zero": bytes([SIZED | MAX_16383]) + varu(0, 2),
    "left_over": bytes([RESPONSE]) + response(0) + b"\x00",
    "settings_bad_max": bytes([CONTROL]) + settings([(0, 62)]),
}


def main():
    out = os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "icerpc_header"
    )
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
