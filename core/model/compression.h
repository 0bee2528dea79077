/* Compression negotiation, owned by the core: what the terminals
 * (connections, the coloc invoker) do so that a payload arrives compressed
 * only where something decompresses it (the rules are in irpc/compress.h
 * and docs/internals/COMPRESSION.md). The format mask and the screening
 * are model/compression.c; what a dispatcher chain decompresses is
 * chain/formats.c. The codecs, the compress interceptor and middleware
 * (interceptors/compress/, middleware/compress.c) use this header, never
 * the other way round. Never installed. */
#ifndef IRPC_CORE_COMPRESSION_H
#define IRPC_CORE_COMPRESSION_H

#include "irpc/compression.h"
#include "irpc/dispatcher.h"

/* The formats this build compresses and decompresses (the codecs of
 * interceptors/compress/): irpc_compress_formats_readable(). */
#define IRPC__COMPRESSION_FORMATS_BUILT                                        \
  (IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_DEFLATE) |                            \
   IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_BROTLI) |                             \
   IRPC_COMPRESSION_BIT(IRPC_COMPRESSION_ZSTD))

/* The mask bit of a format read off the wire (0 beyond bit 63). */
static inline uint64_t irpc__compress_format_bit(unsigned f) {
  return f < 64 ? IRPC_COMPRESSION_BIT(f) : 0;
}

/* ---- Model (model/compression.c) ---- */

/* The `peer_formats` to give payload writers for a peer whose Settings
 * carried `value` (announced) or nothing. */
uint64_t irpc__compress_peer_formats(int announced, uint64_t value);

/* The formats the caller of a request decompresses in its response: the
 * list in its IRPC_REQUEST_FIELD_COMPRESSION_ACCEPT field, else 0. */
uint64_t irpc__compress_accepted(const irpc_fields *request_fields);

/* Screens a request before its dispatch, `reads` being what the side
 * announced: returns 0 to dispatch it, or the status to answer instead
 * (NotSupported, InvalidData) with its message in msg[size]. */
uint64_t irpc__compress_screen_request(const irpc_fields *request_fields,
                                       uint64_t reads, char *msg, size_t size);

/* Screens a response before the call completes: when it is compressed and
 * the request did not accept that format (or it is not Ok), *resp is
 * replaced by a NotSupported response saying so. Returns 0, or
 * IRPC_ENOMEM (*resp is then freed and NULL). */
int irpc__compress_screen_response(const irpc_fields *request_fields,
                                   irpc_incoming_response **resp);

/* ---- Dispatcher chains (chain/formats.c) ---- */

/* Marks `d` as a dispatcher that decompresses, for every request that
 * reaches it, the formats in `formats` (the compress middleware sets
 * irpc_compress_formats_readable() from its init). What
 * irpc_compress_formats_decompressed_by adds up. */
void irpc__dispatcher_set_decompresses(irpc_dispatcher *d, uint64_t formats);

/* What a side announces in its Settings frame and accepts in requests:
 * the formats `d`'s chain decompresses, limited to `allowed`, plus bit 0
 * (NotCompressed), so that the announcement is never empty. */
uint64_t irpc__compress_announcement(irpc_dispatcher *d, uint64_t allowed);

#endif
