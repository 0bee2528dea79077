/* irpc: the retry interceptor, IceRPC's Retry plus backoff, a retry budget
 * and deadlines.
 *
 * What is retried (IceRPC's rules):
 *   - a response with status Unavailable, on another server: the request's
 *     irpc_server_addresses_feature (set by the connection cache) is asked
 *     to drop the address that answered, and the call is retried only when
 *     another address is left; without the feature it is not retried;
 *   - the errors that say the request was never sent or never taken:
 *     IRPC_EINVCANCELED (the peer's GoAway did not accept it) and
 *     IRPC_EREFUSED (a shutting-down connection refused it before sending;
 *     the client connection and the connection cache already send such a
 *     request again on a new connection, so it reaches the retry
 *     interceptor only after they gave up);
 *   - the errors that mean the connection died after the request may have
 *     been sent (UV_ECONNABORTED, UV_ECONNRESET, UV_EPIPE,
 *     IRPC_ECLOSEDBYPEER, IRPC_ETRUNCATED) only when the request carries
 *     the idempotent field (irpc_outgoing_request_set_idempotent);
 *   - nothing else: not connection-establishment failures
 *     (UV_ECONNREFUSED, IRPC_ETIMEDOUT, IRPC_ESERVERBUSY, ...), which the
 *     connection cache handles by trying the other server addresses of the
 *     target (irpc/connection_cache.h), not IRPC_EIDLE, not protocol or
 *     local errors. After IRPC_ENOCONN (the connection cache has no server
 *     address left) the last non-Ok response, if any, is returned instead
 *     of the error (IceRPC's rule).
 *
 * Limits:
 *   - max_attempts counts attempts (default 2, IceRPC's);
 *   - a request whose payload is larger than max_payload_size (1 MiB) is
 *     not retried (the payload is shared, never copied, but IceRPC's limit
 *     is kept for the memory a retry pins);
 *   - a one-way request is retried on the same rules;
 *   - a request with a continuation (irpc/stream.h) is retried only while
 *     no byte of it reached a connection (irpc_stream_writer_replayable):
 *     a continuation is written once and cannot be sent again.
 *
 * Beyond IceRPC:
 *   - exponential backoff: the n-th retry waits up to
 *     min(initial_backoff_ms * multiplier^(n-1), max_backoff_ms), reduced
 *     by a random fraction up to `jitter` (1.0 = "full jitter");
 *   - a retry budget per interceptor (gRPC's retry throttling): a token
 *     bucket of budget_max_tokens tokens; every failed attempt that the
 *     rules above would retry after the server may have run it (a lost
 *     connection under an idempotent request, Unavailable) costs one token,
 *     every success gives budget_token_ratio back; while the bucket holds
 *     half or less, such failures are not retried, so during an outage
 *     retries cannot multiply the load. The budget is shared by all the
 *     calls through the interceptor: with the defaults (10 tokens), at most
 *     4 calls of a burst of such failures are retried (refused retries cost
 *     a token too). Give budget_max_tokens more than twice the calls you
 *     keep in flight, or 0 to turn the budget off. Requests the server
 *     never dispatched (IRPC_EINVCANCELED: refused by its GoAway;
 *     IRPC_EREFUSED: never sent) cost nothing and are always retried, up
 *     to max_attempts, as gRPC's transparent retries are;
 *   - never past the deadline: a retry whose backoff would end at or after
 *     the request's deadline (its deadline field or deadline feature) is not
 *     made;
 *   - canceling a call waiting for its backoff completes it at once with the
 *     cancel error.
 * Time and randomness: an irpc_clock (default: the system clock) and a
 * seedable generator, for deterministic tests. */
#ifndef IRPC_RETRY_H
#define IRPC_RETRY_H

#include "irpc/clock.h"
#include "irpc/frames.h"
#include "irpc/invoker.h"
#include "irpc/server_addresses.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The server addresses of a request (irpc_server_addresses_feature, set by
 * the connection cache) are declared in irpc/server_addresses.h, included
 * here. */

/* irpc_outgoing_request_set_idempotent, which marks the requests the
 * connection-lost rule above applies to, is declared with the other request
 * setters in irpc/frames.h (included here). */

typedef struct irpc_retry_options {
  size_t struct_size;          /* set by irpc_retry_options_init */
  unsigned max_attempts;       /* >= 1; default 2 */
  size_t max_payload_size;     /* >= 1; default 1 MiB */
  uint64_t initial_backoff_ms; /* default 10; 0 = retry at once */
  uint64_t max_backoff_ms;     /* default 1000 */
  double multiplier;           /* >= 1; default 2 */
  double jitter;               /* 0..1; default 1 */
  /* Retry budget: default 10 tokens, 0.1 per success; 0 tokens = none. */
  double budget_max_tokens;
  double budget_token_ratio;
  irpc_clock *clock; /* NULL = the system clock */
  uint64_t seed;     /* jitter seed; 0 = from the time */
} irpc_retry_options;

/* Sets `o` to the defaults (above) and o->struct_size. Call
 * irpc_retry_options_init, which passes this header's sizeof (irpc/version.h).
 */
IRPC_API void irpc_retry_options_init_sized(irpc_retry_options *o, size_t size);
static inline void irpc_retry_options_init(irpc_retry_options *o) {
  irpc_retry_options_init_sized(o, sizeof(*o));
}

/* Errors: IRPC_EINVAL (out or loop NULL, o->struct_size 0, smaller than the
 * first irpc_retry_options or larger with non-zero unknown members, an
 * option out of range, a clock of another loop), IRPC_ENOMEM. o NULL =
 * defaults. */
IRPC_API int irpc_retry_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                        const irpc_retry_options *o);

/* Counters of a retry interceptor: calls, attempts made (first ones
 * included), retries refused by the budget, and the tokens left. */
typedef struct irpc_retry_stats {
  uint64_t calls;
  uint64_t attempts;
  uint64_t budget_refusals;
  double tokens;
} irpc_retry_stats;

/* Errors: IRPC_EINVAL (NULL, or not a retry interceptor). */
IRPC_API int irpc_retry_stats_get(irpc_invoker *retry, irpc_retry_stats *out);

#ifdef __cplusplus
}
#endif
#endif
