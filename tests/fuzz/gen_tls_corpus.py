#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_tls_server into corpus/tls_server/.

Each seed is a control byte (see tests/fuzz/tls_server.c: piece size in
the low six bits, how the client ends in the top two) followed by what the
client sends: real ClientHellos made by Python's ssl module on memory BIOs
(TLS 1.3 and 1.2, with and without ALPN and SNI), the same cut short or
followed by junk, plain text, and a record of the wrong type."""
import os
import ssl

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "tls_server")


def client_hello(alpn=None, sni=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if max_version:
        ctx.maximum_version = max_version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def main():
    os.makedirs(OUT, exist_ok=True)
    hello13 = client_hello(["icerpc"], "localhost")
    seeds = {
        "hello13_alpn_sni": bytes([0x3f]) + hello13,
        "hello13_pieces": bytes([0x01]) + hello13,
        "hello13_close": bytes([0x40 | 0x3f]) + hello13,
        "hello13_abort": bytes([0x80 | 0x05]) + hello13,
        "hello12": bytes([0x3f]) + client_hello(
            ["ice"], None, ssl.TLSVersion.TLSv1_2),
        "hello_other_alpn": bytes([0x3f]) + client_hello(["h2"], "example"),
        "hello_no_alpn": bytes([0x3f]) + client_hello(),
        "hello_cut": bytes([0x3f]) + hello13[: len(hello13) // 2],
        "hello_then_junk": bytes([0x3f]) + hello13 + b"\x17\x03\x03\x00\x05junk!",
        "plain_http": bytes([0x3f]) + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "slic_initialize": bytes([0x3f]) + bytes([1, 8, 1, 0, 0, 0, 0, 0, 0]),
        "alert": bytes([0x3f]) + bytes([0x15, 3, 3, 0, 2, 2, 40]),
        "app_data_first": bytes([0x3f]) + bytes([0x17, 3, 3, 0, 4, 1, 2, 3, 4]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
