/* The fault decorator: a transport and a duplex that forward to an inner
 * one through the public interface and break operations on demand. */
#include <string.h>

#include "base/buf_internal.h"
#include "irpc/alloc.h"
#include "irpc/tls.h"
#include "irpc/error.h"
#include "transport/transport_internal.h"

enum { K_TRANSPORT = 1, K_DUPLEX, K_LISTENER };

typedef struct rule {
  irpc_fault_action action;
  int arg;
  uint64_t from; /* applies to operations from+1 .. to */
  uint64_t to;
} rule;

struct irpc_fault {
  int kind;
  void *owner; /* the fault duplex or listener data */
  rule rules[IRPC_FAULT_OP_COUNT];
  uint64_t seen[IRPC_FAULT_OP_COUNT];
  irpc_fault *parent; /* the transport's fault */
  irpc_fault *members, *mnext, *mprev;
};

static void fault_init(irpc_fault *f, int kind, void *owner,
                       irpc_fault *parent) {
  memset(f, 0, sizeof(*f));
  f->kind = kind;
  f->owner = owner;
  f->parent = parent;
  if (parent) {
    f->mnext = parent->members;
    if (parent->members)
      parent->members->mprev = f;
    parent->members = f;
  }
}

static void fault_fini(irpc_fault *f) {
  irpc_fault *p = f->parent;
  if (!p)
    return;
  if (f->mprev)
    f->mprev->mnext = f->mnext;
  else
    p->members = f->mnext;
  if (f->mnext)
    f->mnext->mprev = f->mprev;
  f->parent = NULL;
}

/* Counts one operation and returns the action that applies to it. */
static irpc_fault_action fault_hit(irpc_fault *f, irpc_fault_op op, int *arg) {
  f->seen[op]++;
  if (f->parent)
    f->parent->seen[op]++;
  irpc_fault *src = f;
  if (f->rules[op].action == IRPC_FAULT_NONE)
    src = f->parent;
  if (!src || src->rules[op].action == IRPC_FAULT_NONE)
    return IRPC_FAULT_NONE;
  const rule *r = &src->rules[op];
  uint64_t n = src->seen[op];
  if (n <= r->from || n > r->to)
    return IRPC_FAULT_NONE;
  *arg = r->arg;
  return r->action;
}

static int supported(irpc_fault_op op, irpc_fault_action a) {
  switch (op) {
  case IRPC_FAULT_CONNECT:
    return a == IRPC_FAULT_FAIL || a == IRPC_FAULT_HOLD;
  case IRPC_FAULT_LISTEN:
    return a == IRPC_FAULT_FAIL;
  case IRPC_FAULT_ACCEPT:
    return a == IRPC_FAULT_FAIL || a == IRPC_FAULT_HOLD;
  case IRPC_FAULT_READ:
  case IRPC_FAULT_WRITE:
    return 1;
  case IRPC_FAULT_SHUTDOWN:
    return a != IRPC_FAULT_TRUNCATE;
  default:
    return 0;
  }
}

static void member_release(irpc_fault *m, irpc_fault_op op);
static size_t member_held(const irpc_fault *m, irpc_fault_op op);

int irpc_fault_set_nth(irpc_fault *f, irpc_fault_op op,
                       irpc_fault_action action, int arg, unsigned skip,
                       unsigned count) {
  if (!f || (unsigned)op >= IRPC_FAULT_OP_COUNT ||
      (unsigned)action > IRPC_FAULT_RESET)
    return IRPC_EINVAL;
  if (action == IRPC_FAULT_NONE)
    return irpc_fault_clear(f, op);
  if ((action == IRPC_FAULT_FAIL && arg >= 0) ||
      (action == IRPC_FAULT_TRUNCATE && arg < 0))
    return IRPC_EINVAL;
  if (!supported(op, action))
    return IRPC_ENOTSUP;
  rule *r = &f->rules[op];
  r->action = action;
  r->arg = arg;
  r->from = f->seen[op] + skip;
  r->to = count ? r->from + count : UINT64_MAX;
  return 0;
}

int irpc_fault_set(irpc_fault *f, irpc_fault_op op, irpc_fault_action action,
                   int arg) {
  return irpc_fault_set_nth(f, op, action, arg, 0, 0);
}

int irpc_fault_release(irpc_fault *f, irpc_fault_op op) {
  if (!f || (unsigned)op >= IRPC_FAULT_OP_COUNT)
    return IRPC_EINVAL;
  if (f->kind != K_TRANSPORT) {
    member_release(f, op);
    return 0;
  }
  irpc_fault *m = f->members;
  while (m) {
    irpc_fault *next = m->mnext; /* a release may close a member */
    member_release(m, op);
    m = next;
  }
  return 0;
}

