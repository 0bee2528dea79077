/* irpc: the Slice encoding.
 *
 * Slice is how irpc writes protocol headers, field values and application
 * payloads. This header is the runtime encoder and decoder that the protocol
 * code and generated code build on. Two encodings are supported:
 *
 *   IRPC_SLICE_ENCODING_2    Slice2, used by the icerpc protocol, Slic and
 *                            .slice payloads: varuint62 sizes, bit
 *                            sequences, tagged fields ending with 0xFC,
 *                            size-prefixed segments.
 *   IRPC_SLICE_ENCODING_1_1  The Ice encoding 1.1, as far as the ice protocol
 *                            needs it: sizes of 1 byte or 0xFF + int32,
 *                            strings, sequences, dictionaries,
 *                            encapsulations, identities, the request context
 *                            and the framing of user exceptions.
 *
 * One encoder type and one decoder type serve both; the encoding is chosen
 * when they are initialized. Functions that write or read a size (sizes,
 * strings, sequences, dictionaries) follow that choice. Functions that exist
 * in only one encoding say so and fail with IRPC_EINVAL in the other.
 *
 * All multi-byte values are little-endian on the wire, whatever the host.
 *
 * Encoder
 * -------
 * An irpc_slice_encoder appends to an irpc_buf owned by the caller. Small
 * values are written straight into the tail room of the chain's last block
 * (irpc_buf_reserve / irpc_buf_commit): there is no allocation per value and
 * no intermediate copy. The bytes written become part of the chain at
 * irpc_slice_encoder_flush (or earlier, whenever a block fills up). While an
 * encoder is in use, between its first call and irpc_slice_encoder_flush, the
 * caller must not read or modify the chain by other means.
 *
 * Sizes that are known only after their content is written are written as
 * fixed-width placeholders and back-patched, as IceRPC does: a 2-byte
 * varuint62 placeholder holds up to 16,383, a 4-byte one up to 2^30 - 1.
 * Decoders accept such non-minimal encodings.
 *
 * Decoder
 * -------
 * An irpc_slice_decoder reads from an irpc_buf or from a plain byte span,
 * without modifying or copying it. A value may span any number of the chain's
 * segments. Every read is bounds-checked against the end of the input, or of
 * the innermost scope (segment, tagged value, encapsulation) being read.
 *
 * Decoding enforces two limits before allocating anything:
 *   - max segment size (default IRPC_SLICE_DEFAULT_MAX_SEGMENT_SIZE, 1 MB):
 *     a segment declaring more is rejected with IRPC_ELIMIT;
 *   - max collection allocation (default
 *     IRPC_SLICE_DEFAULT_MAX_COLLECTION_ALLOCATION, 8 MB): the running total
 *     of the memory that decoded strings, sequences and dictionaries need, as
 *     in IceRPC's SliceDecoder; exceeding it fails with IRPC_ELIMIT.
 * A count that the remaining bytes cannot hold (count x the smallest encoded
 * element size > remaining bytes) is rejected with IRPC_ETRUNCATED before
 * anything is allocated.
 *
 * Errors
 * ------
 * Every function returns 0 or a negative irpc error code (error.h). Encoders
 * and decoders remember their first error: every later call on the same
 * object returns it again and does nothing, so a run of calls may be checked
 * once, at the end (irpc_slice_encoder_flush, irpc_slice_decoder_error). The
 * codes, used consistently below:
 *   IRPC_EINVAL      a NULL pointer, a bad argument, or a function used in
 *                    the wrong encoding;
 *   IRPC_ENOMEM      the allocator failed;
 *   IRPC_EOVERFLOW   a value does not fit the type or width it is written
 *                    as, or a decoded number is outside the requested type;
 *   IRPC_ETRUNCATED  the input (or the current scope) ends before the value
 *                    does; this includes sizes and counts that point past the
 *                    end;
 *   IRPC_EDATA       malformed input: a bool that is not 0 or 1, unused bits
 *                    set in a bit sequence, a negative Ice size, bytes left
 *                    over at the end of a scope, an empty segment, a bad
 *                    encapsulation header;
 *   IRPC_EUTF8       a string that is not valid UTF-8 (overlong forms,
 *                    surrogates and code points above U+10FFFF are invalid);
 *   IRPC_ELIMIT      a decoding limit was exceeded;
 *   IRPC_EENUM       a checked enum value has no enumerator;
 *   IRPC_ETAG        a tag number that is neither >= 0 nor the end marker;
 *   IRPC_ENOTSUP     a construct this library does not decode (an Ice
 *                    exception slice with an indirection table);
 *   IRPC_ERANGE      a back-patch position outside the encoded bytes;
 *   IRPC_EBUSY       a back-patch into bytes the chain no longer owns alone.
 *
 * Threading: an encoder or decoder is used by one thread at a time. */
#ifndef IRPC_SLICE_H
#define IRPC_SLICE_H

#include <stdbool.h>

#include "irpc/common.h"
#include "irpc/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Default decoding limits (IceRPC's SliceFeature defaults). */
#define IRPC_SLICE_DEFAULT_MAX_SEGMENT_SIZE ((size_t)1 << 20)
#define IRPC_SLICE_DEFAULT_MAX_COLLECTION_ALLOCATION ((size_t)8 << 20)

/* The tag end marker: varint32 -1, the byte 0xFC. */
#define IRPC_SLICE_TAG_END_MARKER (-1)

/* The largest size (string length, element count) either encoding carries;
 * IceRPC limits sizes to int32 max when decoding. */
#define IRPC_SLICE_MAX_SIZE ((size_t)INT32_MAX)

typedef enum irpc_slice_encoding {
  IRPC_SLICE_ENCODING_1_1 = 1, /* Ice encoding 1.1 (the ice protocol) */
  IRPC_SLICE_ENCODING_2 = 2    /* Slice2 (icerpc, Slic, .slice files) */
} irpc_slice_encoding;

