/* irpc: the ice protocol (ZeroC Ice's protocol 1.0, encoding 1.1
 * payloads), spoken by connections to and from `ice://` addresses.
 *
 * An ice connection carries the same calls and dispatches as an icerpc
 * one, mapped the way IceRPC maps them:
 *   - the request's path is the Ice identity: "/name" is {name, ""},
 *     "/category/name" is {name, category}, each segment percent-escaped
 *     (a path of more segments fails the call with IRPC_EPATH); an
 *     incoming identity becomes such a path, escaped as
 *     irpc_ice_identity_to_path writes it (irpc/address.h);
 *   - the Ice facet is the irpc_ice_facet_feature of the request, else
 *     the fragment of its service address
 *     (irpc_outgoing_request_set_service_address), percent-decoded (a
 *     connection cache's default target is not seen: set the feature); an
 *     incoming request carries the feature when its facet is not empty;
 *   - the idempotent field (irpc_outgoing_request_set_idempotent) is the
 *     operation mode Idempotent (2); an incoming mode Nonmutating (1) or
 *     Idempotent sets the field;
 *   - the request context field (IRPC_REQUEST_FIELD_CONTEXT, the request
 *     context interceptor's Slice dictionary) is the Ice context: it is
 *     re-encoded both ways; no other field is sent;
 *   - a payload is the content of the request's or reply's encapsulation:
 *     the protocol adds the 6-byte encapsulation header (size, encoding
 *     1.1) when it sends and checks and strips it when it receives;
 *   - reply statuses and status codes: Ok is Ok; UserException is
 *     ApplicationError (message "", the payload is the encoded exception)
 *     and an ApplicationError with a payload is sent as UserException;
 *     ObjectNotExist and FacetNotExist are NotFound, OperationNotExist is
 *     NotImplemented, with the message "The dispatch failed with status
 *     code NotFound while dispatching 'op' on '/path'." (and "#facet"),
 *     and NotFound / NotImplemented are sent as ObjectNotExist /
 *     OperationNotExist with the request's identity, facet and operation;
 *     UnknownLocalException, UnknownUserException, UnknownException are
 *     InternalError with the peer's reason as message; InvalidData,
 *     Unauthorized and NotSupported (8, 9, 10) are read as those status
 *     codes. Every other status code is sent as UnknownException (7), the
 *     last status Ice 3.7 knows, with the message and "{ Original
 *     StatusCode = Name }" appended.
 * A one-way call (irpc_outgoing_request_set_oneway) is sent with request id
 * 0 and completes Ok once queued; a batch of requests from the peer is
 * dispatched as that many one-way requests.
 *
 * The connection: the server sends ValidateConnection as soon as it
 * accepts, and the client waits for it before anything else (the
 * handshake, bounded by the connect timeout). Either side sends
 * ValidateConnection again as a heartbeat (Ice 3.7's) after half of
 * idle_timeout_ms without writing, and accepts one at any time. A graceful
 * shutdown (irpc_connection_shutdown) waits for the calls and dispatches
 * under way, then sends CloseConnection; the peer then closes the
 * transport, as Ice does. The peer's CloseConnection fails the two-way
 * calls still waiting for a reply with IRPC_EINVCANCELED (Ice's peer
 * replied to everything it accepted: safe to retry).
 *
 * Errors a connection ends with, besides those of irpc/connection.h:
 *   IRPC_ECLOSEDBYPEER  the peer sent CloseConnection;
 *   UV_ECONNRESET       the peer vanished: the transport ended without a
 *                       CloseConnection, or in the middle of a message;
 *   UV_ECONNREFUSED     the server closed the transport before validating
 *                       the connection (a refusal: shutting down, busy);
 *   IRPC_EBADMAGIC      the peer does not speak ice (its first bytes are not
 *                       "IceP"), or speaks another protocol or protocol
 *                       encoding version than 1.0;
 *   IRPC_EMSGTYPE       a message of an unknown type (not 0 to 4), or a
 *                       first message other than ValidateConnection;
 *   IRPC_ELIMIT         a message larger than max_message_size, by its
 *                       header or, compressed, by its uncompressed size or
 *                       once decompressed (nothing larger is allocated);
 *   IRPC_EDATA          a compressed message that does not decompress;
 *   IRPC_EPROTO         any other malformed message: a size below 14, a
 *                       control message with a body, a bad compression
 *                       status, a reply to a request id never sent, a
 *                       request that does not decode;
 *   IRPC_EIDLE          idle_check is set and nothing came for
 *                       idle_timeout_ms.
 * A call fails with IRPC_EPROTO when its reply decodes badly (bad
 * encapsulation) but the message framing holds (the connection stays),
 * with IRPC_EPATH when its path is not an Ice identity, IRPC_EDATA when its
 * context field does not decode, IRPC_ELIMIT when the message would be
 * larger than 2^31-1 bytes.
 *
 * Threading: as every connection, on its loop. */
