/* irpc: call logging (interceptor and middleware), as IceRPC's Logger.
 *
 * One record per call (interceptor) or dispatch (middleware), when it
 * completes, with the path, operation, status or error, duration, and the
 * local and remote address of the connection (irpc/connection_info.h;
 * "coloc" through the coloc invoker, "" when unknown). The records go to a
 * sink the application installs; without a sink the interceptor and
 * middleware do nothing at all (they pass calls on without reading the
 * clock).
 *
 * Events and levels (IceRPC's event names):
 *   Invoke / Dispatch                 status Ok           INFO
 *   InvokeError / DispatchError       any other status    WARNING
 *   InvokeException                   a library error     ERROR
 *   DispatchException                 canceled by caller  ERROR
 * A dispatch its caller gave up on (cancel, deadline, the connection
 * closing) is recorded with `err` set to the cancel error: the response it
 * was answered with goes nowhere and is not shown.
 * Records below min_level are not formatted nor passed to the sink.
 *
 * The line passed to the sink reads, for example:
 *   Invoke path=/hello operation=greet status=Ok duration=0.042ms
 *   local=coloc remote=coloc
 * (one line, no newline). */
#ifndef IRPC_LOGGER_H
#define IRPC_LOGGER_H

#include <stdio.h>

#include "irpc/clock.h"
#include "irpc/dispatcher.h"
#include "irpc/invoker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum irpc_log_level {
  IRPC_LOG_DEBUG = 0,
  IRPC_LOG_INFO = 1,
  IRPC_LOG_WARNING = 2,
  IRPC_LOG_ERROR = 3,
  IRPC_LOG_OFF = 4
} irpc_log_level;

enum { IRPC_LOG_INVOKE = 1, IRPC_LOG_DISPATCH = 2 };

typedef struct irpc_log_record {
  int side;          /* IRPC_LOG_INVOKE or IRPC_LOG_DISPATCH */
  const char *event; /* "Invoke", "InvokeError", ... */
  const char *path;
  const char *operation;
  int err;                   /* 0, or the call's library error */
  uint64_t status;           /* when err is 0 */
  const char *error_message; /* the response's message, or NULL */
  uint64_t duration_ns;
  const char *local_address;
  const char *remote_address;
} irpc_log_record;

/* Receives a record and its formatted line; both are valid during the call
 * only. Runs on the loop thread; must not block. */
typedef void (*irpc_log_sink)(irpc_log_level level, const irpc_log_record *rec,
                              const char *line, void *user_data);

typedef struct irpc_logger_options {
  size_t struct_size; /* set by irpc_logger_options_init */
  irpc_log_sink sink; /* NULL: silent */
  void *user_data;
  irpc_log_level min_level; /* default IRPC_LOG_INFO */
  irpc_clock *clock;        /* NULL = the system clock */
} irpc_logger_options;

/* Sets `o` to the defaults (above) and o->struct_size. Call
 * irpc_logger_options_init, which passes this header's sizeof (irpc/version.h).
 */
IRPC_API void irpc_logger_options_init_sized(irpc_logger_options *o,
                                             size_t size);
static inline void irpc_logger_options_init(irpc_logger_options *o) {
  irpc_logger_options_init_sized(o, sizeof(*o));
}

/* Errors: IRPC_EINVAL (out or loop NULL, o->struct_size 0, smaller than the
 * first irpc_logger_options or larger with non-zero unknown members, a
 * level out of range, a clock of another loop), IRPC_ENOMEM. o NULL =
 * defaults (silent). */
IRPC_API int irpc_logger_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                         const irpc_logger_options *o);
IRPC_API int irpc_logger_middleware_new(irpc_dispatcher **out, uv_loop_t *loop,
                                        const irpc_logger_options *o);

/* Formats `rec` as the sink's line into `buf` (always NUL-terminated);
 * returns the length it would have had (as snprintf). */
IRPC_API size_t irpc_log_format(const irpc_log_record *rec, char *buf,
                                size_t size);

/* "DEBUG", "INFO", "WARNING", "ERROR", "OFF"; "?" for any other value. */
IRPC_API const char *irpc_log_level_name(irpc_log_level level);

/* ---- A ready-made sink: lines to a FILE * ----
 *
 * irpc_log_file_sink writes each record as one line to the FILE * given as
 * its user_data, prefixed with the level and ended with a newline:
 *   INFO Invoke path=/hello operation=greet status=Ok duration=0.042ms
 *   local=127.0.0.1:50312 remote=127.0.0.1:4062
 * (one line). The line goes out in one fwrite and the stream is flushed, so
 * lines of several loggers sharing stderr do not interleave and nothing is
 * lost when the program exits abruptly. A write error is ignored (the
 * stream's error indicator stays set: check it with ferror). The stream
 * must stay open while a logger uses it; it is not closed by the logger.
 * Writing to a file or a pipe blocks the loop for as long as the write
 * takes: fine for a terminal or a local file, not for a slow pipe. */
IRPC_API void irpc_log_file_sink(irpc_log_level level,
                                 const irpc_log_record *rec, const char *line,
                                 void *user_data);

/* Sets up `o` to log records at `min_level` and above to `f` through
 * irpc_log_file_sink (sink, user_data and min_level; the clock is left as
 * it is). Usable for the interceptor and the middleware alike:
 *
 *   irpc_logger_options o;
 *   irpc_logger_options_init(&o);
 *   irpc_logger_options_use_file(&o, stderr, IRPC_LOG_INFO);
 *   irpc_logger_interceptor_new(&ic, loop, &o);
 *   irpc_logger_middleware_new(&mw, loop, &o);
 *
 * Errors: IRPC_EINVAL (o or f NULL, min_level out of range; `o` is then
 * unchanged). */
IRPC_API int irpc_logger_options_use_file(irpc_logger_options *o, FILE *f,
                                          irpc_log_level min_level);

#ifdef __cplusplus
}
#endif
#endif