/* Element types for sequences and underlying types for enums. Each has a C
 * representation, used by irpc_slice_encode_seq / irpc_slice_decode_seq:
 *   BOOL bool; INT8 int8_t; UINT8 uint8_t; INT16 int16_t; UINT16 uint16_t;
 *   INT32 int32_t; UINT32 uint32_t; INT64 int64_t; UINT64 uint64_t;
 *   FLOAT32 float; FLOAT64 double; VARINT32 int32_t; VARUINT32 uint32_t;
 *   VARINT62 int64_t; VARUINT62 uint64_t.
 * The VAR types are Slice2 only. */
typedef enum irpc_slice_type {
  IRPC_SLICE_BOOL = 1,
  IRPC_SLICE_INT8,
  IRPC_SLICE_UINT8,
  IRPC_SLICE_INT16,
  IRPC_SLICE_UINT16,
  IRPC_SLICE_INT32,
  IRPC_SLICE_UINT32,
  IRPC_SLICE_INT64,
  IRPC_SLICE_UINT64,
  IRPC_SLICE_FLOAT32,
  IRPC_SLICE_FLOAT64,
  IRPC_SLICE_VARINT32,
  IRPC_SLICE_VARUINT32,
  IRPC_SLICE_VARINT62,
  IRPC_SLICE_VARUINT62
} irpc_slice_type;

/* sizeof the C representation of `type`, or 0 for an unknown type. */
IRPC_API size_t irpc_slice_type_size(irpc_slice_type type);

/* Number of bytes the minimal varuint62 encoding of `value` takes (1, 2, 4
 * or 8), or 0 if value > IRPC_VARUINT62_MAX. */
IRPC_API size_t irpc_slice_varuint62_len(uint64_t value);

/* ------------------------------------------------------------------------
 * Encoder
 * ------------------------------------------------------------------------ */

/* An encoder. It is a public struct only so that it can live on the stack
 * or inside another object: its members are private. It owns nothing, so
 * there is no function to free it. */
typedef struct irpc_slice_encoder {
  irpc_buf *out; /* private: the chain written to */
  uint8_t *base; /* private: start of the reserved, uncommitted span */
  uint8_t *cur;  /* private: next byte to write */
  uint8_t *end;  /* private: end of the reserved span */
  int encoding;  /* private */
  int err;       /* private: first error, sticky */
} irpc_slice_encoder;

/* The position of a placeholder written by a *_begin function, to hand to
 * the matching *_end function. Plain value; members are private. */
typedef struct irpc_slice_mark {
  size_t pos;   /* private: offset of the placeholder in the chain */
  size_t width; /* private: placeholder width in bytes */
} irpc_slice_mark;

/* Writes the bits of a bit sequence one after the other. Plain value;
 * members are private. */
typedef struct irpc_slice_bit_writer {
  size_t pos;   /* private: offset of the first byte in the chain */
  size_t nbits; /* private */
  size_t next;  /* private: index of the next bit */
  uint8_t byte; /* private: bits of the current byte so far */
} irpc_slice_bit_writer;

/* Prepares `e` to append to `out` in `encoding`. Bytes already in `out` are
 * kept; positions (marks) count from the start of the chain.
 * Errors: IRPC_EINVAL (e or out NULL, unknown encoding). */
IRPC_API int irpc_slice_encoder_init(irpc_slice_encoder *e, irpc_buf *out,
                                     irpc_slice_encoding encoding);

/* Prepares `e` to write at most `cap` bytes at `mem` in `encoding`, with
 * no chain: nothing is allocated, and irpc_slice_encoder_pos is the number
 * of bytes written. A value that does not fit fails with IRPC_ELIMIT (the
 * error is sticky, as any other). irpc_slice_encode_buf copies. Suited to
 * small values built on the stack (a field value) on a path that must not
 * allocate.
 * Errors: IRPC_EINVAL (e or mem NULL, unknown encoding). */
IRPC_API int irpc_slice_encoder_init_span(irpc_slice_encoder *e, void *mem,
                                          size_t cap,
                                          irpc_slice_encoding encoding);

/* Makes every byte written so far part of the chain, and returns the
 * encoder's first error (0 if none). After a successful flush the caller may
 * use the chain freely (read it, send it) and may also keep encoding into it;
 * marks stay valid as long as the bytes they point to are still in the chain
 * and the chain holds their blocks alone.
 * Errors: any error an earlier call on `e` returned; IRPC_EINVAL (e NULL);
 * IRPC_ENOMEM. */
IRPC_API int irpc_slice_encoder_flush(irpc_slice_encoder *e);

/* The encoding `e` writes (what it was initialized with), for code that
 * serves both (generated codecs); IRPC_SLICE_ENCODING_2 if e is NULL. */
IRPC_API irpc_slice_encoding
irpc_slice_encoder_encoding(const irpc_slice_encoder *e);

/* Number of bytes in the chain, including those not yet flushed: the
 * position the next value will be written at. 0 if e is NULL. */
IRPC_API size_t irpc_slice_encoder_pos(const irpc_slice_encoder *e);