#ifndef IRPC_ICE_H
#define IRPC_ICE_H

#include <stdint.h>

#include "irpc/common.h"
#include "irpc/features.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ice protocol's part of a connection's options
 * (irpc_connection_options.ice, NULL for the defaults); copied when the
 * client connection, connection cache or server is created. A value out
 * of range makes that creation fail with IRPC_EINVAL. */
typedef struct irpc_ice_options {
  size_t struct_size; /* set by irpc_ice_options_init */
  /* Largest message received, its 14-byte header included, checked on
   * the header before anything is allocated, and on the uncompressed size
   * of a compressed message: 1,048,576 (Ice's Ice.MessageSizeMax and
   * IceRPC's MaxIceFrameSize); 256..2,147,483,647. */
  uint64_t max_message_size;
  /* Heartbeats: a ValidateConnection is sent after half of this without
   * writing anything. 60,000 ms (Ice's ACM timeout, IceRPC's
   * IceIdleTimeout); 0 = no heartbeat. */
  uint64_t idle_timeout_ms;
  /* Non-zero: the connection ends with IRPC_EIDLE when nothing was
   * received for idle_timeout_ms. Default 0: an Ice 3.7 peer sends
   * heartbeats only while it dispatches (its default ACM), so a healthy
   * idle Ice 3.7 peer would be cut off. */
  int idle_check;
  /* Non-zero: messages of 100 bytes or more are sent compressed with
   * bzip2 when that makes them smaller (compression status 2), the others
   * with status 1, as an Ice proxy or endpoint with compression (-z)
   * does. Default 0: status 0. A request's compress feature (irpc/
   * compress.h) overrides this for that request, and that of a dispatched
   * request for its reply; without it a reply is compressed when its
   * request asked for compression (status 1 or 2), as Ice does. Every
   * compressed message received is read. */
  int compress;
} irpc_ice_options;

/* Sets `o` to the defaults above and o->struct_size. Call
 * irpc_ice_options_init, which passes this header's sizeof. */
IRPC_API void irpc_ice_options_init_sized(irpc_ice_options *o, size_t size);
static inline void irpc_ice_options_init(irpc_ice_options *o) {
  irpc_ice_options_init_sized(o, sizeof(*o));
}

/* The Ice facet of a request (see the header comment): on an incoming
 * request, a `char *` owned by the request, set by the connection when
 * the facet is not empty; on an outgoing request, set it to a `char *`
 * from irpc_ice_facet_dup (the collection frees it) to send that facet,
 * in preference to the service address's fragment. */
IRPC_API extern const irpc_feature_key irpc_ice_facet_feature;

/* A copy of `facet` for irpc_ice_facet_feature (NULL when out of memory
 * or facet is NULL). */
IRPC_API char *irpc_ice_facet_dup(const char *facet);

#ifdef __cplusplus
}
#endif
#endif
