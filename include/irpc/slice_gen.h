/* irpc: the runtime of code generated from Slice definitions.
 *
 * `irpc-slicec` turns each `X.slice` into `X.slice.h` and `X.slice.c`,
 * which include only this header. Generated code is straight-line encode
 * and decode functions per type, one const descriptor per interface
 * (irpc_slice_iface) and thin typed wrappers over the generic functions
 * below: irpc_slice_invoke on the client side, and the dispatcher made by
 * irpc_slice_dispatcher_new on the server side. The exact shape of the
 * generated code (names, type mapping, signatures) is specified in
 * docs/internals/SLICE_GEN.md; tests/slice_gen/ holds a golden example.
 *
 * Lifetimes, stated once:
 *   - Client: the values decoded from a response (the typed callback's
 *     `ret`) live in the reply's arena and stay valid until the callback
 *     returns, unless the callback calls irpc_slice_reply_keep: they then
 *     live until irpc_slice_reply_free. Arguments passed to a generated
 *     call are borrowed only during that call: they are encoded before it
 *     returns.
 *   - Server: the decoded arguments an operation function receives stay
 *     valid until the dispatch is completed (by the generated reply
 *     function or irpc_slice_dispatch_fail), however much later. The
 *     irpc_slice_dispatch handle is gone once completed.
 *   - Strings and byte sequences decoded are views (irpc_str, irpc_bytes)
 *     into the payload when contiguous, else copies in the arena; they are
 *     never NUL-terminated.
 *
 * Limits: decoding follows the decoder's limits (slice.h): max segment size
 * 1 MB and max collection allocation 8 MB. Every byte the arena hands out
 * while decoding is charged against the collection allocation first, so a
 * hostile payload makes a call or dispatch fail with IRPC_ELIMIT (client)
 * or InvalidData (server) instead of allocating without bound.
 *
 * Errors: every function returns 0 or a negative library error (error.h);
 * each lists its own below.
 *
 * Threading: everything here belongs to the loop of the invoker or
 * dispatcher involved and is used on that loop's thread. */
#ifndef IRPC_SLICE_GEN_H
#define IRPC_SLICE_GEN_H

#include <stdbool.h>
#include <string.h>

#include "irpc/common.h"
#include "irpc/compress.h"
#include "irpc/connection.h"
#include "irpc/dispatcher.h"
#include "irpc/error.h"
#include "irpc/invoker.h"
#include "irpc/router.h"
#include "irpc/slice.h"
#include "irpc/slice_stream.h"
#include "irpc/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the generated-code contract. A generated header starts
 * with `#if IRPC_SLICE_GEN_VERSION != N #error ... #endif`, N being the
 * version its generator emits for. */
#define IRPC_SLICE_GEN_VERSION 1

/* ------------------------------------------------------------------------
 * Strings
 * ------------------------------------------------------------------------ */

/* A Slice `string`: UTF-8 bytes, not NUL-terminated. A borrowed view: who
 * owns the bytes is said where one is handed out. */
typedef struct irpc_str {
  const char *ptr;
  size_t len;
} irpc_str;

/* A string literal as an irpc_str: IRPC_STR("hello"). */
#define IRPC_STR(lit) ((irpc_str){(lit), sizeof(lit) - 1})

/* A NUL-terminated string as an irpc_str (NULL gives the empty string). */
static inline irpc_str irpc_str_c(const char *s) {
  irpc_str r = {s ? s : "", s ? strlen(s) : 0};
  return r;
}

/* 1 when `s` holds exactly the NUL-terminated `c`, else 0. */
static inline int irpc_str_eq(irpc_str s, const char *c) {
  return strlen(c) == s.len && memcmp(s.ptr, c, s.len) == 0;
}

/* Encodes a string (irpc_slice_encode_string).
 * Errors: as irpc_slice_encode_string. */
static inline int irpc_slice_encode_str(irpc_slice_encoder *e, irpc_str s) {
  return irpc_slice_encode_string(e, s.ptr, s.len);
}

/* ------------------------------------------------------------------------
 * Arena: where decoded values live
 * ------------------------------------------------------------------------ */

/* Bytes of the first block, held inside the arena itself. */
#define IRPC_ARENA_INLINE 160

/* 16-byte alignment, spelled for C and C++. */
#ifdef __cplusplus
#define IRPC__ALIGN16 alignas(16)
#else
#define IRPC__ALIGN16 _Alignas(16)
#endif

/* A bump allocator: allocations are 16-byte aligned and all freed at once
 * by irpc_arena_fini. The first IRPC_ARENA_INLINE bytes come from the
 * arena itself; further blocks (at least 2 KiB each) from irpc_malloc. A
 * public struct only so that it can be embedded (it must not be moved or
 * copied once initialized: it points into itself); members are private. */
typedef struct irpc_arena {
  uint8_t *cur; /* private */
  uint8_t *end; /* private */
  void *blocks; /* private: heap blocks, newest first */
  size_t limit; /* private: bytes that may still come from the heap */
  IRPC__ALIGN16 uint8_t first[IRPC_ARENA_INLINE]; /* private */
} irpc_arena;

/* Prepares an empty arena that takes at most `max_heap` bytes from the
 * heap (0: IRPC_SLICE_DEFAULT_MAX_COLLECTION_ALLOCATION). */
IRPC_API void irpc_arena_init(irpc_arena *a, size_t max_heap);

/* `size` bytes, 16-byte aligned and uninitialized, valid until
 * irpc_arena_fini; NULL when the allocator fails or the arena's heap limit
 * would be passed. size 0 returns a valid unique pointer. */