/* Fixed-size values: bool is one byte, 0 or 1; integers are two's
 * complement; floats are IEEE-754. Same in both encodings.
 * Errors: IRPC_EINVAL (e NULL), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_bool(irpc_slice_encoder *e, bool v);
IRPC_API int irpc_slice_encode_int8(irpc_slice_encoder *e, int8_t v);
IRPC_API int irpc_slice_encode_uint8(irpc_slice_encoder *e, uint8_t v);
IRPC_API int irpc_slice_encode_int16(irpc_slice_encoder *e, int16_t v);
IRPC_API int irpc_slice_encode_uint16(irpc_slice_encoder *e, uint16_t v);
IRPC_API int irpc_slice_encode_int32(irpc_slice_encoder *e, int32_t v);
IRPC_API int irpc_slice_encode_uint32(irpc_slice_encoder *e, uint32_t v);
IRPC_API int irpc_slice_encode_int64(irpc_slice_encoder *e, int64_t v);
IRPC_API int irpc_slice_encode_uint64(irpc_slice_encoder *e, uint64_t v);
IRPC_API int irpc_slice_encode_float32(irpc_slice_encoder *e, float v);
IRPC_API int irpc_slice_encode_float64(irpc_slice_encoder *e, double v);

/* Variable-length integers (Slice2 only), in their minimal form: the two low
 * bits of the first byte give the length (00 = 1, 01 = 2, 10 = 4, 11 = 8
 * bytes), the value is shifted left by 2. varuint62 holds 0..2^62-1,
 * varint62 -2^61..2^61-1; the 32-bit variants are the same encoding.
 * Errors: IRPC_EINVAL (e NULL, Slice1 encoder), IRPC_EOVERFLOW (value out of
 * range), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_varuint62(irpc_slice_encoder *e, uint64_t v);
IRPC_API int irpc_slice_encode_varint62(irpc_slice_encoder *e, int64_t v);
IRPC_API int irpc_slice_encode_varuint32(irpc_slice_encoder *e, uint32_t v);
IRPC_API int irpc_slice_encode_varint32(irpc_slice_encoder *e, int32_t v);

/* A varuint62 written on exactly `width` bytes (1, 2, 4 or 8), minimal or
 * not: 9 on 2 bytes is 25 00. Slice2 only.
 * Errors: IRPC_EINVAL (e NULL, bad width, Slice1 encoder), IRPC_EOVERFLOW
 * (v does not fit the width), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_varuint62_fixed(irpc_slice_encoder *e,
                                               uint64_t v, size_t width);

/* A size (string length, element count): a minimal varuint62 in Slice2; in
 * Ice 1.1 one byte below 255, else 0xFF and an int32.
 * Errors: IRPC_EINVAL (e NULL), IRPC_EOVERFLOW (n > IRPC_SLICE_MAX_SIZE),
 * IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_size(irpc_slice_encoder *e, size_t n);

/* A string: its size in bytes, then `len` bytes of UTF-8 (no terminator).
 * The bytes are validated; s may be NULL when len is 0.
 * Errors: IRPC_EINVAL (e NULL, s NULL with len > 0), IRPC_EUTF8,
 * IRPC_EOVERFLOW (len too large), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_string(irpc_slice_encoder *e, const char *s,
                                      size_t len);

/* `n` raw bytes, with no size in front (a fixed-size blob, the elements of a
 * byte sequence whose count is already written). Copied.
 * Errors: IRPC_EINVAL (e NULL, p NULL with n > 0), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_bytes(irpc_slice_encoder *e, const void *p,
                                     size_t n);

/* Every byte of `src`, with no size in front, appended WITHOUT copying: the
 * chain shares src's blocks (irpc_buf_append_ref). Use it for large payloads
 * and opaque field values. src is left unchanged and may be freed
 * afterwards. The bytes before are flushed first.
 * Errors: IRPC_EINVAL (e or src NULL, src is the encoder's chain),
 * IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_buf(irpc_slice_encoder *e, const irpc_buf *src);

/* A sequence of `count` elements of a fixed- or variable-size type: the
 * count (a size), then the elements. Fixed-size elements are copied in bulk
 * on little-endian hosts. elems may be NULL when count is 0.
 * Errors: IRPC_EINVAL (e NULL, unknown type, VAR type in Ice 1.1, elems NULL
 * with count > 0), IRPC_EOVERFLOW (count too large, or a varuint62/varint62
 * element out of range), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_seq(irpc_slice_encoder *e, irpc_slice_type type,
                                   const void *elems, size_t count);

/* A basic enum value, as its underlying integral `type` (a checked and an
 * unchecked enum are encoded alike).
 * Errors: IRPC_EINVAL (e NULL, BOOL/FLOAT type, VAR type in Ice 1.1),
 * IRPC_EOVERFLOW (v does not fit the type), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_enum(irpc_slice_encoder *e, irpc_slice_type type,
                                    int64_t v);

/* Starts a bit sequence of `nbits` bits (Slice2 only): writes ceil(nbits/8)
 * zero bytes and sets up `w`. Then call irpc_slice_bit_writer_put once per
 * bit, in order, while encoding the values they describe: bit i is 1 when
 * optional value i is present (bit 0 is the low bit of the first byte). A
 * struct uses one bit per non-tagged optional field; a Sequence<T?> one bit
 * per element. nbits 0 writes nothing.
 * Errors: IRPC_EINVAL (e or w NULL, Slice1 encoder), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_bitseq(irpc_slice_encoder *e, size_t nbits,
                                      irpc_slice_bit_writer *w);

/* Records the next bit of `w`: set when `present`.
 * Errors: IRPC_EINVAL (NULL argument, more bits than declared), IRPC_ERANGE
 * and IRPC_EBUSY (as irpc_slice_patch_varuint62). */
IRPC_API int irpc_slice_bit_writer_put(irpc_slice_encoder *e,
                                       irpc_slice_bit_writer *w, bool present);

/* Writes `n` zero bytes (n <= 8) and returns their position in *pos, to be
 * back-patched later with one of the irpc_slice_patch_* functions.
 * Errors: IRPC_EINVAL (NULL argument, n > 8), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_placeholder(irpc_slice_encoder *e, size_t n,
                                           size_t *pos);

/* Overwrites the `width` bytes at `pos` with `v` as a varuint62 of exactly
 * that width (1, 2, 4 or 8). The bytes may already be flushed.
 * Errors: IRPC_EINVAL (e NULL, bad width), IRPC_EOVERFLOW (v does not fit),
 * IRPC_ERANGE (pos + width past the bytes written), IRPC_EBUSY (the bytes
 * are in a block the chain shares with another chain). */
IRPC_API int irpc_slice_patch_varuint62(irpc_slice_encoder *e, size_t pos,
                                        size_t width, uint64_t v);

/* Overwrites the 4 bytes at `pos` with `v`, little-endian (Ice sizes,
 * message sizes).
 * Errors: IRPC_EINVAL (e NULL), IRPC_ERANGE, IRPC_EBUSY (as above). */