int irpc_fault_clear(irpc_fault *f, irpc_fault_op op) {
  if (!f || (unsigned)op >= IRPC_FAULT_OP_COUNT)
    return IRPC_EINVAL;
  memset(&f->rules[op], 0, sizeof(f->rules[op]));
  return irpc_fault_release(f, op);
}

uint64_t irpc_fault_count(const irpc_fault *f, irpc_fault_op op) {
  if (!f || (unsigned)op >= IRPC_FAULT_OP_COUNT)
    return 0;
  return f->seen[op];
}

size_t irpc_fault_held(const irpc_fault *f, irpc_fault_op op) {
  if (!f || (unsigned)op >= IRPC_FAULT_OP_COUNT)
    return 0;
  if (f->kind != K_TRANSPORT)
    return member_held(f, op);
  size_t n = 0;
  for (const irpc_fault *m = f->members; m; m = m->mnext)
    n += member_held(m, op);
  return n;
}

/* ---- The fault duplex ---- */

enum { W_WAITING = 0, W_INFLIGHT, W_DONE };

typedef struct fwreq fwreq;
typedef struct fdx fdx;

struct fwreq {
  fwreq *next;
  fdx *f;
  irpc_buf *data; /* the framework's buffer */
  irpc_fault_action action;
  int arg;
  int state;
  int status;
};

struct fdx {
  irpc_fault fault;
  irpc_duplex *self;
  irpc_duplex *inner;
  int inner_closing; /* close or abort of inner requested */
  int outer_closing;
  int reset;           /* the connection was reset */
  int reset_delivered; /* the reader got UV_ECONNRESET */
  int connect_held;
  int connect_done;
  int connect_status;
  int reading;
  int read_held;
  int read_release; /* deliver the held read on the next run */
  int held_status;
  irpc_buf held;
  int pending_status; /* a read status to deliver on the next run, or 0 */
  fwreq *wq_head, *wq_tail;
  int stalled; /* a truncated write is in flight: nothing goes after it */
  int shut_requested;
  int shut_held;
  int shut_sent;
};

static const irpc_duplex_ops fault_duplex_ops;

static fdx *fdx_of(irpc_duplex *d) {
  return irpc_duplex_data(d);
}

static void on_inner_closed(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  (void)status;
  fdx *f = ud;
  f->inner = NULL;
  if (f->outer_closing)
    irpc_duplex_close_done(f->self);
}

static void pump(fdx *f);

/* Resets the connection: the inner duplex is aborted and every pending
 * operation fails with UV_ECONNRESET. */
static void fdx_reset(fdx *f) {
  if (f->reset)
    return;
  f->reset = 1;
  if (f->inner && !f->inner_closing) {
    f->inner_closing = 1;
    irpc_duplex_abort(f->inner, on_inner_closed, f);
  }
  pump(f);
  if (f->reading)
    irpc_duplex_schedule(f->self);
}

/* Completes writes at the head of the queue that are done. */
static void settle_writes(fdx *f) {
  while (f->wq_head && f->wq_head->state == W_DONE) {
    fwreq *w = f->wq_head;
    f->wq_head = w->next;
    if (!f->wq_head)
      f->wq_tail = NULL;
    irpc_duplex_write_done(f->self, w->status);
  }
}

static void on_inner_write(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  fwreq *w = ud;
  fdx *f = w->f;
  w->state = W_DONE;
  w->status = f->reset && status == UV_ECANCELED ? UV_ECONNRESET : status;
  if (w->action == IRPC_FAULT_TRUNCATE) {
    /* The first bytes went out: now the connection breaks. */
    w->status = UV_ECONNRESET;
    f->stalled = 0;
    if (!f->outer_closing)
      fdx_reset(f);
  }
  settle_writes(f);
  if (!f->outer_closing)
    pump(f);
}

static void on_inner_shutdown(irpc_duplex *inner, int status, void *ud) {
  (void)inner;
  fdx *f = ud;
  if (f->outer_closing)
    return;
  irpc_duplex_shutdown_done(
      f->self, f->reset && status == UV_ECANCELED ? UV_ECONNRESET : status);
}

/* Sends what can be sent: writes in order until one is held, then the
 * shutdown once no write waits. */