IRPC_API void *irpc_arena_alloc(irpc_arena *a, size_t size);

/* Frees every block; the arena is empty and usable again. NULL is a
 * no-op. */
IRPC_API void irpc_arena_fini(irpc_arena *a);

/* ------------------------------------------------------------------------
 * Proxies
 * ------------------------------------------------------------------------ */

/* A proxy: where the calls of one service go. Generated code wraps it in a
 * struct per interface (`M_IProxy { irpc_slice_proxy p; }`) so that a
 * proxy of one interface cannot be passed for another.
 *
 * Fill it by hand for a client (`{.invoker = pipeline_or_connection}`,
 * path NULL = the interface's default path, or the path of `address` when
 * one is set), or receive it decoded from an
 * operation parameter or return value. A proxy encodes as IceRPC's
 * ServiceAddress, a URI string: its `address` when set, else its path
 * (relative). A relative address decoded by a server is resolved against
 * the connection the request came on: `invoker` is that connection's
 * invoker and `conn` the connection, so calling the proxy calls the peer
 * back (a callback); decoded by a client, against the proxy that made the
 * call (its invoker). An absolute address with a server address
 * (`icerpc://host/path`) decodes with the invoker of the proxy that made
 * the call on a client, and with `invoker` NULL on a server (set one, a
 * connection cache, before calling). Calling a proxy that has an absolute
 * address sets it as the request's service address
 * (irpc_outgoing_request_set_service_address), so a connection cache at the
 * end of the invoker's chain connects to that server. So does an ice
 * address without a server address, Ice's indirect proxies
 * ("ice:/hello?adapter-id=HelloAdapter" for "hello@HelloAdapter", or the
 * well-known "ice:/hello"): a locator interceptor (irpc/locator.h) in front
 * of the connection cache resolves it; not for a proxy decoded on a
 * connection (`conn` set: the peer's object, called back over it). */
typedef struct irpc_slice_proxy {
  /* Carries the calls (a pipeline, client connection, connection cache,
   * coloc invoker, or a connection's own invoker). Borrowed. */
  irpc_invoker *invoker;
  /* The service path; NULL = the path of `address`, or without one the
   * interface's default path. */
  const char *path;
  /* The absolute service address URI it was decoded from; NULL for a
   * relative one. */
  const char *address;
  /* The connection a decoded relative proxy belongs to (NULL when it
   * arrived through coloc, or for proxies made by hand). A proxy copied
   * with irpc_slice_proxy_copy holds a reference to it. */
  irpc_connection *conn;
  unsigned owned; /* private: set by irpc_slice_proxy_copy */
} irpc_slice_proxy;

/* Copies `src` into `dst` so that it outlives the call or dispatch it was
 * decoded in: the strings are copied (one irpc_malloc) and a reference to
 * the connection is taken, so the proxy may be called later, even after
 * the connection is gone (the calls then fail with the connection's error).
 * Release with irpc_slice_proxy_release. dst is left zeroed on error.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_slice_proxy_copy(irpc_slice_proxy *dst,
                                   const irpc_slice_proxy *src);

/* Releases what irpc_slice_proxy_copy took and zeroes `p`. A proxy not
 * made by irpc_slice_proxy_copy is only zeroed. NULL is a no-op. */
IRPC_API void irpc_slice_proxy_release(irpc_slice_proxy *p);

/* Encodes `p` as a ServiceAddress string: its address, else its path;
 * `default_path` when both are NULL. In the Ice encoding 1.1, as a proxy
 * record instead: the identity from the path (`/name` or `/category/name`,
 * percent-escapes decoded), the facet from the address's fragment, mode
 * twoway, not secure, protocol 1.0 (2.0 for an icerpc address), encoding
 * 1.1, then the address's TCP or SSL server addresses as endpoints (`t`
 * the timeout, default 60000; `z` compress), or its `adapter-id`, or
 * neither for a relative proxy; p NULL is the null proxy there.
 * Errors: IRPC_EINVAL (NULL e, p NULL in Slice2, no path at all; in 1.1 a
 * path that is not an Ice identity, or a server address of another
 * transport), as irpc_slice_encode_string. */
IRPC_API int irpc_slice_encode_proxy(irpc_slice_encoder *e,
                                     const irpc_slice_proxy *p,
                                     const char *default_path);

/* ------------------------------------------------------------------------
 * Decoding into an arena
 * ------------------------------------------------------------------------ */

/* A decoder, the arena its values go to, and what decoded proxies are
 * resolved against. Generated decode functions take it as
 * `X_decode(irpc_slice_in *in, X *out)` and read with the irpc_slice_decode_*
 * functions on `&in->dec`. The runtime sets it up for every response and
 * dispatch; set one up by hand only to decode outside a call. */
typedef struct irpc_slice_in {
  irpc_slice_decoder dec;
  irpc_arena arena;
  /* Given to decoded relative proxies (see irpc_slice_proxy). */
  irpc_invoker *proxy_invoker;
  irpc_connection *proxy_conn;
  /* Given to decoded absolute proxies with a server address: the invoker
   * of the proxy that made the call when decoding a response (as IceRPC
   * does: a connection cache at its end reaches the address), NULL when
   * decoding a request. */
  irpc_invoker *absolute_invoker;
} irpc_slice_in;