IRPC_API int irpc_slice_patch_int32(irpc_slice_encoder *e, size_t pos,
                                    int32_t v);

/* A size that is known only after its content is written (Slice2 only):
 * _begin writes a `width`-byte varuint62 placeholder (2 or 4 are usual; 1,
 * 2, 4 and 8 are accepted); _end back-patches it with the number of bytes
 * written after the placeholder.
 * Errors (_begin): IRPC_EINVAL (NULL argument, bad width, Slice1 encoder),
 * IRPC_ENOMEM. Errors (_end): IRPC_EINVAL (NULL argument, a mark not from
 * this encoder), IRPC_EOVERFLOW (the size does not fit the width),
 * IRPC_ERANGE, IRPC_EBUSY. */
IRPC_API int irpc_slice_encode_size_begin(irpc_slice_encoder *e, size_t width,
                                          irpc_slice_mark *m);
IRPC_API int irpc_slice_encode_size_end(irpc_slice_encoder *e,
                                        const irpc_slice_mark *m);

/* A segment (Slice2): the size of what follows (written in a 4-byte
 * placeholder, as IceRPC does), then the content, which for an operation's
 * arguments or return value is a non-compact struct ending with the tag end
 * marker. Errors as irpc_slice_encode_size_begin / _end. */
IRPC_API int irpc_slice_encode_segment_begin(irpc_slice_encoder *e,
                                             irpc_slice_mark *m);
IRPC_API int irpc_slice_encode_segment_end(irpc_slice_encoder *e,
                                           const irpc_slice_mark *m);

/* A tagged field (Slice2): [tag: varint32][size: varuint62][value]. _begin
 * writes the tag and a 4-byte size placeholder; the caller writes the value;
 * _end patches the size. Write nothing at all for an unset field. Tagged
 * fields go after the non-tagged fields, in increasing tag order, and the
 * struct then ends with irpc_slice_encode_tag_end_marker.
 * Errors (_begin): IRPC_EINVAL (NULL argument, tag < 0, Slice1 encoder),
 * IRPC_ENOMEM. Errors (_end): as irpc_slice_encode_size_end. */
IRPC_API int irpc_slice_encode_tag_begin(irpc_slice_encoder *e, int32_t tag,
                                         irpc_slice_mark *m);
IRPC_API int irpc_slice_encode_tag_end(irpc_slice_encoder *e,
                                       const irpc_slice_mark *m);

/* The header of a tagged field whose value size is known in advance (a
 * fixed-size value, as IceRPC writes them): the tag, then `size` as a
 * minimal varuint62. The caller then writes exactly `size` bytes.
 * Errors: IRPC_EINVAL (e NULL, tag < 0, Slice1 encoder), IRPC_EOVERFLOW
 * (size too large), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_tag_sized(irpc_slice_encoder *e, int32_t tag,
                                         size_t size);

/* The tag end marker 0xFC that closes every non-compact struct (and so every
 * operation segment). Slice2 only.
 * Errors: IRPC_EINVAL (e NULL, Slice1 encoder), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_tag_end_marker(irpc_slice_encoder *e);

/* ------------------------------------------------------------------------
 * Encoder: Ice encoding 1.1 (and the ice protocol)
 * ------------------------------------------------------------------------ */

/* An Ice identity: two strings. For decoding, both are views (see
 * irpc_slice_decode_string). */
typedef struct irpc_slice_identity {
  irpc_bytes name;
  irpc_bytes category;
} irpc_slice_identity;

/* A key/value pair of strings: an entry of a request context. */
typedef struct irpc_slice_string_pair {
  irpc_bytes key;
  irpc_bytes value;
} irpc_slice_string_pair;

/* Exception slice flags (Ice 1.1). */
#define IRPC_SLICE_EXC_HAS_TAGGED_FIELDS 0x04
#define IRPC_SLICE_EXC_HAS_INDIRECTION_TABLE 0x08
#define IRPC_SLICE_EXC_HAS_SLICE_SIZE 0x10
#define IRPC_SLICE_EXC_IS_LAST_SLICE 0x20

/* An encapsulation (Ice 1.1 only): _begin writes an int32 size placeholder
 * and the encoding version (1.1 for parameters, `06 00 00 00 01 01` when
 * empty); _end patches the size, which counts the 6 header bytes.
 * Errors (_begin): IRPC_EINVAL (NULL argument, Slice2 encoder), IRPC_ENOMEM.
 * Errors (_end): IRPC_EINVAL (NULL argument), IRPC_EOVERFLOW (more than
 * INT32_MAX bytes), IRPC_ERANGE, IRPC_EBUSY. */
IRPC_API int irpc_slice_encode_encaps_begin(irpc_slice_encoder *e,
                                            uint8_t major, uint8_t minor,
                                            irpc_slice_mark *m);
IRPC_API int irpc_slice_encode_encaps_end(irpc_slice_encoder *e,
                                          const irpc_slice_mark *m);

/* An identity: name, then category, as strings. Either encoding.
 * Errors: IRPC_EINVAL (NULL argument, NULL base with len > 0), IRPC_EUTF8,
 * IRPC_EOVERFLOW, IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_identity(irpc_slice_encoder *e,
                                        const irpc_slice_identity *id);

/* A request context, dictionary<string, string>: the count, then each key
 * and value. Either encoding (icerpc's Context field uses the same shape in
 * Slice2). `entries` may be NULL when n is 0.
 * Errors: IRPC_EINVAL (e NULL, entries NULL with n > 0), IRPC_EUTF8,
 * IRPC_EOVERFLOW, IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_context(irpc_slice_encoder *e,
                                       const irpc_slice_string_pair *entries,
                                       size_t n);

/* One slice of a user exception (Ice 1.1 only, sliced format as IceRPC and
 * Ice write it): the flags byte (HAS_SLICE_SIZE, plus IS_LAST_SLICE when
 * `last`), the type ID as a string ("::Module::Name"), and an int32 slice
 * size placeholder; the caller then writes the slice's data members and
 * calls _end, which patches the size (it counts its own 4 bytes). Slices go
 * from the most derived type to the base, the base one `last`; the whole
 * exception goes inside an encapsulation.
 * Errors (_begin): IRPC_EINVAL (NULL argument, Slice2 encoder, a type ID
 * not starting with "::"), IRPC_EUTF8, IRPC_EOVERFLOW, IRPC_ENOMEM.
 * Errors (_end): as irpc_slice_encode_encaps_end. */
