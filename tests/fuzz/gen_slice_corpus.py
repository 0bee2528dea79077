#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_slice_decoder into corpus/slice/.

Each seed is a configuration byte followed by operations, in the format
tests/fuzz/slice_decoder.c reads: an operation byte, its parameter bytes,
then the encoded value. The op numbers below follow `enum op` there.
Run it again after changing that enum."""
import os
import struct

OPS = """BOOL U8 I16 I32 I64 F32 F64 VARU62 VARI62 VARU32 VARI32 SIZE STRING
STRING_COPY SEQ SEQ_INTO DICT BITSEQ SEGMENT SIZED POP_END POP_SKIP TAG
TAGS_END ENUM_RANGE ENUM_FN BUF SKIP ENCAPS IDENTITY CONTEXT EXCEPTION""".split()
OP = {name: i for i, name in enumerate(OPS)}
TYPES = """BOOL INT8 UINT8 INT16 UINT16 INT32 UINT32 INT64 UINT64 FLOAT32 FLOAT64
VARINT32 VARUINT32 VARINT62 VARUINT62""".split()
TYPE = {name: i for i, name in enumerate(TYPES)}  # parameter = index


def varu(v, width=None):
    if width is None:
        width = 1 if v < 1 << 6 else 2 if v < 1 << 14 else 4 if v < 1 << 30 else 8
    code = {1: 0, 2: 1, 4: 2, 8: 3}[width]
    return ((v << 2) | code).to_bytes(width, "little")


def vari(v):
    for width, bits in ((1, 6), (2, 14), (4, 30), (8, 62)):
        if -(1 << (bits - 1)) <= v < 1 << (bits - 1):
            code = {1: 0, 2: 1, 4: 2, 8: 3}[width]
            return (((v << 2) | code) & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
    raise ValueError(v)


def size1(n):
    return bytes([n]) if n < 255 else b"\xff" + struct.pack("<i", n)


def s2str(s):
    b = s.encode()
    return varu(len(b)) + b


def s1str(s):
    b = s.encode()
    return size1(len(b)) + b


def cfg(slice1=False, seg=1, limits=3):
    return bytes([(limits << 5) | ((seg - 1) << 1) | int(slice1)])


def op(name, *parts):
    return bytes([OP[name]]) + b"".join(parts)


def seeds():
    out = {}
    header = op("STRING", s2str("/foo")) + op("STRING", s2str("op")) + op("DICT", varu(0))
    out["s2_request_header"] = cfg() + op("SEGMENT", varu(len(header), 2), header)
    out["s2_primitives"] = cfg(seg=3) + b"".join([
        op("BOOL", b"\x01"), op("U8", b"\xff"), op("I16", struct.pack("<h", -2)),
        op("I32", struct.pack("<i", -(1 << 31))), op("I64", struct.pack("<q", 1 << 62)),
        op("F32", struct.pack("<f", 1.5)), op("F64", struct.pack("<d", -0.0)),
        op("VARU62", varu((1 << 62) - 1)), op("VARI62", vari(-33)),
        op("VARU32", varu(1 << 31)), op("VARI32", vari(-(1 << 31))),
        op("SIZE", varu(16384)), op("STRING", s2str("1 \u03bcs")),
        op("STRING_COPY", s2str("h\u00e9llo \U0001f600")),
    ])
    out["s2_sequences"] = cfg(seg=2) + b"".join([
        op("SEQ", bytes([TYPE["INT32"]]), varu(3), struct.pack("<3i", 5, 32, 9)),
        op("SEQ", bytes([TYPE["BOOL"]]), varu(2), b"\x01\x00"),
        op("SEQ", bytes([TYPE["VARINT62"]]), varu(2), vari(-1), vari(1 << 40)),
        op("SEQ_INTO", bytes([TYPE["UINT16"]]), b"\x04", varu(2), b"\x01\x00\xff\xff"),
        op("SEQ", bytes([TYPE["FLOAT64"]]), varu(1), struct.pack("<d", 2.5)),
        op("DICT", varu(1), s2str("k"), s2str("v")),
    ])
    tagged = op("U8", b"\x2a")
    out["s2_tagged_struct"] = cfg() + b"".join([
        op("I32", struct.pack("<i", 5)),
        op("TAG", b"\x02"), vari(2), varu(len(tagged)), tagged,
        op("TAGS_END"), vari(7), varu(1), b"\x00", b"\xfc",
    ])
    out["s2_bitseq_enum"] = cfg(seg=5) + b"".join([
        op("BITSEQ", b"\x04", b"\x05"),
        op("ENUM_RANGE", bytes([TYPE["UINT8"]]), b"\x03"),
        op("ENUM_FN", bytes([TYPE["VARINT32"]]), vari(-3)),
        op("SIZED", varu(3), op("U8", b"\x01"), b"\x00"),
        op("BUF", b"\x04", b"abcd"), op("SKIP", b"\x02", b"xy"),
    ])
    body = op("STRING", s1str("abc"))
    out["s1_request"] = cfg(slice1=True) + b"".join([
        op("I32", struct.pack("<i", 1)), op("IDENTITY", s1str("echo"), s1str("")),
        op("SIZE", b"\x00"), op("STRING", s1str("hello")), op("U8", b"\x00"),
        op("CONTEXT", b"\x01", s1str("k"), s1str("v")),
        op("ENCAPS", struct.pack("<i", 6 + len(body)), b"\x01\x01", body),
    ])
    first = s1str("::Demo::DerivedError")
    data = op("I32", struct.pack("<i", 7))
    last = s1str("::Demo::BaseError")
    exc = (op("EXCEPTION", b"\x01", b"\x10", first, struct.pack("<i", 4 + 2), b"\x00\x00")
           + op("EXCEPTION", b"\x00", b"\x30", last, struct.pack("<i", 4 + len(data)), data))
    out["s1_exception"] = cfg(slice1=True, seg=4) + op(
        "ENCAPS", struct.pack("<i", 6 + len(exc)), b"\x01\x01", exc)
    out["s1_sizes"] = cfg(slice1=True, seg=7) + b"".join([
        op("SIZE", size1(300)), op("SEQ", bytes([TYPE["UINT8"]]), size1(3), b"\x01\x02\x03"),
        op("STRING", s1str("x" * 260)),
    ])
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = os.path.join(here, "corpus", "slice")
    os.makedirs(outdir, exist_ok=True)
    for name, data in seeds().items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