/* Prepares `in` (which must not move afterwards: its arena's first block
 * is inside it) to decode the Slice2 bytes of `b` (borrowed, unchanged
 * until irpc_slice_in_fini) or of a byte span. Errors: as
 * irpc_slice_decoder_init_buf / _bytes; `in` is still safe to finalize. */
IRPC_API int irpc_slice_in_init_buf(irpc_slice_in *in, const irpc_buf *b);
IRPC_API int irpc_slice_in_init_bytes(irpc_slice_in *in, const void *data,
                                      size_t len);

/* The decoding limits of generated code, raised (or lowered) for the
 * calls and dispatches that carry them. Generated proxies decode a
 * response with the limits of the request's feature (on the outgoing
 * request's features); generated dispatchers decode a request with those of
 * the incoming request's features (set by a middleware:
 * irpc_use_feature_middleware_new). Without the feature, the defaults
 * apply: a 10 MiB sequence, say, needs max_collection_allocation above
 * IRPC_SLICE_DEFAULT_MAX_COLLECTION_ALLOCATION.
 *
 * The feature's value is a pointer to an irpc_slice_limits the caller
 * keeps alive and unchanged as long as requests may carry it (a static
 * one, typically); the feature never frees it. A value whose struct_size is
 * refused fails the decoding with IRPC_EINVAL. */
typedef struct irpc_slice_limits {
  size_t struct_size;
  /* The largest Slice2 segment (0: IRPC_SLICE_DEFAULT_MAX_SEGMENT_SIZE). */
  size_t max_segment_size;
  /* The most bytes the decoded values may take (0:
   * IRPC_SLICE_DEFAULT_MAX_COLLECTION_ALLOCATION). */
  size_t max_collection_allocation;
} irpc_slice_limits;

IRPC_API void irpc_slice_limits_init_sized(irpc_slice_limits *l, size_t size);
/* Sets struct_size and the defaults (every limit 0). */
static inline void irpc_slice_limits_init(irpc_slice_limits *l) {
  irpc_slice_limits_init_sized(l, sizeof(*l));
}

IRPC_API extern const irpc_feature_key irpc_slice_limits_feature;

/* The same for the bytes of either encoding (Slice1 payloads are Ice
 * encoding 1.1). Errors: as irpc_slice_decoder_init_buf / _bytes. */
IRPC_API int irpc_slice_in_init_buf_enc(irpc_slice_in *in, const irpc_buf *b,
                                        irpc_slice_encoding encoding);
IRPC_API int irpc_slice_in_init_bytes_enc(irpc_slice_in *in, const void *data,
                                          size_t len,
                                          irpc_slice_encoding encoding);

/* Frees the arena and the decoder's copies: every value decoded through
 * `in` becomes invalid. NULL is a no-op. */
IRPC_API void irpc_slice_in_fini(irpc_slice_in *in);

/* `size` bytes of arena memory for a decoded value, charged first against
 * the decoder's max collection allocation. NULL on failure, which is also
 * recorded as the decoder's sticky error (IRPC_ELIMIT or IRPC_ENOMEM), so
 * generated code may check only at the end. */
IRPC_API void *irpc_slice_in_alloc(irpc_slice_in *in, size_t size);

/* Records `err` (negative) as the decoder's error, unless one is already
 * recorded, and returns the recorded one: for generated code that finds a
 * value the decoder cannot judge (an unknown variant discriminant:
 * IRPC_EENUM). */
IRPC_API int irpc_slice_in_fail(irpc_slice_in *in, int err);

/* A string, as a view (see irpc_slice_decode_string).
 * Errors: as irpc_slice_decode_string. */
IRPC_API int irpc_slice_decode_str(irpc_slice_in *in, irpc_str *s);

/* A Sequence<uint8>: a view into the payload when contiguous, else a copy
 * in the arena.
 * Errors: as irpc_slice_decode_count; IRPC_ENOMEM. */
IRPC_API int irpc_slice_decode_byte_seq(irpc_slice_in *in, irpc_bytes *b);

/* A sequence of a numeric `type` (irpc_slice_type) into the arena (*items
 * NULL when empty). Errors: as irpc_slice_decode_seq. */
IRPC_API int irpc_slice_decode_seq_in(irpc_slice_in *in, irpc_slice_type type,
                                      void **items, size_t *count);

/* The count of a sequence or dictionary whose elements generated code
 * decodes one by one, and an array of count x `elem_size` bytes for them in
 * the arena (zeroed; NULL when the count is 0). `min_wire_size` is the
 * fewest bytes one element takes on the wire (at least 1).
 * Errors: as irpc_slice_decode_count; IRPC_ENOMEM. */
IRPC_API int irpc_slice_decode_array(irpc_slice_in *in, size_t min_wire_size,
                                     size_t elem_size, size_t *count,
                                     void **items);

/* A proxy (see irpc_slice_proxy): in Slice2 a ServiceAddress string, in
 * the Ice encoding 1.1 a proxy record (identity, facet, mode, secure,
 * protocol and encoding, then endpoints or an adapter ID). The path and
 * address are NUL-terminated copies in the arena. A 1.1 proxy becomes:
 *   - with TCP or SSL endpoints: the address
 *     `ice://host:port/path?t=timeout[&z][#facet]` (`transport=ssl` for
 *     SSL; the other endpoints as `alt-server`), decoded with the invoker
 *     for absolute addresses (as a Slice2 absolute address);
 *   - with an adapter ID: `ice:/path?adapter-id=id`, the same invoker;
 *   - with neither (a well-known proxy, or a callback on the connection):
 *     `ice:/path` and the invoker of relative proxies;
 * where the path is `/name` or `/category/name`, each part
 * percent-escaped. Endpoints of other transports (UDP, WebSocket, opaque)
 * are skipped; a proxy left with none of its endpoints is IRPC_EDATA. The
 * null proxy (an empty identity name) is IRPC_EDATA here: use
 * irpc_slice_decode_proxy_opt where it is allowed.
 * Errors: as irpc_slice_decode_string; IRPC_EDATA (not a valid relative
 * path or service address URI; a bad 1.1 proxy record); IRPC_ENOMEM. */