static void pump(fdx *f) {
  for (fwreq *w = f->wq_head; w; w = w->next) {
    if (w->state != W_WAITING)
      continue;
    if (f->reset) {
      w->state = W_DONE;
      w->status = UV_ECONNRESET;
      continue;
    }
    if (f->stalled || w->action == IRPC_FAULT_HOLD)
      break;
    if (w->action == IRPC_FAULT_FAIL) {
      w->state = W_DONE;
      w->status = w->arg;
      continue;
    }
    if (w->action == IRPC_FAULT_RESET) {
      w->state = W_DONE;
      w->status = UV_ECONNRESET;
      fdx_reset(f);
      return; /* fdx_reset pumped the rest */
    }
    if (w->action == IRPC_FAULT_TRUNCATE &&
        (size_t)w->arg < irpc_buf_len(w->data)) {
      irpc_buf_truncate(w->data, (size_t)w->arg);
      f->stalled = 1;
    } else if (w->action == IRPC_FAULT_TRUNCATE) {
      f->stalled = 1;
    }
    w->state = W_INFLIGHT;
    int rc = irpc_duplex_write(f->inner, w->data, on_inner_write, w);
    if (rc) {
      w->state = W_DONE;
      w->status = rc;
    }
  }
  settle_writes(f);
  if (f->shut_requested && !f->shut_held && !f->shut_sent) {
    int waiting = 0;
    for (fwreq *w = f->wq_head; w; w = w->next)
      waiting |= w->state == W_WAITING;
    if (f->reset) {
      f->shut_sent = 1;
      irpc_duplex_shutdown_done(f->self, UV_ECONNRESET);
    } else if (!waiting && !f->stalled) {
      f->shut_sent = 1;
      int rc = irpc_duplex_shutdown(f->inner, on_inner_shutdown, f);
      if (rc)
        irpc_duplex_shutdown_done(f->self, rc);
    }
  }
}

static void deliver(fdx *f, int status, const uint8_t *data, size_t len) {
  irpc_duplex_read_done(f->self, status, data, len);
}

static void on_inner_read(irpc_duplex *inner, int status, const uint8_t *data,
                          size_t len, void *ud) {
  fdx *f = ud;
  int arg = 0;
  switch (fault_hit(&f->fault, IRPC_FAULT_READ, &arg)) {
  case IRPC_FAULT_NONE:
    deliver(f, status, data, len);
    return;
  case IRPC_FAULT_HOLD:
    irpc_duplex_read_stop(inner);
    f->read_held = 1;
    f->held_status = status;
    if (status == 0 && irpc_buf_append(&f->held, data, len) != 0)
      f->held_status = IRPC_ENOMEM;
    return;
  case IRPC_FAULT_FAIL:
    f->reset_delivered = 1;
    fdx_reset(f);
    deliver(f, arg, NULL, 0);
    return;
  case IRPC_FAULT_TRUNCATE:
    if (status == 0 && arg > 0)
      deliver(f, 0, data, (size_t)arg < len ? (size_t)arg : len);
    /* fall through */
  default: /* RESET */
    f->reset_delivered = 1;
    fdx_reset(f);
    deliver(f, UV_ECONNRESET, NULL, 0);
    return;
  }
}

static void fdx_run(irpc_duplex *d) {
  fdx *f = fdx_of(d);
  if (!f->reading)
    return;
  if (f->read_release) {
    f->read_release = 0;
    f->read_held = 0;
    int status = f->held_status;
    if (status == 0) {
      irpc_bytes b;
      if (irpc_buf_pullup(&f->held, &b) != 0)
        status = IRPC_ENOMEM;
      else
        deliver(f, 0, b.base, b.len);
      irpc_buf_clear(&f->held);
    }
    if (status != 0) {
      deliver(f, status, NULL, 0);
      return;
    }
    if (f->reading && f->inner && !f->reset)
      irpc_duplex_read_start(f->inner, on_inner_read, f);
  }
  if (f->reset && !f->reset_delivered && f->reading) {
    f->reset_delivered = 1;
    deliver(f, UV_ECONNRESET, NULL, 0);
  }
}

static int fdx_read_start(irpc_duplex *d) {
  fdx *f = fdx_of(d);
  f->reading = 1;
  if (f->reset || f->read_release) {
    irpc_duplex_schedule(d);
    return 0;
  }
  if (f->read_held)
    return 0;
  int rc = irpc_duplex_read_start(f->inner, on_inner_read, f);
  if (rc)
    f->reading = 0;
  return rc;
}

