/* irpc: payload compression (interceptor and middleware), IceRPC's
 * Compressor plus negotiation, limits and zstd.
 *
 * Wire format, as IceRPC: a compressed request carries the request field
 * IRPC_REQUEST_FIELD_COMPRESSION_FORMAT (2), a compressed response the
 * response field IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT (2); the value is
 * one byte, the format: Deflate 1 (raw DEFLATE, RFC 1951, as .NET's
 * DeflateStream), Brotli 2, and, beyond IceRPC, zstd 32 (a zstd frame,
 * RFC 8878). The whole payload is one compressed stream.
 *
 * Who reads what. A payload reaches a dispatcher or a caller compressed
 * only where something decompresses it; nothing else ever sees compressed
 * bytes. Each direction has its own rule:
 *
 *   - Requests. A connection announces in its icerpc Settings frame, under
 *     the key IRPC_SETTING_COMPRESSION_FORMATS, the formats its dispatcher
 *     chain decompresses (irpc_compress_formats_decompressed_by): those of
 *     a compress middleware that every request passes before routing (in
 *     front of the dispatcher, or added with irpc_router_use), limited to
 *     the connection option compression_formats (irpc/connection.h). The
 *     value is a varuint62 bit mask, bit n = "I decompress format n"; an
 *     irpc side always sends it, with bit 0 set (format 0, NotCompressed:
 *     every side reads an uncompressed payload), so a server without the
 *     middleware and a client without a dispatcher announce "nothing".
 *     IceRPC ignores unknown Settings keys. The coloc invoker asks its
 *     dispatcher chain the same way.
 *   - Responses. A connection is shared by calls with and without the
 *     interceptor, so the caller says it per request: the compress
 *     interceptor puts on every request the field
 *     IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT, the list of the formats it
 *     decompresses (one byte each). The middleware compresses a response
 *     only in a format listed there.
 *   - Peers that announce nothing (IceRPC). An IceRPC peer sends no
 *     announcement and no accept field; it decompresses Deflate and Brotli
 *     in both directions when its Compressor interceptor or middleware is
 *     installed, and nothing otherwise. IceRPC compresses only where the
 *     Slice contract says so ([compress(Args)], [compress(Return)]: the
 *     compress feature set on that request), and the contract implies the
 *     other side installed its Compressor. irpc keeps that rule: towards
 *     such a peer a payload is compressed, in Deflate or Brotli only
 *     (IRPC_COMPRESSION_FORMATS_ICERPC), when the compress feature of the
 *     request asks for it, never by policy (`always`).
 *   The writer picks, among the formats configured in order of preference,
 *   the first the receiver reads; if there is none the payload goes
 *   uncompressed.
 *
 * What arrives compressed where nothing decompresses it (a peer that
 * ignores the announcement, a contract the two sides do not share) is
 * rejected before anyone reads it, with status NotSupported (IceRPC's
 * status for "the request requires a feature that the server does not
 * support") and a message naming the format:
 *   - a server connection or the coloc invoker answers a request whose
 *     compression format is not one it announced without dispatching it:
 *     "The request payload is compressed with zstd, but no compress
 *     middleware of this dispatcher chain decompresses it.";
 *   - a client connection or the coloc invoker replaces a response
 *     compressed in a format its request did not list in the accept field
 *     (or any compressed response that is not Ok, which nothing
 *     decompresses) by a NotSupported response: "The response payload is
 *     compressed with zstd, but this call has no compress interceptor that
 *     decompresses it.";
 *   - the middleware itself answers NotSupported to a format this build
 *     does not read (IceRPC would pass it to the dispatcher).
 * A compression field that is not one byte is InvalidData. Custom terminal
 * invokers (irpc_outgoing_request_write_payload) do none of this.
 *
 * When compression happens:
 *   - client: a request is compressed when the application asked for it
 *     (the compress feature, irpc_features_set_compress, set to compress),
 *     or the interceptor's option `always` is set and the feature does not
 *     say "do not compress"; and it does not already carry a compression
 *     field. The compression itself runs at the terminal, when the
 *     receiver is known (a payload writer, see frames.h), again on every
 *     retry attempt;
 *   - server: a response is compressed when its status is Ok and the
 *     request's compress feature asks for it (typically set by the
 *     dispatcher), or the middleware's option `always` is set and the
 *     feature does not say "do not compress";
 *   - payloads below `min_size` and payloads that do not shrink are sent
 *     uncompressed (no field).
 * Decompression: a response with status Ok and the field set to a format
 * this build reads is decompressed by the interceptor; a request with the
 * field by the middleware. The field is removed once the payload is
 * decompressed.
 *
 * Limits (on by default): decompression stops with an error as soon as the
 * output would exceed `max_decompressed_size` (default 256 MiB, the
 * connection's default max payload size); at most that many bytes are ever
 * produced. The middleware answers InvalidData; the interceptor fails the
 * call with IRPC_ELIMIT (too big) or IRPC_EDATA (corrupt), or IRPC_ENOTSUP
 * for a format this build does not read (which only a custom terminal lets
 * through).
 *
 * Streaming: compression and decompression walk the input chain segment by
 * segment and write the output in blocks of up to 64 KiB, and each releases
 * its input as it goes when it may, so the whole compressed and
 * uncompressed copies never sit side by side:
 *   - decompression (interceptor, middleware) releases each compressed
 *     segment as soon as it has been read;
 *   - compressing a response (the server's writer owns the payload)
 *     releases each uncompressed segment once the codec has taken it. The
 *     first segments are held back (shared, not copied) only until the
 *     output is sure to shrink, which the writer checks by flushing the
 *     codec after 256 KiB, 512 KiB, 1 MiB... of input: a payload that
 *     compresses passes within the first few MiB, while one that does not
 *     is held to the end and sent as it was. A 64 MiB response that
 *     compresses to half its size peaks at about 64 MiB plus the codec's
 *     state (1 to 4 MiB), not 96 MiB;
 *   - compressing a request does not consume its payload (the application
 *     owns it and a retry sends it again). Over an icerpc connection a
 *     request larger than IRPC_PAYLOAD_STREAM_THRESHOLD (1 MiB) whose only
 *     writer is the compress writer is compressed as it is sent: the
 *     writer compresses a prefix until the output is sure to shrink (a
 *     payload not proved to shrink within max(8 MiB, 1/8 of its size) goes
 *     uncompressed), then the connection pulls about 256 KiB of output at a
 *     time as the stream drains, so the client holds the payload plus the
 *     codec's state and under a MiB of output (a 64 MiB request of 4-bit
 *     noise: the payload plus 1.1 MiB, not plus 33.5 MiB). Smaller requests,
 *     two writers on a request, and the coloc invoker compress the request
 *     whole before sending it.
 * Memory is released per block: a payload built as one huge block is
 * freed only once wholly read.
 *
 * Memory: zstd, brotli and zlib allocate through irpc's allocator. */