IRPC_API int irpc_slice_encode_exception_slice_begin(irpc_slice_encoder *e,
                                                     const char *type_id,
                                                     size_t len, bool last,
                                                     irpc_slice_mark *m);
IRPC_API int irpc_slice_encode_exception_slice_end(irpc_slice_encoder *e,
                                                   const irpc_slice_mark *m);

/* The same with the slice's flags given: IRPC_SLICE_EXC_HAS_SLICE_SIZE
 * (required), plus IRPC_SLICE_EXC_IS_LAST_SLICE and
 * IRPC_SLICE_EXC_HAS_TAGGED_FIELDS when the slice carries tagged members;
 * the caller then writes the members, the tagged ones and the end marker
 * IRPC_SLICE1_TAG_END_MARKER before irpc_slice_encode_exception_slice_end.
 * Errors: as irpc_slice_encode_exception_slice_begin; IRPC_EINVAL (flags
 * without HAS_SLICE_SIZE, or with an indirection table or type ID kind). */
IRPC_API int irpc_slice_encode_exception_slice_begin_flags(
    irpc_slice_encoder *e, const char *type_id, size_t len, uint8_t flags,
    irpc_slice_mark *m);

/* Tagged values of the Ice encoding 1.1 (optional members, parameters and
 * return values): one byte holding the format (low 3 bits) and the tag
 * (high 5 bits; 30 there means the tag follows as a size), then the value
 * as the format says. They follow the non-tagged members, in increasing tag
 * order; in an exception slice, IRPC_SLICE1_TAG_END_MARKER ends them. */
typedef enum irpc_slice_tag_format {
  IRPC_SLICE_TAG_F1 = 0,    /* 1 byte: bool, uint8 */
  IRPC_SLICE_TAG_F2 = 1,    /* 2 bytes: int16 */
  IRPC_SLICE_TAG_F4 = 2,    /* 4 bytes: int32, float32 */
  IRPC_SLICE_TAG_F8 = 3,    /* 8 bytes: int64, float64 */
  IRPC_SLICE_TAG_SIZE = 4,  /* a size: an enum */
  IRPC_SLICE_TAG_VSIZE = 5, /* a size, then that many bytes */
  IRPC_SLICE_TAG_FSIZE = 6, /* an int32 size, then that many bytes */
  IRPC_SLICE_TAG_CLASS = 7, /* a class instance (not supported) */
  /* Not a wire value: VSIZE whose value is a string or a sequence of 1-byte
   * elements, whose own size is the size (no second size is written). */
  IRPC_SLICE_TAG_OVSIZE = 8
} irpc_slice_tag_format;

#define IRPC_SLICE1_TAG_END_MARKER 0xFF

/* Writes the header of tagged value `tag` (0..2^31-1) in `format` (OVSIZE
 * is written as VSIZE). The caller then writes the value: for VSIZE its
 * size first (irpc_slice_encode_size), for FSIZE use _fsize_begin instead.
 * Errors: IRPC_EINVAL (e NULL, Slice2 encoder, tag < 0, CLASS or an unknown
 * format), IRPC_ENOMEM. */
IRPC_API int irpc_slice_encode_tag11(irpc_slice_encoder *e, int32_t tag,
                                     irpc_slice_tag_format format);

/* An FSIZE tagged value: the header and an int32 size placeholder; _end
 * patches it with the number of bytes written after the placeholder.
 * Errors: as irpc_slice_encode_tag11; _end: IRPC_EINVAL (NULL argument),
 * IRPC_EOVERFLOW, IRPC_ERANGE, IRPC_EBUSY. */
IRPC_API int irpc_slice_encode_tag11_fsize_begin(irpc_slice_encoder *e,
                                                 int32_t tag,
                                                 irpc_slice_mark *m);
IRPC_API int irpc_slice_encode_tag11_fsize_end(irpc_slice_encoder *e,
                                               const irpc_slice_mark *m);

/* ------------------------------------------------------------------------
 * Decoder
 * ------------------------------------------------------------------------ */

/* A decoder. Public only so that it can live on the stack; its members are
 * private. Must be finalized with irpc_slice_decoder_fini. */
typedef struct irpc_slice_decoder {
  const uint8_t *p;    /* private: next byte */
  const uint8_t *e;    /* private: end of what may be read from seg */
  const uint8_t *seg;  /* private: current segment */
  size_t seg_len;      /* private */
  size_t seg_pos;      /* private: input offset of seg[0] */
  size_t seg_index;    /* private */
  size_t limit;        /* private: input offset the current scope ends at */
  const irpc_buf *src; /* private: NULL for a byte span */
  size_t max_segment;  /* private */
  size_t max_alloc;    /* private */
  size_t alloc_used;   /* private */
  void *scratch;       /* private: copies of strings split across segments */
  int encoding;        /* private */
  int err;             /* private: first error, sticky */
} irpc_slice_decoder;

/* Saved state of an enclosing scope while a segment, tagged value or
 * encapsulation is read. Plain value; members are private. */
typedef struct irpc_slice_scope {
  size_t outer_limit; /* private: limit of the enclosing scope */
  size_t limit;       /* private: limit of this scope */
} irpc_slice_scope;

/* Reads the bits of a bit sequence one after the other. Plain value;
 * members are private. */
typedef struct irpc_slice_bit_reader {
  size_t pos;   /* private: input offset of the first byte */
  size_t nbits; /* private */
  size_t next;  /* private */
  uint8_t byte; /* private: the current byte */
} irpc_slice_bit_reader;

