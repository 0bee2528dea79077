/* irpc: request context (interceptor and middleware), as IceRPC's
 * RequestContext.
 *
 * A context is a small string-to-string map the application attaches to a
 * request (the request context feature); the interceptor sends it in the
 * request field IRPC_REQUEST_FIELD_CONTEXT (0), encoded as a Slice
 * Dictionary<string, string>: a varuint62 count, then each key and value
 * as a Slice string (varuint62 byte length, UTF-8 bytes). An empty context
 * removes the field. The middleware decodes the field and, when the
 * dictionary is not empty, sets the feature on the incoming request; a
 * field that does not decode is answered InvalidData. */
#ifndef IRPC_REQUEST_CONTEXT_H
#define IRPC_REQUEST_CONTEXT_H

#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct irpc_context irpc_context;

/* Errors: IRPC_EINVAL (out NULL), IRPC_ENOMEM. */
IRPC_API int irpc_context_new(irpc_context **out);
/* NULL is a no-op. */
IRPC_API void irpc_context_free(irpc_context *c);

/* Sets `key` to `value` (both copied, NUL-terminated UTF-8), replacing an
 * earlier value; keys are unique, kept in insertion order.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOMEM. */
IRPC_API int irpc_context_set(irpc_context *c, const char *key,
                              const char *value);
/* The value of `key`, or NULL. */
IRPC_API const char *irpc_context_get(const irpc_context *c, const char *key);
/* Errors: IRPC_EINVAL, IRPC_ENOTFOUND. */
IRPC_API int irpc_context_remove(irpc_context *c, const char *key);
IRPC_API size_t irpc_context_count(const irpc_context *c);
/* Entry i. Errors: IRPC_EINVAL, IRPC_ERANGE. */
IRPC_API int irpc_context_at(const irpc_context *c, size_t i, const char **key,
                             const char **value);

/* Encodes as the field value (appended to `out`; unchanged on error).
 * Errors: IRPC_EINVAL, IRPC_EUTF8 (a key or value that is not UTF-8),
 * IRPC_ENOMEM. */
IRPC_API int irpc_context_encode(const irpc_context *c, irpc_buf *out);
/* Decodes a field value into a new context.
 * Errors: IRPC_EINVAL, IRPC_EDATA (malformed, trailing bytes, a string
 * with a NUL byte), IRPC_EUTF8 (a string that is not UTF-8), IRPC_ENOMEM. */
IRPC_API int irpc_context_decode(irpc_bytes value, irpc_context **out);

/* The request context feature; its value is an irpc_context * owned by the
 * collection (freed with the request, or when replaced). */
IRPC_API extern const irpc_feature_key irpc_request_context_feature;

/* Errors: IRPC_EINVAL, IRPC_ENOMEM. */
IRPC_API int irpc_request_context_interceptor_new(irpc_invoker **out,
                                                  uv_loop_t *loop);
IRPC_API int irpc_request_context_middleware_new(irpc_dispatcher **out,
                                                 uv_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif
