/* Compression formats, as the core knows them: the format values, the
 * masks a connection announces and reads, and what a dispatcher chain
 * decompresses. The codecs, the compress interceptor and middleware are in
 * irpc/compress.h, which includes this header.
 *
 * Threading: the functions read no shared state; irpc_compress_formats_
 * decompressed_by runs on the loop of `d`. */
#ifndef IRPC_COMPRESSION_H
#define IRPC_COMPRESSION_H

#include <stdint.h>

#include "irpc/dispatcher.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Compression format values (IceRPC's CompressionFormat, plus zstd). */
enum {
  IRPC_COMPRESSION_NONE = 0,    /* reserved, never encoded */
  IRPC_COMPRESSION_DEFLATE = 1, /* IceRPC */
  IRPC_COMPRESSION_BROTLI = 2,  /* IceRPC */
  /* irpc's zstd. Chosen far from IceRPC's small sequential values so that a
   * format IceRPC may add later (3, 4, ...) cannot collide, and below 62 so
   * that it fits the varuint62 Settings mask. */
  IRPC_COMPRESSION_ZSTD = 32
};

/* The mask bit of format `f`. */
#define IRPC_COMPRESSION_BIT(f) (UINT64_C(1) << (f))

/* What an IceRPC peer with its Compressor installed reads: Deflate and
 * Brotli. Assumed for a peer that sent no IRPC_SETTING_COMPRESSION_FORMATS
 * only when the compress feature asks for compression (see above). */
#define IRPC_COMPRESSION_FORMATS_ICERPC                                        \
  (IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_DEFLATE) |                            \
   IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_BROTLI))

/* In the `peer_formats` a terminal gives payload writers (irpc/frames.h):
 * the receiver announced nothing (an IceRPC peer); the other bits are then
 * IRPC_COMPRESSION_FORMATS_ICERPC, what it reads if the contract is kept.
 * Never on the wire (a varuint62 stops at bit 61). */
#define IRPC_COMPRESSION_UNANNOUNCED (UINT64_C(1) << 63)

/* The icerpc Settings key under which a connection announces the mask of
 * the formats its dispatcher chain decompresses: 0x69727063, "irpc" in
 * ASCII (an 8-byte varuint62), far from IceRPC's own keys (MaxHeaderSize =
 * 0). */
#define IRPC_SETTING_COMPRESSION_FORMATS UINT64_C(0x69727063)

/* The request field (irpc's, unknown to IceRPC, which keeps and ignores
 * it) in which the compress interceptor lists the formats it decompresses
 * in the response: one byte per format, e.g. {32, 2, 1}. An empty list
 * means none. A custom interceptor that decompresses responses itself sets
 * it the same way. Key 16,000: a 2-byte varuint62, far from IceRPC's
 * small sequential keys. */
#define IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT 16000

/* The mask of the formats this build decompresses (Deflate, Brotli and
 * zstd). */
IRPC_API uint64_t irpc_compress_formats_readable(void);

/* The formats the dispatcher chain that starts at `d` decompresses in
 * every request: those of the compress middleware reached from `d` by
 * following irpc_dispatcher_next, and a router's middleware (irpc_router_use,
 * irpc_router_dispatcher), up to where routing starts. A compress
 * middleware mapped or mounted under a path, or on a sub-router, is not
 * counted: it does not see every request. What a server connection
 * announces (limited to its compression_formats option) and accepts.
 * 0 when d is NULL. */
IRPC_API uint64_t irpc_compress_formats_decompressed_by(irpc_dispatcher *d);

#ifdef __cplusplus
}
#endif

#endif
