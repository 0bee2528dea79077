/* irpc: a simulated network link (bandwidth and latency) for tests and
 * benchmarks.
 *
 * The shaped transport is a decorator, like the fault transport of
 * irpc/transport.h: it wraps another transport (TCP, Unix domain sockets,
 * memory) and makes each of its connections behave like a link of a given
 * bandwidth and one-way latency, so that a loopback or in-memory connection
 * shows what a slower network would do to calls:
 *
 *   irpc_link link;
 *   irpc_link_parse(&link, "100mbit,1ms");
 *   irpc_transport *shaped;
 *   irpc_transport_shaped_new(&shaped, irpc_transport_tcp(), &link);
 *   connection_options.transport = shaped;   (client side only, see below)
 *
 * The model, for each direction on its own:
 *   - serialisation: the bytes of a direction leave through one sender at
 *     `bits_per_s`; n bytes take n * 8 / bits_per_s seconds and queue behind
 *     the bytes written before them (a byte never leaves before the one
 *     written ahead of it);
 *   - propagation: each byte reaches the far end `latency_ns` after it was
 *     serialised;
 * so n bytes written at time t on an idle link arrive at
 *     t + n * 8 / bits_per_s + latency_ns.
 * Bytes move in chunks of at most IRPC_LINK_CHUNK bytes, each arriving at
 * its own time, so a long write arrives progressively as on a real link. A
 * write completes (its callback runs) when its last byte has been
 * serialised, as a network card's send queue would: the duplex's write
 * queue plays the socket's send buffer. A FIN (irpc_duplex_shutdown), an
 * EOF or an error from the peer travel behind the bytes sent before them.
 * Connecting takes one round trip (2 * latency_ns) on top of the inner
 * transport's connect. Order and content are never changed: no loss, no
 * reordering, no jitter.
 *
 * Both directions are shaped at the end that is wrapped: what this end
 * writes (upstream) and what it reads (downstream). Use the shaped
 * transport on one side of a connection only (the client's connection
 * options, typically): shaping both ends doubles every delay.
 *
 * Bytes received faster than the link delivers them wait in the duplex, up
 * to max(4 MiB, twice the bandwidth-delay product); beyond that the shaped
 * duplex stops reading the inner one until the reader catches up, so the
 * peer's sends slow down as they would behind a real bottleneck.
 *
 * Time: with `clock` NULL the link runs on real time. On Linux the
 * deliveries are timed with a timerfd watched by the loop (microsecond
 * precision, which a gigabit link needs: 64 KiB take 0.5 ms); elsewhere
 * with a libuv timer (millisecond resolution: deliveries may be up to 1 ms
 * late, never early). With a clock (irpc/clock.h) the link reads that
 * clock and arms its timers, so a test driving a manual clock sees the
 * computed schedule exactly. Nothing ever busy-waits.
 *
 * Threading: a shaped transport may be shared by several loops only when
 * `clock` is NULL; each duplex belongs to its loop. */
#ifndef IRPC_LINK_H
#define IRPC_LINK_H

#include "irpc/clock.h"
#include "irpc/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most bytes moved, and timed, as one piece. */
#define IRPC_LINK_CHUNK 16384

typedef struct irpc_link {
  /* Bandwidth of each direction, in bits per second; 0 = unlimited. */
  uint64_t bits_per_s;
  /* One-way propagation delay, in nanoseconds. */
  uint64_t latency_ns;
  /* The clock to run on; NULL = real time. Borrowed by the functions that
   * take a link; the shaped transport and duplex keep a reference. */
  irpc_clock *clock;
} irpc_link;

/* Parses a link description into `out` (clock NULL): a bandwidth, a
 * latency, or both separated by a comma, in either order:
 *   "100mbit,1ms"  "1gbit"  "20ms"  "56kbit,150ms"  "2.5gbit,0.2ms"
 *   "unlimited"
 * Bandwidths: a number followed by bit, kbit, mbit, gbit or tbit (bits per
 * second, powers of 1000), or by Bps, kBps, MBps, GBps (bytes per second).
 * Latencies: a number followed by ns, us, ms or s. Units are
 * case-insensitive except the B of the byte units. A bandwidth of 0 or
 * "unlimited" means no limit.
 * Errors: IRPC_EINVAL (NULL argument, an unknown unit, a missing number,
 * a negative or duplicated value), IRPC_ERANGE (a value too large). */
IRPC_API int irpc_link_parse(irpc_link *out, const char *spec);

/* Writes the link's description ("100mbit,1ms", "unlimited,0ms") to
 * buf[len], NUL-terminated; irpc_link_parse reads it back.
 * Errors: IRPC_EINVAL (NULL argument), UV_ENOBUFS (len too small). */
IRPC_API int irpc_link_format(const irpc_link *l, char *buf, size_t len);

/* The time the link takes to carry `bytes` written at once on an idle
 * link, up to the arrival of the last byte: serialisation plus latency, in
 * nanoseconds (rounded up). */
IRPC_API uint64_t irpc_link_transfer_ns(const irpc_link *l, uint64_t bytes);

/* Creates a shaped transport over `inner` (borrowed: it must outlive the
 * shaped transport); `link` is copied. Its connections (connected and
 * accepted) are shaped duplexes. Free it with irpc_transport_free once no
 * duplex or listener of it is left.
 * Errors: IRPC_EINVAL (NULL out, inner or link), IRPC_ENOMEM. */
IRPC_API int irpc_transport_shaped_new(irpc_transport **out,
                                       irpc_transport *inner,
                                       const irpc_link *link);

/* Wraps the connected duplex `inner` in a shaped duplex, which takes it
 * over (closing the wrapper closes `inner`; do not use `inner` directly
 * any more, nor start reading on it before wrapping). With a `clock`, the
 * clock must belong to the duplex's loop.
 * Errors: IRPC_EINVAL (NULL argument, inner not connected or closing, a
 * clock of another loop), IRPC_ENOMEM, or the system's error creating the
 * timer. */
IRPC_API int irpc_duplex_shaped_wrap(irpc_duplex **out, irpc_duplex *inner,
                                     const irpc_link *link);

/* Byte counts of a shaped duplex, or of every duplex a shaped transport
 * has made (closed ones included). */
typedef struct irpc_link_stats {
  uint64_t bytes_up;    /* written by this end */
  uint64_t bytes_down;  /* received from the peer */
  uint64_t connections; /* duplexes made (a transport's only) */
} irpc_link_stats;

/* Fills `out`.
 * Errors: IRPC_EINVAL (NULL argument, or not a shaped transport/duplex). */
IRPC_API int irpc_transport_shaped_stats(const irpc_transport *t,
                                         irpc_link_stats *out);
IRPC_API int irpc_duplex_shaped_stats(const irpc_duplex *d,
                                      irpc_link_stats *out);

#ifdef __cplusplus
}
#endif
#endif