static void fdx_read_stop(irpc_duplex *d) {
  fdx *f = fdx_of(d);
  f->reading = 0;
  if (f->inner && !f->inner_closing)
    irpc_duplex_read_stop(f->inner);
}

static int fdx_write(irpc_duplex *d, irpc_buf *data, void *req) {
  fdx *f = fdx_of(d);
  fwreq *w = req;
  memset(w, 0, sizeof(*w));
  w->f = f;
  w->data = data;
  w->action = fault_hit(&f->fault, IRPC_FAULT_WRITE, &w->arg);
  if (f->wq_tail)
    f->wq_tail->next = w;
  else
    f->wq_head = w;
  f->wq_tail = w;
  pump(f);
  return 0;
}

static int fdx_shutdown(irpc_duplex *d) {
  fdx *f = fdx_of(d);
  int arg = 0;
  switch (fault_hit(&f->fault, IRPC_FAULT_SHUTDOWN, &arg)) {
  case IRPC_FAULT_FAIL:
    irpc_duplex_shutdown_done(d, arg);
    return 0;
  case IRPC_FAULT_RESET:
    irpc_duplex_shutdown_done(d, UV_ECONNRESET);
    fdx_reset(f);
    return 0;
  case IRPC_FAULT_HOLD:
    f->shut_held = 1;
    break;
  default:
    break;
  }
  f->shut_requested = 1;
  pump(f);
  return 0;
}

static void fdx_close(irpc_duplex *d, int abort) {
  fdx *f = fdx_of(d);
  f->outer_closing = 1;
  if (!f->inner) {
    irpc_duplex_close_done(d);
    return;
  }
  if (!f->inner_closing) {
    f->inner_closing = 1;
    if (abort)
      irpc_duplex_abort(f->inner, on_inner_closed, f);
    else
      irpc_duplex_close(f->inner, on_inner_closed, f);
  }
}

static void fdx_destroy(irpc_duplex *d) {
  fdx *f = fdx_of(d);
  irpc__buf_fini(&f->held);
  fault_fini(&f->fault);
}

static int fdx_local(const irpc_duplex *d, char *buf, size_t len) {
  const fdx *f = irpc_duplex_cdata(d);
  return f->inner ? irpc_duplex_local_address(f->inner, buf, len) : UV_ENOTCONN;
}

static int fdx_remote(const irpc_duplex *d, char *buf, size_t len) {
  const fdx *f = irpc_duplex_cdata(d);
  return f->inner ? irpc_duplex_remote_address(f->inner, buf, len)
                  : UV_ENOTCONN;
}

static int fdx_cred(const irpc_duplex *d, irpc_peer_credentials *out) {
  const fdx *f = irpc_duplex_cdata(d);
  return f->inner ? irpc_duplex_peer_credentials(f->inner, out) : UV_ENOTCONN;
}

static const irpc_tls_info *fdx_tls(const irpc_duplex *d) {
  const fdx *f = irpc_duplex_cdata(d);
  return f->inner ? irpc_duplex_tls_info(f->inner) : NULL;
}

static const irpc_duplex_ops fault_duplex_ops = {
    .struct_size = sizeof(irpc_duplex_ops),
    .name = "fault",
    .data_size = sizeof(fdx),
    .write_req_size = sizeof(fwreq),
    .read_start = fdx_read_start,
    .read_stop = fdx_read_stop,
    .write = fdx_write,
    .shutdown = fdx_shutdown,
    .close = fdx_close,
    .destroy = fdx_destroy,
    .run = fdx_run,
    .local_address = fdx_local,
    .remote_address = fdx_remote,
    .peer_credentials = fdx_cred,
    .tls_info = fdx_tls,
};

static int fdx_new(irpc_duplex **out, uv_loop_t *loop, irpc_duplex *inner,
                   irpc_fault *parent, int connecting) {
  irpc_duplex *d;
  int rc = irpc_duplex_new(&d, loop, &fault_duplex_ops, connecting);
  if (rc)
    return rc;
  fdx *f = fdx_of(d);
  f->self = d;
  f->inner = inner;
  irpc__buf_init(&f->held);
  fault_init(&f->fault, K_DUPLEX, f, parent);
  *out = d;
  return 0;
}

int irpc_duplex_fault_wrap(irpc_duplex **out, irpc_duplex *inner) {
  if (!out || !inner)
    return IRPC_EINVAL;
  char probe[1];
  if (irpc_duplex_closing(inner) ||
      irpc_duplex_local_address(inner, probe, 0) == UV_ENOTCONN)
    return IRPC_EINVAL;
  return fdx_new(out, irpc_duplex_loop(inner), inner, NULL, 0);
}

