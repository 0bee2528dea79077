/* irpc: deadlines (interceptor and middleware), as IceRPC's Deadline.
 *
 * Wire: the request field IRPC_REQUEST_FIELD_DEADLINE (3) holds the
 * absolute deadline in UTC as an int64, little-endian, in .NET ticks (100 ns
 * units since 0001-01-01T00:00:00 UTC): IceRPC's TimeStamp encoding.
 *
 * Interceptor: the deadline of a call is the request's deadline feature
 * (irpc_features_set_deadline) or, without one, now + default_timeout_ms.
 * It is written into the field, and a timer cancels the call with
 * IRPC_EDEADLINE when it expires. A deadline already past completes the
 * call at once with IRPC_EDEADLINE, without sending; one more than
 * IRPC_DEADLINE_MAX_TIMEOUT_MS away fails with IRPC_ENOTSUP. With neither
 * a feature nor a default timeout the request goes on unchanged.
 *
 * Middleware: a request with the field gets its deadline as the deadline
 * feature (borrowed by the dispatch; copy it to the features of the
 * requests the dispatch sends to propagate it). An expired request is
 * answered DeadlineExceeded ("The request deadline has expired.") without
 * running the dispatcher; one too far away NotSupported; otherwise the
 * dispatch is canceled with IRPC_EDEADLINE when time runs out and its
 * response replaced by DeadlineExceeded. A field that is not 8 bytes is
 * answered InvalidData.
 *
 * Time comes from an irpc_clock (irpc/clock.h): the system clock by
 * default, a manual clock in tests. */
#ifndef IRPC_DEADLINE_H
#define IRPC_DEADLINE_H

#include "irpc/clock.h"
#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest timeout IceRPC enforces: int.MaxValue milliseconds. */
#define IRPC_DEADLINE_MAX_TIMEOUT_MS UINT64_C(2147483647)

/* The deadline feature: an absolute deadline, in nanoseconds since the Unix
 * epoch (UTC). */
IRPC_API extern const irpc_feature_key irpc_deadline_feature;

/* Sets the deadline feature (the value is stored by the collection).
 * Errors: IRPC_EINVAL (f NULL), IRPC_ENOMEM. */
IRPC_API int irpc_features_set_deadline(irpc_features *f,
                                        int64_t deadline_unix_ns);

/* Reads the deadline feature into *deadline_unix_ns.
 * Errors: IRPC_EINVAL (NULL argument), IRPC_ENOTFOUND. */
IRPC_API int irpc_features_deadline(const irpc_features *f,
                                    int64_t *deadline_unix_ns);

/* Encodes a deadline as the field value (8 bytes, int64 LE .NET ticks), and
 * decodes one.
 * irpc_deadline_decode errors: IRPC_EINVAL (NULL), IRPC_EDATA (not 8
 * bytes). */
IRPC_API void irpc_deadline_encode(int64_t deadline_unix_ns, uint8_t out[8]);
IRPC_API int irpc_deadline_decode(irpc_bytes value, int64_t *deadline_unix_ns);

typedef struct irpc_deadline_options {
  size_t struct_size; /* set by irpc_deadline_options_init */
  /* Interceptor: the timeout of requests without a deadline feature; 0 =
   * none (the interceptor only propagates and enforces existing
   * deadlines). At most IRPC_DEADLINE_MAX_TIMEOUT_MS. Default 0. */
  uint64_t default_timeout_ms;
  /* Interceptor: arm the timer for deadlines that come from the feature
   * too (IceRPC's alwaysEnforceDeadline). Default 1. */
  int enforce_feature_deadlines;
  /* Both: the clock (a reference is kept); NULL = the system clock. */
  irpc_clock *clock;
} irpc_deadline_options;

/* Sets `o` to the defaults (above) and o->struct_size. Call
 * irpc_deadline_options_init, which passes this header's sizeof
 * (irpc/version.h). */
IRPC_API void irpc_deadline_options_init_sized(irpc_deadline_options *o,
                                               size_t size);
static inline void irpc_deadline_options_init(irpc_deadline_options *o) {
  irpc_deadline_options_init_sized(o, sizeof(*o));
}

/* Errors: IRPC_EINVAL (out or loop NULL, o->struct_size 0, smaller than the
 * first irpc_deadline_options or larger with non-zero unknown members,
 * default_timeout_ms too large, a clock of another loop), IRPC_ENOMEM.
 * o NULL = defaults. */
IRPC_API int irpc_deadline_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                           const irpc_deadline_options *o);
IRPC_API int irpc_deadline_middleware_new(irpc_dispatcher **out,
                                          uv_loop_t *loop,
                                          const irpc_deadline_options *o);

#ifdef __cplusplus
}
#endif
#endif