/* Prepares `d` to read `len` bytes at `data` (not copied: they must stay
 * valid and unchanged while `d` and the views it returns are in use), or
 * every byte of the chain `in` (which must not be modified meanwhile).
 * Limits are the defaults.
 * Errors: IRPC_EINVAL (NULL argument, data NULL with len > 0, unknown
 * encoding). On error `d` is still safe to finalize. */
IRPC_API int irpc_slice_decoder_init_bytes(irpc_slice_decoder *d,
                                           const void *data, size_t len,
                                           irpc_slice_encoding encoding);
IRPC_API int irpc_slice_decoder_init_buf(irpc_slice_decoder *d,
                                         const irpc_buf *in,
                                         irpc_slice_encoding encoding);

/* Frees the copies the decoder made of strings split across segments
 * (invalidating those views). NULL is a no-op. */
IRPC_API void irpc_slice_decoder_fini(irpc_slice_decoder *d);

/* Sets the limits: 0 means "keep the current value". The collection
 * allocation already used is kept.
 * Errors: IRPC_EINVAL (d NULL). */
IRPC_API int irpc_slice_decoder_set_limits(irpc_slice_decoder *d,
                                           size_t max_segment_size,
                                           size_t max_collection_allocation);

/* The encoding `d` reads; IRPC_SLICE_ENCODING_2 if d is NULL. */
IRPC_API irpc_slice_encoding
irpc_slice_decoder_encoding(const irpc_slice_decoder *d);

/* The decoder's first error, or 0. IRPC_EINVAL if d is NULL. */
IRPC_API int irpc_slice_decoder_error(const irpc_slice_decoder *d);

/* Offset of the next byte to read, from the start of the input. */
IRPC_API size_t irpc_slice_decoder_pos(const irpc_slice_decoder *d);

/* Bytes left in the current scope (the whole input outside any scope). */
IRPC_API size_t irpc_slice_decoder_remaining(const irpc_slice_decoder *d);

/* Checks that the current scope (or the input) has been read to its end.
 * Errors: the decoder's first error; IRPC_EINVAL (d NULL); IRPC_EDATA
 * (bytes left over). */
IRPC_API int irpc_slice_decoder_end(irpc_slice_decoder *d);

/* Fixed-size values.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ETRUNCATED, and for bool
 * IRPC_EDATA (a byte other than 0 or 1). */
IRPC_API int irpc_slice_decode_bool(irpc_slice_decoder *d, bool *v);
IRPC_API int irpc_slice_decode_int8(irpc_slice_decoder *d, int8_t *v);
IRPC_API int irpc_slice_decode_uint8(irpc_slice_decoder *d, uint8_t *v);
IRPC_API int irpc_slice_decode_int16(irpc_slice_decoder *d, int16_t *v);
IRPC_API int irpc_slice_decode_uint16(irpc_slice_decoder *d, uint16_t *v);
IRPC_API int irpc_slice_decode_int32(irpc_slice_decoder *d, int32_t *v);
IRPC_API int irpc_slice_decode_uint32(irpc_slice_decoder *d, uint32_t *v);
IRPC_API int irpc_slice_decode_int64(irpc_slice_decoder *d, int64_t *v);
IRPC_API int irpc_slice_decode_uint64(irpc_slice_decoder *d, uint64_t *v);
IRPC_API int irpc_slice_decode_float32(irpc_slice_decoder *d, float *v);
IRPC_API int irpc_slice_decode_float64(irpc_slice_decoder *d, double *v);

/* Variable-length integers (Slice2 only); non-minimal encodings are
 * accepted.
 * Errors: IRPC_EINVAL (NULL argument, Ice 1.1 decoder), IRPC_ETRUNCATED,
 * IRPC_EOVERFLOW (the 32-bit variants, for a value outside int32/uint32). */
IRPC_API int irpc_slice_decode_varuint62(irpc_slice_decoder *d, uint64_t *v);
IRPC_API int irpc_slice_decode_varint62(irpc_slice_decoder *d, int64_t *v);
IRPC_API int irpc_slice_decode_varuint32(irpc_slice_decoder *d, uint32_t *v);
IRPC_API int irpc_slice_decode_varint32(irpc_slice_decoder *d, int32_t *v);

/* A size (see irpc_slice_encode_size). It is not checked against the bytes
 * remaining: use irpc_slice_decode_count for element counts.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ETRUNCATED, IRPC_EOVERFLOW
 * (above IRPC_SLICE_MAX_SIZE), IRPC_EDATA (a negative Ice 1.1 size). */
IRPC_API int irpc_slice_decode_size(irpc_slice_decoder *d, size_t *n);

/* The element count of a sequence or dictionary whose elements the caller
 * decodes one by one. Rejected before anything is allocated when `count x
 * min_wire_size` exceeds the bytes remaining (min_wire_size is the fewest
 * bytes one element can take, at least 1), or when `count x alloc_size`
 * (the memory the caller will allocate per element; 0 for none) would pass
 * the max collection allocation, to which it is added.
 * Errors: as irpc_slice_decode_size; IRPC_EINVAL (min_wire_size 0);
 * IRPC_ETRUNCATED; IRPC_ELIMIT. */
IRPC_API int irpc_slice_decode_count(irpc_slice_decoder *d,
                                     size_t min_wire_size, size_t alloc_size,
                                     size_t *count);

/* A string, as a view of validated UTF-8 (not NUL-terminated). The view
 * points into the input when the string is contiguous there, so it is valid
 * while the input is; a string split across segments is copied into memory
 * the decoder owns, valid until irpc_slice_decoder_fini. The string's
 * length counts toward the max collection allocation.
 * Errors: as irpc_slice_decode_size; IRPC_ETRUNCATED; IRPC_EUTF8;
 * IRPC_ELIMIT; IRPC_ENOMEM. */
IRPC_API int irpc_slice_decode_string(irpc_slice_decoder *d, irpc_bytes *s);