irpc_fault *irpc_duplex_fault(irpc_duplex *d) {
  if (!d || irpc_duplex_get_ops(d) != &fault_duplex_ops)
    return NULL;
  return &fdx_of(d)->fault;
}

/* ---- Held operations of a member ---- */

typedef struct fls fls;
static void fls_release(fls *s);
static size_t fls_held(const fls *s);

static void on_inner_connect(irpc_duplex *inner, int status, void *ud);

static void member_release(irpc_fault *m, irpc_fault_op op) {
  if (m->kind == K_LISTENER) {
    if (op == IRPC_FAULT_ACCEPT)
      fls_release(m->owner);
    return;
  }
  fdx *f = m->owner;
  if (f->outer_closing)
    return;
  switch (op) {
  case IRPC_FAULT_CONNECT:
    if (f->connect_held) {
      f->connect_held = 0;
      if (f->connect_done)
        irpc_duplex_connect_done(f->self, f->connect_status);
    }
    break;
  case IRPC_FAULT_READ:
    if (f->read_held && !f->read_release) {
      f->read_release = 1;
      irpc_duplex_schedule(f->self);
    }
    break;
  case IRPC_FAULT_WRITE:
    for (fwreq *w = f->wq_head; w; w = w->next) {
      if (w->state == W_WAITING && w->action == IRPC_FAULT_HOLD)
        w->action = IRPC_FAULT_NONE;
    }
    pump(f);
    break;
  case IRPC_FAULT_SHUTDOWN:
    if (f->shut_held) {
      f->shut_held = 0;
      pump(f);
    }
    break;
  default:
    break;
  }
}

static size_t member_held(const irpc_fault *m, irpc_fault_op op) {
  if (m->kind == K_LISTENER)
    return op == IRPC_FAULT_ACCEPT ? fls_held(m->owner) : 0;
  const fdx *f = m->owner;
  size_t n = 0;
  switch (op) {
  case IRPC_FAULT_CONNECT:
    return (size_t)f->connect_held;
  case IRPC_FAULT_READ:
    return (size_t)(f->read_held && !f->read_release);
  case IRPC_FAULT_WRITE:
    for (const fwreq *w = f->wq_head; w; w = w->next)
      n += w->state == W_WAITING && w->action == IRPC_FAULT_HOLD;
    return n;
  case IRPC_FAULT_SHUTDOWN:
    return (size_t)f->shut_held;
  default:
    return 0;
  }
}

/* ---- The fault transport ---- */

typedef struct ftr {
  irpc_fault fault;
  irpc_transport *inner;
} ftr;

static void on_inner_connect(irpc_duplex *inner, int status, void *ud) {
  fdx *f = ud;
  if (status != 0 && !f->inner_closing)
    f->inner = NULL; /* the library frees it */
  (void)inner;
  if (f->outer_closing)
    return;
  f->connect_done = 1;
  f->connect_status = status;
  if (!f->connect_held)
    irpc_duplex_connect_done(f->self, status);
}

static int ftr_connect(irpc_transport *t, uv_loop_t *loop,
                       const irpc_server_address *addr, irpc_duplex **out) {
  ftr *ft = irpc_transport_data(t);
  irpc_duplex *d;
  int rc = fdx_new(&d, loop, NULL, &ft->fault, 1);
  if (rc)
    return rc;
  fdx *f = fdx_of(d);
  int arg = 0;
  irpc_fault_action a = fault_hit(&f->fault, IRPC_FAULT_CONNECT, &arg);
  if (a == IRPC_FAULT_FAIL) {
    irpc_duplex_connect_done(d, arg);
    *out = d;
    return 0;
  }
  f->connect_held = a == IRPC_FAULT_HOLD;
  rc = irpc_transport_connect(ft->inner, loop, addr, &f->inner,
                              on_inner_connect, f);
  if (rc) {
    irpc_duplex_discard(d);
    return rc;
  }
  *out = d;
  return 0;
}

struct fls {
  irpc_fault fault; /* counts nothing: a member for releases */
  irpc_listener *self;
  irpc_listener *inner;
  irpc_fault *tf;
  irpc_duplex **held;
  size_t nheld;
  int closing;
};

static void fls_release(fls *s) {
  if (s->closing)
    return;
  irpc_duplex **held = s->held;
  size_t n = s->nheld;
  s->held = NULL;
  s->nheld = 0;
  for (size_t i = 0; i < n; i++)
    irpc_listener_accepted(s->self, held[i]);
  irpc_free(held);
}