IRPC_API int irpc_slice_decode_proxy(irpc_slice_in *in, irpc_slice_proxy *p);

/* A proxy that may be null (Ice 1.1: `X*` is nullable): *present is false
 * and *p zeroed for the null proxy. In Slice2 there is no null proxy
 * (optional proxies use the bit sequence) and this is
 * irpc_slice_decode_proxy with *present true.
 * Errors: as irpc_slice_decode_proxy. */
IRPC_API int irpc_slice_decode_proxy_opt(irpc_slice_in *in, irpc_slice_proxy *p,
                                         bool *present);

/* ------------------------------------------------------------------------
 * Interface and operation descriptors (emitted by the generator)
 * ------------------------------------------------------------------------ */

/* Operation flags. */
#define IRPC_SLICE_OP_IDEMPOTENT 0x1u      /* `idempotent` */
#define IRPC_SLICE_OP_ONEWAY 0x2u          /* [oneway] */
#define IRPC_SLICE_OP_COMPRESS_ARGS 0x4u   /* [compress(Args)] */
#define IRPC_SLICE_OP_COMPRESS_RETURN 0x8u /* [compress(Return)] */

typedef struct irpc_slice_reply irpc_slice_reply;
typedef struct irpc_slice_dispatch irpc_slice_dispatch;

/* Writes the members of an argument or return struct (`values` points to
 * the generated `_args` or `_ret` struct, or the single return value): the
 * bit sequence, the non-tagged members, the tagged ones by tag. The
 * runtime writes the segment size around it and the end marker after. */
typedef int (*irpc_slice_encode_fn)(irpc_slice_encoder *e, const void *values);

/* Reads the same members into `values`, and the tagged members it knows;
 * the runtime skips the rest up to the end marker and checks that nothing
 * follows. `values` is zeroed beforehand, so the value of an absent
 * optional member is zero (never what an earlier call left in a reused
 * arena); on failure nothing it wrote is shown to anyone. */
typedef int (*irpc_slice_decode_fn)(irpc_slice_in *in, void *values);

/* Calls the typed callback `cb` (the generated `M_I_op_cb`, cast to
 * void (*)(void)) with `ret` cast to its type (NULL on error or for a void
 * operation). */
typedef void (*irpc_slice_deliver_fn)(irpc_slice_reply *reply, int err,
                                      const void *ret, void (*cb)(void),
                                      void *user_data);

/* Calls the application's operation function in the generated ops table
 * `ops` with the decoded `args`. Returns IRPC_ENOTSUP, calling nothing,
 * when that function is NULL (the dispatch then answers NotImplemented). */
typedef int (*irpc_slice_call_fn)(const void *ops, void *impl,
                                  irpc_slice_dispatch *sd, void *args);

/* The descriptors start with `.struct_size = sizeof(irpc_slice_op)` (and
 * sizeof(irpc_slice_iface)), which irpc-slicec writes; they are read in
 * place, checked when an interface is served and at each call (one
 * comparison). */
typedef struct irpc_slice_op {
  size_t struct_size; /* sizeof(irpc_slice_op) */
  const char *name;   /* on the wire: the Slice identifier as written */
  unsigned flags;     /* IRPC_SLICE_OP_* */
  /* Client. encode_args NULL: no parameters (an empty payload is sent).
   * decode_return NULL: no return value (any payload is accepted if it is
   * empty or an empty struct). return_size: bytes of the decoded return
   * value (the `_ret` struct or the single type). */
  irpc_slice_encode_fn encode_args;
  irpc_slice_decode_fn decode_return;
  size_t return_size;
  irpc_slice_deliver_fn deliver;
  /* Server. decode_args NULL: no parameters; args_size: bytes of the
   * generated `_args` struct. encode_return is used by the reply. */
  irpc_slice_decode_fn decode_args;
  size_t args_size;
  irpc_slice_encode_fn encode_return;
  irpc_slice_call_fn call;
  /* Added with Slice1 (older descriptors read as 0): the encoding of the
   * arguments and return value, 0 or IRPC_SLICE_ENCODING_2 for Slice2 (one
   * segment ending with the tag end marker), IRPC_SLICE_ENCODING_1_1 for
   * Slice1 (the members alone, tagged ones by tag after the others); and
   * the user exceptions the operation may throw: those of its `throws`
   * clause and the ones derived from them that the generator knew of,
   * which a client decodes and a server lets through. */
  int encoding;
  const struct irpc_slice_exception_desc *const *exceptions;
  size_t nexceptions;
  /* Added with streams (older descriptors read as NULL): the element of a
   * `-> stream T` that ends the return value (Slice2 only). The response
   * then carries the segment of the other return members (an empty struct
   * when there are none) followed by the elements; the client's callback
   * runs once that segment arrived, and takes the elements with
   * irpc_slice_reply_take_stream. */
  const irpc_slice_stream_elem *return_stream;
  /* The element of a `stream T` that ends the parameters (Slice2 only).
   * The request carries the segment of the other parameters (an empty
   * struct when there are none) followed by the elements, written by the
   * writer of irpc_slice_call_opts.stream; the server reads it as a stream
   * (irpc_slice_stream_request), runs the operation once that segment
   * arrived, and the operation takes the elements with
   * irpc_slice_dispatch_take_stream. */
  const irpc_slice_stream_elem *param_stream;
} irpc_slice_op;

