/* IceRPC's defaults, the one table irpc_connection_options_init,
 * irpc_icerpc_options_init and irpc__slic_params_default read; and the
 * nanosecond/millisecond conversion. Never installed. */
#ifndef IRPC_DEFAULTS_H
#define IRPC_DEFAULTS_H

#include <stdint.h>

/* Connection options (IceRPC's ConnectionOptions): the header size and
 * stream counts are irpc_icerpc_options', the rest
 * irpc_connection_options'. */
#define IRPC__DEFAULT_MAX_HEADER_SIZE 16383u
#define IRPC__DEFAULT_MAX_BIDI_STREAMS 100
#define IRPC__DEFAULT_MAX_UNI_STREAMS 100
#define IRPC__DEFAULT_MAX_DISPATCHES 100
#define IRPC__DEFAULT_MAX_PAYLOAD_SIZE (UINT64_C(256) << 20)
#define IRPC__DEFAULT_INACTIVITY_TIMEOUT_MS 300000
#define IRPC__DEFAULT_CONNECT_TIMEOUT_MS 10000
#define IRPC__DEFAULT_SHUTDOWN_TIMEOUT_MS 10000

/* Slic (IceRPC's SlicTransportOptions), in irpc_icerpc_options. */
#define IRPC__DEFAULT_IDLE_TIMEOUT_MS 30000
#define IRPC__DEFAULT_STREAM_WINDOW 65536
#define IRPC__DEFAULT_STREAM_FRAME_SIZE 32768
/* What an irpc connection announces (irpc_icerpc_options_init): a larger
 * window and frame than IceRPC's (above, the Slic engine's own defaults),
 * see docs/internals/STREAMING.md. */
#define IRPC__DEFAULT_ICERPC_STREAM_WINDOW (1u << 20)
#define IRPC__DEFAULT_ICERPC_STREAM_FRAME_SIZE (256u << 10)
#define IRPC__DEFAULT_SLIC_PENDING_OUTPUT 65536
#define IRPC__DEFAULT_SLIC_OUTSTANDING_PONGS 100

/* Nanoseconds in a millisecond: an int, so it takes the type of the other
 * operand (signed, unsigned or double). */
#define IRPC__NS_PER_MS 1000000

/* Nanoseconds in a second. */
#define IRPC__NS_PER_S 1000000000

/* `ns` in milliseconds, rounded up: a timer never fires early. */
static inline uint64_t irpc__ns_to_ms_up(uint64_t ns) {
  return ns / IRPC__NS_PER_MS + (ns % IRPC__NS_PER_MS != 0);
}

#endif