/* A string, copied into a new NUL-terminated allocation (irpc_malloc; the
 * caller frees it with irpc_free). *len (may be NULL) receives its length.
 * Errors: as irpc_slice_decode_string. */
IRPC_API int irpc_slice_decode_string_copy(irpc_slice_decoder *d, char **s,
                                           size_t *len);

/* Copies the next `n` raw bytes to `dst`, or skips them.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ETRUNCATED. */
IRPC_API int irpc_slice_decode_bytes(irpc_slice_decoder *d, void *dst,
                                     size_t n);
IRPC_API int irpc_slice_decoder_skip(irpc_slice_decoder *d, size_t n);

/* Appends the next `n` bytes to `dst` and skips them. From a chain this
 * shares the blocks (no copy); from a byte span it copies.
 * Errors: IRPC_EINVAL (NULL argument, dst is the input chain),
 * IRPC_ETRUNCATED, IRPC_ENOMEM. */
IRPC_API int irpc_slice_decode_buf(irpc_slice_decoder *d, size_t n,
                                   irpc_buf *dst);

/* A sequence of `type` (see irpc_slice_type for the C representation),
 * into a new array (irpc_malloc; free with irpc_free; NULL when the count is
 * 0). The count is checked against the remaining bytes and the collection
 * allocation before allocating.
 * Errors: IRPC_EINVAL (NULL argument, unknown type, VAR type in Ice 1.1),
 * IRPC_ETRUNCATED, IRPC_EOVERFLOW, IRPC_ELIMIT, IRPC_EDATA (a bool element
 * not 0 or 1, a negative Ice 1.1 size), IRPC_ENOMEM. */
IRPC_API int irpc_slice_decode_seq(irpc_slice_decoder *d, irpc_slice_type type,
                                   void **elems, size_t *count);

/* The same, into caller storage of `cap` elements; nothing is allocated and
 * the collection allocation is not charged.
 * Errors: as irpc_slice_decode_seq except IRPC_ENOMEM and IRPC_ELIMIT;
 * IRPC_ERANGE (more than `cap` elements). */
IRPC_API int irpc_slice_decode_seq_into(irpc_slice_decoder *d,
                                        irpc_slice_type type, void *elems,
                                        size_t cap, size_t *count);

/* A checked basic enum whose underlying type is `type`: the value must lie
 * in [min, max], or `valid(value, user_data)` must return nonzero. An
 * unchecked enum is decoded with the plain function of its type.
 * Errors: IRPC_EINVAL (NULL argument, BOOL/FLOAT type, VAR type in Ice
 * 1.1), IRPC_ETRUNCATED, IRPC_EENUM. */
typedef int (*irpc_slice_enum_valid_fn)(int64_t value, void *user_data);
IRPC_API int irpc_slice_decode_enum_range(irpc_slice_decoder *d,
                                          irpc_slice_type type, int64_t min,
                                          int64_t max, int64_t *v);
IRPC_API int irpc_slice_decode_enum_fn(irpc_slice_decoder *d,
                                       irpc_slice_type type,
                                       irpc_slice_enum_valid_fn valid,
                                       void *user_data, int64_t *v);

/* A bit sequence of `nbits` bits (Slice2 only): skips its ceil(nbits/8)
 * bytes, checks that the unused high bits of the last byte are 0, and sets
 * up `r`; then irpc_slice_bit_reader_get returns the bits in order.
 * Errors: IRPC_EINVAL (NULL argument, Ice 1.1 decoder), IRPC_ETRUNCATED,
 * IRPC_EDATA (unused bits set). */
IRPC_API int irpc_slice_decode_bitseq(irpc_slice_decoder *d, size_t nbits,
                                      irpc_slice_bit_reader *r);
/* Errors: IRPC_EINVAL (NULL argument, all bits already read). */
IRPC_API int irpc_slice_bit_reader_get(irpc_slice_decoder *d,
                                       irpc_slice_bit_reader *r, bool *present);

/* A segment (Slice2 only): reads its size, checks 0 < size <= max segment
 * size and size <= remaining bytes, and narrows the decoder to its content.
 * Finish with irpc_slice_decode_scope_end (all of it must have been read)
 * or irpc_slice_decode_scope_skip.
 * Errors: IRPC_EINVAL (NULL argument, Ice 1.1 decoder), IRPC_ETRUNCATED,
 * IRPC_EDATA (size 0), IRPC_ELIMIT (size above the max). */
IRPC_API int irpc_slice_decode_segment_begin(irpc_slice_decoder *d,
                                             irpc_slice_scope *scope);

/* Reads a size and narrows the decoder to that many bytes: for a
 * Sequence<uint8> whose bytes hold an encoded value (Slic parameters, icerpc
 * field values) and for the fields of an unchecked variant enum. Either
 * encoding. Finish with irpc_slice_decode_scope_end or _skip.
 * Errors: as irpc_slice_decode_size; IRPC_ETRUNCATED (size past the end). */
IRPC_API int irpc_slice_decode_sized_begin(irpc_slice_decoder *d,
                                           irpc_slice_scope *scope);

/* Leaves a scope opened by a *_begin function or a found tag, going back to
 * the enclosing one. _end requires the scope to be read completely; _skip
 * skips what is left.
 * Errors: the decoder's first error; IRPC_EINVAL (NULL argument, scopes
 * closed out of order); IRPC_EDATA (_end: bytes left over). */
IRPC_API int irpc_slice_decode_scope_end(irpc_slice_decoder *d,
                                         const irpc_slice_scope *scope);
IRPC_API int irpc_slice_decode_scope_skip(irpc_slice_decoder *d,
                                          const irpc_slice_scope *scope);