/* An operation of an interface: its descriptor (emitted once, by the
 * interface that defines it, as `M_I_op_<name>`), and where the ops table
 * of that interface sits inside the ops table of the interface served: 0
 * for its own operations, offsetof(M_D_ops, Base) for one inherited from
 * Base (a derived ops table embeds one ops table per direct base, in
 * order, before its own members). `call` receives the ops table moved by
 * that offset, so inherited operations work with any number of bases and
 * across generated files. */
typedef struct irpc_slice_op_ref {
  const irpc_slice_op *op;
  size_t ops_offset;
} irpc_slice_op_ref;

#define IRPC_SLICE_IFACE_MAGIC 0x53694731u /* "SiG1" */

typedef struct irpc_slice_iface {
  size_t struct_size;       /* sizeof(irpc_slice_iface) */
  uint32_t magic;           /* IRPC_SLICE_IFACE_MAGIC */
  const char *type_id;      /* "::M::I" */
  const char *default_path; /* "/M.I" */
  /* Every operation, the inherited ones included (each once), sorted by
   * name in strcmp order (binary search). */
  const irpc_slice_op_ref *ops;
  size_t nops;
  /* Direct bases, in declaration order (their operations are already in
   * ops). */
  const struct irpc_slice_iface *const *bases;
  size_t nbases;
  /* Added with Slice1 (older descriptors read as 0): the encoding of the
   * interface's definition. A Slice1 interface (IRPC_SLICE_ENCODING_1_1) is
   * also an `::Ice::Object`: its dispatcher answers ice_ping, ice_isA,
   * ice_id and ice_ids. */
  int encoding;
} irpc_slice_iface;

/* The operation named `name`, or NULL. */
IRPC_API const irpc_slice_op_ref *
irpc_slice_iface_find(const irpc_slice_iface *iface, const char *name);

/* ------------------------------------------------------------------------
 * User exceptions (Slice1)
 * ------------------------------------------------------------------------ */

/* Writes the members of one slice of an exception, its own members only
 * (`value` points to the whole exception, whose base is its first member,
 * so the same pointer serves every level): the slice header, the
 * members, the tagged ones (and their end marker) and the slice size, with
 * `last` set for the slice of the root exception. */
typedef int (*irpc_slice_exc_encode_fn)(irpc_slice_encoder *e,
                                        const void *value, bool last);
/* Reads the members of one slice whose header was read (its flags given),
 * up to its end; the runtime checks the slice size. */
typedef int (*irpc_slice_exc_decode_fn)(irpc_slice_in *in, void *value,
                                        uint8_t flags);

/* An exception type, emitted once per Slice1 `exception` as `M_E_desc`
 * (read in place; a descriptor with a smaller struct_size, or without its
 * type ID or functions, is refused with IRPC_EINVAL).
 * Its C struct (`M_E`) starts with its base's (`M_B base;`), so a pointer
 * to a derived exception is a pointer to each of its bases. */
typedef struct irpc_slice_exception_desc {
  size_t struct_size;  /* sizeof(irpc_slice_exception_desc) */
  const char *type_id; /* "::M::E" */
  const struct irpc_slice_exception_desc *base; /* or NULL */
  size_t size;                                  /* sizeof(M_E) */
  irpc_slice_exc_encode_fn encode_slice;
  irpc_slice_exc_decode_fn decode_slice;
} irpc_slice_exception_desc;

/* 1 when exception type `d` is `of` or derives from it, else 0. */
IRPC_API int irpc_slice_exception_is(const irpc_slice_exception_desc *d,
                                     const irpc_slice_exception_desc *of);

/* Encodes exception `value` of type `d` in the sliced format, as Ice 3.7
 * does: one slice per type from `d` to its root, each with its flags,
 * type ID and size (irpc_slice_encode_exception_slice_begin_flags).
 * Ice 1.1 encoder only.
 * Errors: IRPC_EINVAL (NULL argument, Slice2 encoder), an encoding
 * error. */
IRPC_API int irpc_slice_encode_exception(irpc_slice_encoder *e,
                                         const irpc_slice_exception_desc *d,
                                         const void *value);

/* Decodes a user exception into the arena of `in`: follows its slices from
 * the most derived type to the first one among `known` (n of them),
 * skipping the slices of unknown types when they carry a size, and decodes
 * the rest as that type. *type_id receives the most derived type ID as
 * sent (a view), even when no type is known; *d and *value the decoded
 * exception. The exception must fill the input.
 * Errors: IRPC_EINVAL (NULL argument, Slice2 decoder), IRPC_ENOTFOUND (no
 * known type among the slices: an unknown user exception; or an unknown
 * slice without a size, as the compact format writes them, which cannot
 * be skipped), IRPC_EDATA (slices that do not chain as the types do),
 * IRPC_ENOTSUP (an indirection table), the errors of the decoders. */
IRPC_API int irpc_slice_decode_exception(
    irpc_slice_in *in, const irpc_slice_exception_desc *const *known, size_t n,
    irpc_str *type_id, const irpc_slice_exception_desc **d, void **value);

/* ------------------------------------------------------------------------
 * Client side: typed calls
 * ------------------------------------------------------------------------ */

