/* What the terminals (connections, the coloc invoker) do so that a payload
 * arrives compressed only where something decompresses it (the rules are
 * in irpc/compress.h and docs/internals/COMPRESSION.md). Implemented with
 * the compress interceptor and middleware. Never installed. */
#ifndef IRPC_CORE_COMPRESSION_H
#define IRPC_CORE_COMPRESSION_H

#include "irpc/compress.h"

/* What a side announces in its Settings frame and accepts in requests:
 * the formats `d`'s chain decompresses, limited to `allowed`, plus bit 0
 * (NotCompressed), so that the announcement is never empty. */
uint64_t irpc__compress_announcement(irpc_dispatcher *d, uint64_t allowed);

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

/* Router internals for irpc_compress_formats_decompressed_by: 1 and the
 * router's middleware list when `d` is a router, else 0. */
int irpc__router_middleware(const irpc_dispatcher *d,
                            irpc_dispatcher *const **list, size_t *count);

/* 1 when `d` is a compress middleware. */
int irpc__is_compress_middleware(const irpc_dispatcher *d);

#endif