static size_t fls_held(const fls *s) {
  return s->nheld;
}

static void on_inner_listener_closed(irpc_listener *inner, void *ud) {
  (void)inner;
  fls *s = ud;
  irpc_listener_close_done(s->self);
}

static void fls_close(irpc_listener *l) {
  fls *s = irpc_listener_data(l);
  s->closing = 1;
  for (size_t i = 0; i < s->nheld; i++)
    irpc_duplex_close(s->held[i], NULL, NULL);
  irpc_free(s->held);
  s->held = NULL;
  s->nheld = 0;
  irpc_listener_close(s->inner, on_inner_listener_closed, s);
}

static void fls_destroy(irpc_listener *l) {
  fls *s = irpc_listener_data(l);
  fault_fini(&s->fault);
}

static const irpc_listener_ops fault_listener_ops = {
    .struct_size = sizeof(irpc_listener_ops),
    .name = "fault",
    .data_size = sizeof(fls),
    .close = fls_close,
    .destroy = fls_destroy,
};

static void on_inner_accept(irpc_listener *inner, irpc_duplex *d, void *ud) {
  (void)inner;
  fls *s = ud;
  irpc_duplex *w;
  if (s->closing || fdx_new(&w, irpc_duplex_loop(d), d, s->tf, 0) != 0) {
    irpc_duplex_close(d, NULL, NULL);
    return;
  }
  int arg = 0;
  switch (fault_hit(s->tf, IRPC_FAULT_ACCEPT, &arg)) {
  case IRPC_FAULT_HOLD: {
    irpc_duplex **v = irpc_realloc(s->held, (s->nheld + 1) * sizeof(*v));
    if (!v) {
      irpc_duplex_abort(w, NULL, NULL);
      return;
    }
    s->held = v;
    s->held[s->nheld++] = w;
    return;
  }
  case IRPC_FAULT_NONE:
    irpc_listener_accepted(s->self, w);
    return;
  default:
    irpc_duplex_abort(w, NULL, NULL);
    return;
  }
}

static int ftr_listen(irpc_transport *t, uv_loop_t *loop,
                      const irpc_server_address *addr, irpc_accept_cb cb,
                      void *ud, irpc_listener **out) {
  ftr *ft = irpc_transport_data(t);
  int arg = 0;
  ft->fault.seen[IRPC_FAULT_LISTEN]++;
  const rule *r = &ft->fault.rules[IRPC_FAULT_LISTEN];
  uint64_t n = ft->fault.seen[IRPC_FAULT_LISTEN];
  if (r->action == IRPC_FAULT_FAIL && n > r->from && n <= r->to)
    return r->arg;
  (void)arg;
  irpc_listener *l;
  int rc = irpc_listener_new(&l, loop, &fault_listener_ops, addr, cb, ud);
  if (rc)
    return rc;
  fls *s = irpc_listener_data(l);
  s->self = l;
  s->tf = &ft->fault;
  rc = irpc_transport_listen(ft->inner, loop, addr, on_inner_accept, s,
                             &s->inner);
  if (!rc)
    rc = irpc_listener_set_address(l, irpc_listener_address(s->inner));
  if (rc) {
    if (s->inner)
      irpc_listener_close(s->inner, NULL, NULL);
    irpc_listener_discard(l);
    return rc;
  }
  fault_init(&s->fault, K_LISTENER, s, &ft->fault);
  *out = l;
  return 0;
}

static const irpc_transport_ops fault_transport_ops = {
    .struct_size = sizeof(irpc_transport_ops),
    .name = "fault",
    .data_size = sizeof(ftr),
    .connect = ftr_connect,
    .listen = ftr_listen,
};

int irpc_transport_fault_new(irpc_transport **out, irpc_transport *inner) {
  if (!out || !inner)
    return IRPC_EINVAL;
  irpc_transport *t;
  int rc = irpc_transport_new(&t, &fault_transport_ops);
  if (rc)
    return rc;
  ftr *ft = irpc_transport_data(t);
  fault_init(&ft->fault, K_TRANSPORT, ft, NULL);
  ft->inner = inner;
  *out = t;
  return 0;
}

irpc_fault *irpc_transport_fault(irpc_transport *t) {
  if (!t || irpc_transport_get_ops(t) != &fault_transport_ops)
    return NULL;
  return &((ftr *)irpc_transport_data(t))->fault;
}