/* Optional settings of one call (NULL: none). Set them up with
 * irpc_slice_call_opts_init, or write `.struct_size =
 * sizeof(irpc_slice_call_opts)` in the initializer (irpc/version.h). */
typedef struct irpc_slice_call_opts {
  size_t struct_size; /* sizeof(irpc_slice_call_opts) */
  /* Receives the call, for irpc_call_cancel; valid until the callback
   * starts. */
  irpc_call **call_out;
  /* Runs once the request is built, before it is invoked, to add fields
   * or features (a deadline, a context). A nonzero return fails the call
   * (the callback does not run): a negative one with that error, a
   * positive one with IRPC_ECALLBACK. */
  int (*prepare)(irpc_outgoing_request *request, void *prepare_data);
  void *prepare_data;
  /* For an operation taking a stream (irpc_slice_op.param_stream): the
   * writer of its elements, attached to the request as its continuation
   * (irpc_outgoing_request_set_continuation; the caller keeps its
   * reference and writes through irpc_slice_stream_writer_new on it).
   * NULL: an empty stream. Ignored for other operations. The writer
   * reports its end (on_end) once in every case: when the call function
   * fails, with IRPC_ECANCELED. */
  irpc_stream_writer *stream;
} irpc_slice_call_opts;

IRPC_API void irpc_slice_call_opts_init_sized(irpc_slice_call_opts *o,
                                              size_t size);
/* Sets struct_size and no setting (every member NULL). NULL is a no-op. */
static inline void irpc_slice_call_opts_init(irpc_slice_call_opts *o) {
  irpc_slice_call_opts_init_sized(o, sizeof(*o));
}

/* The outcome of a typed call, handed to its callback. Owns the response
 * and the arena of the decoded values. */

/* The status the dispatch answered (Ok also after a local error). */
IRPC_API uint64_t irpc_slice_reply_status(const irpc_slice_reply *r);

/* What went wrong, as a sentence naming the operation and the cause: the
 * server's error message for IRPC_ESTATUS, the library error or the
 * decoding failure otherwise; "" after success. Lives as long as `r`. */
IRPC_API const char *irpc_slice_reply_message(const irpc_slice_reply *r);

/* The response (NULL when the call failed before one arrived). Owned by
 * the reply. */
IRPC_API irpc_incoming_response *
irpc_slice_reply_response(const irpc_slice_reply *r);

/* The user exception a Slice1 operation threw (the callback's err is then
 * IRPC_ESTATUS and the status ApplicationError): its value, decoded as the
 * most derived type the client knows (*desc, may be NULL), living as long
 * as the reply; NULL when the reply carries none (another status, or an
 * exception no known type matches: see _exception_id). Generated code
 * offers `M_E_from_reply(reply)` for each exception. */
IRPC_API const void *
irpc_slice_reply_exception(const irpc_slice_reply *r,
                           const irpc_slice_exception_desc **desc);

/* The type ID of the most derived slice of the user exception in the
 * reply, known or not ("::M::E"); "" when there is none. Lives as long as
 * `r`. */
IRPC_API const char *irpc_slice_reply_exception_id(const irpc_slice_reply *r);

/* Called from the callback: keeps the reply (and so the decoded values)
 * alive after the callback returns, until irpc_slice_reply_free. */
IRPC_API void irpc_slice_reply_keep(irpc_slice_reply *r);

/* Frees a kept reply. From the reply's own callback it undoes
 * irpc_slice_reply_keep (the reply is then freed when the callback
 * returns); on a reply that is not kept it does nothing. NULL is a
 * no-op. */
IRPC_API void irpc_slice_reply_free(irpc_slice_reply *r);

/* For an operation that returns a stream (irpc_slice_op.return_stream):
 * from the reply's callback (err 0), starts the typed consumer of the
 * elements that follow the return value, which the caller then owns
 * (irpc_slice_stream_reader_free). Elements that arrived already are
 * delivered on a later loop turn (never from within this call), the
 * others as they arrive. A stream not taken is stopped when the reply is
 * freed. Generated code has a typed form, M_I_op_return_take.
 * Errors: IRPC_EINVAL (NULL argument, a bad handler, an operation without
 * a stream), IRPC_ENOTFOUND (no stream: the call failed, or taken already),
 * IRPC_ENOMEM. */
IRPC_API int irpc_slice_reply_take_stream(irpc_slice_reply *r,
                                          const irpc_slice_stream_handler *h,
                                          void *user_data,
                                          irpc_slice_stream_reader **out);

