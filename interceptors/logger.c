/* The logger interceptor and the shared line format. The middleware is in
 * middleware/logger.c. */
#include <stdio.h>
#include <string.h>

#include "ic_internal.h"
#include "irpc/connection_info.h"
#include "irpc/error.h"
#include "irpc/logger.h"
#include "irpc/status.h"
#include "base/struct_size.h"

void irpc_logger_options_init_sized(irpc_logger_options *o, size_t size) {
  irpc_logger_options d;
  memset(&d, 0, sizeof(d));
  d.min_level = IRPC_LOG_INFO;
  irpc__struct_export(o, size, &d, sizeof(d));
}

size_t irpc_log_format(const irpc_log_record *r, char *buf, size_t size) {
  char outcome[160];
  if (r->err)
    snprintf(outcome, sizeof(outcome), "error=%s", irpc_err_name(r->err));
  else
    snprintf(outcome, sizeof(outcome), "status=%s",
             irpc_status_name(r->status));
  int n = snprintf(
      buf, size,
      "%s path=%s operation=%s %s%s%s%s duration=%.3fms local=%s "
      "remote=%s",
      r->event, r->path ? r->path : "", r->operation ? r->operation : "",
      outcome, r->error_message ? " message=\"" : "",
      r->error_message ? r->error_message : "", r->error_message ? "\"" : "",
      (double)r->duration_ns / IRPC__NS_PER_MS,
      r->local_address ? r->local_address : "",
      r->remote_address ? r->remote_address : "");
  return n < 0 ? 0 : (size_t)n;
}

const char *irpc_log_level_name(irpc_log_level level) {
  switch (level) {
  case IRPC_LOG_DEBUG:
    return "DEBUG";
  case IRPC_LOG_INFO:
    return "INFO";
  case IRPC_LOG_WARNING:
    return "WARNING";
  case IRPC_LOG_ERROR:
    return "ERROR";
  case IRPC_LOG_OFF:
    return "OFF";
  }
  return "?";
}

void irpc_log_file_sink(irpc_log_level level, const irpc_log_record *rec,
                        const char *line, void *user_data) {
  FILE *f = user_data;
  (void)rec;
  if (!f || !line)
    return;
  /* One buffer, one fwrite: the line is not split between writers. */
  char buf[640];
  int n =
      snprintf(buf, sizeof(buf), "%s %s\n", irpc_log_level_name(level), line);
  if (n < 0)
    return;
  if ((size_t)n >= sizeof(buf)) {
    n = (int)sizeof(buf) - 1;
    buf[n - 1] = '\n'; /* a truncated line still ends the line */
  }
  fwrite(buf, 1, (size_t)n, f);
  fflush(f);
}

int irpc_logger_options_use_file(irpc_logger_options *o, FILE *f,
                                 irpc_log_level min_level) {
  if (!o || !f || min_level < IRPC_LOG_DEBUG || min_level > IRPC_LOG_OFF)
    return IRPC_EINVAL;
  o->sink = irpc_log_file_sink;
  o->user_data = f;
  o->min_level = min_level;
  return 0;
}

void irpc__log_emit(const irpc_logger_options *o, irpc_log_record *r) {
  irpc_log_level level;
  int inv = r->side == IRPC_LOG_INVOKE;
  if (r->err) {
    level = IRPC_LOG_ERROR;
    r->event = inv ? "InvokeException" : "DispatchException";
  } else if (r->status != IRPC_STATUS_OK) {
    level = IRPC_LOG_WARNING;
    r->event = inv ? "InvokeError" : "DispatchError";
  } else {
    level = IRPC_LOG_INFO;
    r->event = inv ? "Invoke" : "Dispatch";
  }
  if (level < o->min_level)
    return;
  char line[512];
  irpc_log_format(r, line, sizeof(line));
  o->sink(level, r, line, o->user_data);
}

int irpc__logger_init(irpc_logger_options *dst, irpc_clock **clock,
                      const irpc_logger_options *o, uv_loop_t *loop) {
  if (o)
    *dst = *o;
  else
    irpc_logger_options_init(dst);
  if (dst->min_level < IRPC_LOG_DEBUG || dst->min_level > IRPC_LOG_OFF)
    return IRPC_EINVAL;
  if (!dst->sink || dst->min_level == IRPC_LOG_OFF)
    return 0; /* silent: no clock needed */
  return irpc_clock_take(clock, dst->clock, loop);
}

typedef struct lic {
  irpc_logger_options o;
  irpc_clock *clock; /* NULL when silent */
} lic;

typedef struct lic_state {
  uint64_t start;
} lic_state;

static int lic_init(irpc_invoker *self, const void *config) {
  lic *l = irpc_invoker_data(self);
  return irpc__logger_init(&l->o, &l->clock, config, irpc_invoker_loop(self));
}

static void lic_destroy(irpc_invoker *self) {
  lic *l = irpc_invoker_data(self);
  irpc_clock_unref(l->clock);
}

static void lic_invoke(irpc_invoker *self, irpc_call *call) {
  lic *l = irpc_invoker_data(self);
  if (l->clock) {
    lic_state *s = irpc_call_state(call);
    s->start = irpc_clock_mono_ns(l->clock);
  }
  irpc_call_next(call);
}

static int lic_on_complete(irpc_invoker *self, irpc_call *call) {
  lic *l = irpc_invoker_data(self);
  if (!l->clock)
    return 0;
  lic_state *s = irpc_call_state(call);
  irpc_outgoing_request *req = irpc_call_request(call);
  int err;
  irpc_incoming_response *resp;
  irpc_call_result(call, &err, &resp);
  const irpc_connection_info *ci = irpc_outgoing_request_connection_info(req);
  irpc_log_record r = {
      .side = IRPC_LOG_INVOKE,
      .path = irpc_outgoing_request_path(req),
      .operation = irpc_outgoing_request_operation(req),
      .err = resp ? 0 : (err ? err : IRPC_ECANCELED),
      .status = resp ? irpc_incoming_response_status(resp) : 0,
      .error_message = resp ? irpc_incoming_response_error_message(resp) : NULL,
      .duration_ns = irpc_clock_mono_ns(l->clock) - s->start,
      .local_address = ci ? ci->local_address : "",
      .remote_address = ci ? ci->remote_address : "",
  };
  irpc__log_emit(&l->o, &r);
  return 0;
}

static const irpc_invoker_ops lic_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "logger",
    .data_size = sizeof(lic),
    .call_state_size = sizeof(lic_state),
    .init = lic_init,
    .invoke = lic_invoke,
    .on_complete = lic_on_complete,
    .destroy = lic_destroy,
};

int irpc_logger_interceptor_new(irpc_invoker **out, uv_loop_t *loop,
                                const irpc_logger_options *o) {
  irpc_logger_options c;
  if (o && IRPC__IMPORT(&c, o, irpc_logger_options) < 0)
    return IRPC_EINVAL;
  return irpc_invoker_new(out, loop, &lic_ops, o ? &c : NULL);
}