/* Looks for tagged field `tag` (Slice2 only) at the current position, as
 * IceRPC does: tagged fields with smaller (unknown) tags are skipped; when
 * `tag` is found, *found is set, its size is read and the decoder is
 * narrowed to its value (read it, then irpc_slice_decode_scope_end or
 * _skip); when a larger tag or the end marker comes first, *found is
 * cleared and nothing is consumed past the skipped fields. Look for the
 * tags in increasing order, then call irpc_slice_decode_tags_end.
 * Errors: IRPC_EINVAL (NULL argument, tag < 0, Ice 1.1 decoder),
 * IRPC_ETRUNCATED (including a field size past the end), IRPC_ETAG (a tag
 * number below -1), IRPC_EOVERFLOW (a tag beyond int32). */
IRPC_API int irpc_slice_decode_tag(irpc_slice_decoder *d, int32_t tag,
                                   bool *found, irpc_slice_scope *scope);

/* Skips the remaining (unknown) tagged fields and the end marker that
 * closes a non-compact struct.
 * Errors: IRPC_EINVAL (d NULL, Ice 1.1 decoder), IRPC_ETRUNCATED (no end
 * marker), IRPC_ETAG, IRPC_EOVERFLOW. */
IRPC_API int irpc_slice_decode_tags_end(irpc_slice_decoder *d);

/* ------------------------------------------------------------------------
 * Decoder: Ice encoding 1.1 (and the ice protocol)
 * ------------------------------------------------------------------------ */

/* An encapsulation (Ice 1.1 only): reads the int32 size (which counts the 6
 * header bytes) and the encoding version, and narrows the decoder to the
 * content. Only encoding 1.0 and 1.1 are accepted. Finish with
 * irpc_slice_decode_scope_end or _skip.
 * Errors: IRPC_EINVAL (NULL argument, Slice2 decoder), IRPC_ETRUNCATED,
 * IRPC_EDATA (size below 6, or an encoding other than 1.0/1.1). */
IRPC_API int irpc_slice_decode_encaps_begin(irpc_slice_decoder *d,
                                            uint8_t *major, uint8_t *minor,
                                            irpc_slice_scope *scope);

/* An identity; both strings are views (irpc_slice_decode_string).
 * Errors: as irpc_slice_decode_string. */
IRPC_API int irpc_slice_decode_identity(irpc_slice_decoder *d,
                                        irpc_slice_identity *id);

/* A request context into a new array of views (irpc_malloc; free the array
 * with irpc_free; NULL when empty). Duplicate keys are kept, in order.
 * Errors: as irpc_slice_decode_count and irpc_slice_decode_string. */
IRPC_API int irpc_slice_decode_context(irpc_slice_decoder *d,
                                       irpc_slice_string_pair **entries,
                                       size_t *n);

/* The header of one exception slice (Ice 1.1 only). */
typedef struct irpc_slice_exception_slice {
  uint8_t flags;      /* IRPC_SLICE_EXC_* bits */
  irpc_bytes type_id; /* a view, "::Module::Name" */
  size_t size;        /* bytes of the slice's data after its size field, or
                         0 when the slice carries no size */
} irpc_slice_exception_slice;

/* Reads the header of the next slice of a user exception: the flags, the
 * type ID and, if the flags say so, the slice size (checked against the
 * remaining bytes). The first slice is the most derived type: its type ID
 * is the one to report. Then either decode the data members or call
 * irpc_slice_skip_exception_slice.
 * Errors: IRPC_EINVAL (NULL argument, Slice2 decoder), IRPC_ETRUNCATED,
 * IRPC_EUTF8, IRPC_ELIMIT, IRPC_ENOMEM, IRPC_EDATA (a type ID not
 * starting with "::", a slice size below 4, or below 5 with tagged
 * fields). The two low "type ID kind" bits of the flags are ignored, as
 * IceRPC does: exception slices always carry their type ID as a string. */
IRPC_API int
irpc_slice_decode_exception_slice(irpc_slice_decoder *d,
                                  irpc_slice_exception_slice *slice);

/* Skips the data of the slice whose header was just read.
 * Errors: IRPC_EINVAL (NULL argument, Slice2 decoder), IRPC_ENOTSUP (the
 * slice has no size, or has an indirection table), IRPC_ETRUNCATED. */
IRPC_API int
irpc_slice_skip_exception_slice(irpc_slice_decoder *d,
                                const irpc_slice_exception_slice *slice);

/* Looks for tagged value `tag` in `format` (Ice 1.1) at the current
 * position, as Ice does: values with smaller (unknown) tags are skipped by
 * their format; at a larger tag, the end marker 0xFF or the end of the
 * scope *found is cleared and nothing past the skipped values is consumed.
 * When found, a tagged value of a fixed size (F1..F8), VSIZE or FSIZE is
 * given a scope over its value (its size read first for VSIZE and FSIZE):
 * read the value, then irpc_slice_decode_scope_end (or _skip for VSIZE,
 * whose size may be larger than the value, as Ice allows). SIZE and OVSIZE
 * values have no scope: read them, and leave `scope` alone.
 * Errors: IRPC_EINVAL (NULL argument, Slice2 decoder, tag < 0, CLASS or an
 * unknown format), IRPC_EDATA (the tag is found with another format),
 * IRPC_ETRUNCATED, IRPC_ENOTSUP (an unknown tagged class to skip),
 * IRPC_EOVERFLOW. */
IRPC_API int irpc_slice_decode_tag11(irpc_slice_decoder *d, int32_t tag,
                                     irpc_slice_tag_format format, bool *found,
                                     irpc_slice_scope *scope);

/* Skips the remaining (unknown) tagged values. With `marker`, they end
 * with IRPC_SLICE1_TAG_END_MARKER, which is consumed (an exception slice
 * with tagged members); without, they run to the end of the scope (the
 * parameters or return values of an operation), and a 0xFF there is
 * IRPC_EDATA.
 * Errors: IRPC_EINVAL (d NULL, Slice2 decoder), IRPC_ETRUNCATED,
 * IRPC_EDATA, IRPC_ENOTSUP (a tagged class), IRPC_EOVERFLOW. */
IRPC_API int irpc_slice_decode_tags11_end(irpc_slice_decoder *d, bool marker);

#ifdef __cplusplus
}
#endif
#endif