/* Starts a call of `op` of `iface` on `proxy` (what every generated call
 * does): builds the request (the proxy's path or the default path, the
 * operation, the Idempotent field, one-way, the compress feature as the
 * definition says), encodes `args` with op->encode_args straight into the
 * payload, and invokes the proxy's invoker. When the call completes, the
 * result is mapped to `err` for the callback:
 *   0               Ok, and the return value decoded (`ret`, NULL for a
 *                   void or one-way operation);
 *   IRPC_ESTATUS    the dispatch answered another status (NotFound,
 *                   NotImplemented, InvalidData, ApplicationError...): see
 *                   irpc_slice_reply_status and _message;
 *   IRPC_EDATA, IRPC_ETRUNCATED, IRPC_EUTF8, IRPC_ELIMIT, IRPC_EENUM,
 *   IRPC_ETAG, IRPC_EOVERFLOW, IRPC_ENOMEM
 *                   the response payload could not be decoded;
 *   any other       the call failed (connection refused or closed, peer
 *                   gone, deadline, canceled...), as the invoker said.
 * `deliver` then runs the typed callback once, and the reply is freed when
 * it returns unless it called irpc_slice_reply_keep.
 * Returns 0 when the call started: the callback will run exactly once, and
 * never before this returns.
 * Errors (the callback will not run): IRPC_EINVAL (a NULL argument;
 * opts->struct_size 0, smaller than the first irpc_slice_call_opts or
 * larger with non-zero unknown members; an iface or op whose struct_size
 * this library does not read, or an iface without the magic),
 * IRPC_ENOINVOKER (the proxy has no invoker), IRPC_EPATH (a bad path),
 * what irpc_service_address_parse and
 * irpc_outgoing_request_set_service_address return for a proxy with an
 * absolute address,
 * IRPC_ENOMEM, an encoding error of the arguments (IRPC_EUTF8,
 * IRPC_EOVERFLOW...), what opts->prepare returned when negative,
 * IRPC_ECALLBACK when it returned a positive value. */
IRPC_API int irpc_slice_invoke(const irpc_slice_proxy *proxy,
                               const irpc_slice_iface *iface,
                               const irpc_slice_op *op, const void *args,
                               const irpc_slice_call_opts *opts,
                               void (*cb)(void), void *user_data);

/* ------------------------------------------------------------------------
 * Server side: typed dispatch
 * ------------------------------------------------------------------------ */

/* Creates the dispatcher that serves `iface` with the generated operations
 * table `ops` (borrowed; a struct of function pointers, NULL ones answer
 * NotImplemented) and `impl` (passed to each of them). For each request
 * it finds the operation (NotImplemented if unknown), rejects the
 * Idempotent field on a non-idempotent operation (InvalidData), asks for
 * the response to be compressed for [compress(Return)], decodes the
 * arguments into the dispatch's arena (InvalidData, with a message, when
 * they do not decode or bytes follow them) and calls the operation
 * function with an irpc_slice_dispatch handle. Free it with
 * irpc_dispatcher_free once no router uses it.
 * Errors: IRPC_EINVAL (NULL argument, iface without the magic, an iface or
 * one of its operations whose struct_size this library does not read),
 * IRPC_ENOMEM. */
IRPC_API int irpc_slice_dispatcher_new(irpc_dispatcher **out, uv_loop_t *loop,
                                       const irpc_slice_iface *iface,
                                       const void *ops, void *impl);

/* Creates that dispatcher and maps it on `r` at `path` (NULL: the
 * interface's default path): the BindService of generated code. *out
 * receives the dispatcher, which the caller frees after the router.
 * Errors: as irpc_slice_dispatcher_new and irpc_router_map. */
IRPC_API int irpc_slice_map(irpc_router *r, const char *path,
                            const irpc_slice_iface *iface, const void *ops,
                            void *impl, irpc_dispatcher **out);

/* Completes the dispatch with Ok and the return value `ret` encoded by the
 * operation's encode_return (NULL for a void operation): what every
 * generated `_reply` does. On an encoding failure or when memory runs out
 * the dispatch completes with InternalError instead, naming the cause, and
 * the error is returned. In every case the dispatch is complete and `sd`
 * gone when this returns, except after IRPC_EINVAL for a NULL sd.
 * Errors: IRPC_EINVAL, IRPC_ENOMEM, an encoding error. */
IRPC_API int irpc_slice_dispatch_reply(irpc_slice_dispatch *sd,
                                       const void *ret);

/* For an operation that returns a stream (irpc_slice_op.return_stream):
 * the writer whose bytes follow the return value, attached to the response
 * the reply sends (the response holds a reference; the caller keeps its
 * own, and writes the elements through irpc_slice_stream_writer_new on
 * it, before or after the reply). A reply without one sends an empty
 * stream. When the dispatch completes without sending it (it fails, or
 * its reply could not be built), the writer is aborted: its on_end comes
 * once, with IRPC_ECANCELED. The loop of the dispatch is irpc_dispatch_loop(
 * irpc_slice_dispatch_raw(sd)).
 * Errors: IRPC_EINVAL (NULL argument, an operation without a stream),
 * IRPC_EBUSY (a writer set already, or `w` attached elsewhere). */
IRPC_API int irpc_slice_dispatch_set_stream(irpc_slice_dispatch *sd,
                                            irpc_stream_writer *w);

/* For an operation taking a stream (irpc_slice_op.param_stream): starts
 * the typed consumer of the elements that follow the arguments, which the
 * caller then owns (irpc_slice_stream_reader_free); it may outlive the
 * dispatch. Elements that arrived already are delivered on a later loop
 * turn (never from within this call), the others as they arrive. A stream
 * not taken is stopped when the dispatch completes. Generated code has a
 * typed form, M_I_op_param_take.
 * Errors: IRPC_EINVAL (NULL argument, a bad handler, an operation without
 * a stream parameter), IRPC_ENOTFOUND (taken already), IRPC_ENOMEM. */
IRPC_API int irpc_slice_dispatch_take_stream(irpc_slice_dispatch *sd,
                                             const irpc_slice_stream_handler *h,
                                             void *user_data,
                                             irpc_slice_stream_reader **out);

/* An irpc_icerpc_options.stream_request for servers of generated code:
 * `user_data` is a NULL-terminated array of the interfaces served
 * (const irpc_slice_iface *const *); a request whose operation takes a
 * stream in one of them is read as a stream (the operation name is looked
 * up in every interface, whatever the path). Returns
 * IRPC_STREAM_REQUEST_STREAM for those, IRPC_STREAM_REQUEST_SEGMENT for the
 * other Slice2 operations (their arguments are one segment: a continuation
 * a client sends after it is not read, as IceRPC does), and
 * IRPC_STREAM_REQUEST_WHOLE for the rest. */