#ifndef IRPC_COMPRESS_H
#define IRPC_COMPRESS_H

#include "irpc/compression.h"
#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The compress feature (IceRPC's ICompressFeature) ----
 *
 * Key irpc_compress_feature; its value is a pointer to a `const int`:
 * non-zero = compress this payload (IceRPC's CompressFeature.Compress),
 * 0 = do not compress it (CompressFeature.DoNotCompress). No value (the
 * feature absent) = the option `always` of the interceptor or middleware
 * decides. The key does not own its values (destroy NULL): a value must
 * outlive the request. irpc_compress_yes and irpc_compress_no are the two
 * values to use, e.g. with the use-feature interceptor:
 *
 *     irpc_use_feature_interceptor_new(&ic, loop, &irpc_compress_feature,
 *                                      (void *)&irpc_compress_yes);
 *
 * Lifetime and who reads it:
 *   - on an outgoing request, the compress interceptor reads it each time
 *     the call passes it (every retry attempt); once it has attached its
 *     writer the request stays compressed on later attempts, and setting
 *     the feature after the call passed the interceptor changes nothing;
 *   - on an incoming request, the compress middleware reads it when the
 *     response comes back through it: the dispatcher sets it while it
 *     handles the request (IceRPC's [compress(Return)]).
 * A value set to compress also makes compression towards an IceRPC peer
 * (no announcement) possible, as the contract does in IceRPC. Over an ice
 * connection the feature asks for (or refuses) the protocol's own bzip2
 * compression of that request, or of the reply of a dispatched request
 * (irpc/ice.h, irpc_ice_options.compress). */

IRPC_API extern const irpc_feature_key irpc_compress_feature;
IRPC_API extern const int irpc_compress_yes; /* 1 */
IRPC_API extern const int irpc_compress_no;  /* 0 */

/* The argument of irpc_features_set_compress: */
enum {
  IRPC_COMPRESS_DEFAULT = -1, /* remove the feature: `always` decides */
  IRPC_COMPRESS_NO = 0,       /* never compress this payload */
  IRPC_COMPRESS_YES = 1       /* compress it (any non-zero value) */
};

/* Sets the compress feature to irpc_compress_yes (compress non-zero and
 * not IRPC_COMPRESS_DEFAULT) or irpc_compress_no (0), or removes it
 * (IRPC_COMPRESS_DEFAULT).
 * Errors: IRPC_EINVAL (f NULL), IRPC_ENOMEM. */
IRPC_API int irpc_features_set_compress(irpc_features *f, int compress);

/* 1 when the compress feature is set to compress, else 0 (set to not
 * compress, or absent). */
IRPC_API int irpc_features_compress(const irpc_features *f);

/* IRPC_COMPRESS_YES, IRPC_COMPRESS_NO, or IRPC_COMPRESS_DEFAULT when the
 * feature is absent (f NULL included). */
IRPC_API int irpc_features_compress_value(const irpc_features *f);

/* ---- Options ---- */

#define IRPC_COMPRESS_MAX_PREFERENCES 4

typedef struct irpc_compress_options {
  size_t struct_size; /* set by irpc_compress_options_init */
  /* Formats to send, in order of preference, 0-terminated; the first one
   * the peer reads is used. Default: zstd, then brotli. */
  uint8_t formats[IRPC_COMPRESS_MAX_PREFERENCES];
  /* Levels: zstd 1..19 (default 3), brotli 0..11 (default 1, IceRPC's
   * "Fastest"), deflate 1..9 (default 1, IceRPC's "Fastest"). */
  int zstd_level;
  int brotli_level;
  int deflate_level;
  /* Payloads shorter than this are sent uncompressed. Default 1024: below
   * about 1 KiB the bytes saved are at most a few hundred while the cost of
   * setting up a compressor dominates the call. */
  size_t min_size;
  /* Compression by policy. 0 (default): compress only the payloads whose
   * request carries the compress feature set to compress (IceRPC's rule).
   * Non-zero: the interceptor compresses every request, the middleware
   * every Ok response, of at least min_size bytes, unless the feature is
   * set to irpc_compress_no (it turns compression off per request) -- and
   * only towards a receiver that announced or listed a format it reads,
   * never towards an IceRPC peer by policy alone. */
  int always;
  /* Cap on a decompressed payload. Default 256 MiB; must be > 0. */
  uint64_t max_decompressed_size;
} irpc_compress_options;

/* Sets `o` to the defaults above and o->struct_size. Call
 * irpc_compress_options_init, which passes this header's sizeof
 * (irpc/version.h). */
IRPC_API void irpc_compress_options_init_sized(irpc_compress_options *o,
                                               size_t size);
static inline void irpc_compress_options_init(irpc_compress_options *o) {
  irpc_compress_options_init_sized(o, sizeof(*o));
}

/* Creates the compress interceptor (options copied; NULL = defaults).
 * Errors: IRPC_EINVAL (out or loop NULL, o->struct_size 0, smaller than
 * the first irpc_compress_options or larger with non-zero unknown members,
 * a level out of range, an unknown format, max_decompressed_size 0),
 * IRPC_ENOMEM. A call through it fails
 * with IRPC_ENOMEM when the accept field or the writer cannot be added. */
IRPC_API int irpc_compress_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                           const irpc_compress_options *o);

/* Creates the compress middleware.
 * Errors: as irpc_compress_interceptor_new. */
IRPC_API int irpc_compress_middleware_new(irpc_dispatcher **out,
                                          uv_loop_t *loop,
                                          const irpc_compress_options *o);

/* Attaches the compressing payload writer to a request or a response by
 * hand, as if the compress feature asked for it. On a request it compresses
 * for what the server announced, as the interceptor does. On a response it
 * compresses for the `peer_formats` its terminal gives: over a connection,
 * what the client's connection announced (its own dispatcher chain, not
 * the call), over coloc the request's accept list; a caller without the
 * interceptor then gets a NotSupported response. The middleware, which
 * follows the request's accept list, is the safe way.
 * Errors: IRPC_EINVAL (a NULL argument, o->struct_size or an option as for
 * irpc_compress_interceptor_new), IRPC_ELIMIT (too many writers). */
IRPC_API int irpc_compress_use_on_request(irpc_outgoing_request *r,
                                          const irpc_compress_options *o);
IRPC_API int irpc_compress_use_on_response(irpc_outgoing_response *r,
                                           const irpc_compress_options *o);

/* ---- Codec ---- */

/* Compresses all of `in` with `format` at `level` and appends one complete
 * compressed stream to `out`; `in` is left unchanged.
 * Errors: IRPC_EINVAL (NULL argument, level out of range), IRPC_ENOTSUP
 * (unknown format), IRPC_ENOMEM. */
IRPC_API int irpc_compress(int format, int level, const irpc_buf *in,
                           irpc_buf *out);

/* Decompresses `in` (one or more complete streams of `format`) and appends
 * the result to `out`, producing at most `max_size` bytes. When `consume`
 * is non-zero, `in` is consumed as it is read (its blocks released early).
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOTSUP (unknown format),
 * IRPC_ELIMIT (the output would exceed max_size), IRPC_EDATA (corrupt,
 * truncated, or trailing bytes), IRPC_ENOMEM. On error `out` holds what was
 * produced (at most max_size bytes) and should be discarded. */
IRPC_API int irpc_decompress(int format, irpc_buf *in, int consume,
                             uint64_t max_size, irpc_buf *out);

#ifdef __cplusplus
}
#endif
#endif