IRPC_API int irpc_slice_stream_request(void *user_data, const char *path,
                                       const char *operation);

/* Completes the dispatch with a status other than Ok and a message (NULL:
 * IceRPC's default message): the Slice2 way to fail an operation
 * (IceRPC's DispatchException). `sd` is gone after it returns 0 or
 * IRPC_ENOMEM; after IRPC_EINVAL or IRPC_EOVERFLOW nothing happened.
 * Errors: IRPC_EINVAL (NULL sd, status Ok), IRPC_EOVERFLOW (status above
 * IRPC_VARUINT62_MAX), IRPC_ENOMEM (the dispatch then completes with
 * InternalError without the message). */
IRPC_API int irpc_slice_dispatch_fail(irpc_slice_dispatch *sd, uint64_t status,
                                      const char *message);

/* Completes the dispatch of a Slice1 operation with user exception `value`
 * of type `d`: status ApplicationError, the message naming the type ID,
 * and the exception encoded as the payload (irpc_slice_encode_exception).
 * An exception that is not `d`-compatible with the operation's `throws`
 * clause (neither a listed exception nor one derived from it) is not sent:
 * the dispatch completes with InternalError naming it, as Ice answers an
 * undeclared exception with UnknownUserException, and IRPC_ENOTSUP is
 * returned. Generated code offers `M_E_throw(sd, const M_E *)`. `sd` is
 * gone after this returns, except after IRPC_EINVAL for a NULL argument.
 * Errors: IRPC_EINVAL, IRPC_ENOTSUP, IRPC_ENOMEM, an encoding error (the
 * dispatch then completes with InternalError). */
IRPC_API int irpc_slice_dispatch_throw(irpc_slice_dispatch *sd,
                                       const irpc_slice_exception_desc *d,
                                       const void *value);

/* The request being dispatched, its operation, the underlying dispatch,
 * the connection it arrived on (NULL for coloc), and the invoker that
 * calls that peer back (NULL when there is no way back). Valid until the
 * dispatch completes. */
IRPC_API irpc_incoming_request *
irpc_slice_dispatch_request(const irpc_slice_dispatch *sd);
IRPC_API const irpc_slice_op *
irpc_slice_dispatch_op(const irpc_slice_dispatch *sd);
IRPC_API irpc_dispatch *irpc_slice_dispatch_raw(const irpc_slice_dispatch *sd);
IRPC_API irpc_connection *
irpc_slice_dispatch_connection(const irpc_slice_dispatch *sd);
IRPC_API irpc_invoker *
irpc_slice_dispatch_invoker(const irpc_slice_dispatch *sd);

/* ------------------------------------------------------------------------
 * The operations of ::Ice::Object (Slice1 interfaces)
 * ------------------------------------------------------------------------ */

/* A sequence<string> (ice_ids). */
typedef struct irpc_slice_str_seq {
  size_t n;
  irpc_str *items;
} irpc_slice_str_seq;

typedef void (*irpc_slice_ice_ping_cb)(irpc_slice_reply *reply, int err,
                                       void *user_data);
typedef void (*irpc_slice_ice_isA_cb)(irpc_slice_reply *reply, int err,
                                      const bool *ret, void *user_data);
typedef void (*irpc_slice_ice_id_cb)(irpc_slice_reply *reply, int err,
                                     const irpc_str *ret, void *user_data);
typedef void (*irpc_slice_ice_ids_cb)(irpc_slice_reply *reply, int err,
                                      const irpc_slice_str_seq *ret,
                                      void *user_data);

/* Calls `ice_ping`, `ice_isA(type_id)`, `ice_id` or `ice_ids` (idempotent,
 * encoding 1.1) on the service of `proxy` (the default path of `iface`
 * when the proxy has none), as any typed call (irpc_slice_invoke): ice_isA
 * answers whether the service implements the interface `type_id`
 * ("::M::I"), ice_id its most derived interface and ice_ids every
 * interface it implements, sorted, `::Ice::Object` included. Generated
 * Slice1 proxies offer them as `M_I_ice_ping(proxy, opts, cb, ud)`...
 * Errors: as irpc_slice_invoke. */
IRPC_API int irpc_slice_ice_ping(const irpc_slice_proxy *proxy,
                                 const irpc_slice_iface *iface,
                                 const irpc_slice_call_opts *opts,
                                 irpc_slice_ice_ping_cb cb, void *user_data);
IRPC_API int irpc_slice_ice_isA(const irpc_slice_proxy *proxy,
                                const irpc_slice_iface *iface, irpc_str type_id,
                                const irpc_slice_call_opts *opts,
                                irpc_slice_ice_isA_cb cb, void *user_data);
IRPC_API int irpc_slice_ice_id(const irpc_slice_proxy *proxy,
                               const irpc_slice_iface *iface,
                               const irpc_slice_call_opts *opts,
                               irpc_slice_ice_id_cb cb, void *user_data);
IRPC_API int irpc_slice_ice_ids(const irpc_slice_proxy *proxy,
                                const irpc_slice_iface *iface,
                                const irpc_slice_call_opts *opts,
                                irpc_slice_ice_ids_cb cb, void *user_data);

#ifdef __cplusplus
}
#endif
#endif
