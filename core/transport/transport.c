/* Duplexes, listeners and transports: the framework shared by every
 * implementation. It keeps the user's callbacks, the write queue and the
 * closing rules; implementations only move bytes. Every completion callback
 * is run from the object's task on the loop, never from inside an API call
 * or an implementation's op. */
#include <stdalign.h>
#include <string.h>

#include "base/buf_internal.h"
#include "base/list.h"
#include "base/pool.h"
#include "base/struct_size.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/tls.h"
#include "base/scheduler.h"
#include "transport_internal.h"

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

/* The table an object keeps: the caller's `ops` itself, or (`older`) a
 * zero-extended copy of that shorter table at offset `at` of `obj`. */
static const void *kept_ops(void *obj, size_t at, const void *ops, size_t size,
                            int older) {
  if (!older)
    return ops;
  void *copy = (unsigned char *)obj + at;
  irpc__struct_import(copy, size, ops, sizeof(size_t));
  return copy;
}

enum { ST_CONNECTING = 1, ST_OPEN, ST_CLOSING };

/* Where a duplex's shutdown stands. */
enum { SHUT_NONE, SHUT_REQUESTED, SHUT_COMPLETED, SHUT_DELIVERED };

#define WREQ_OF(k) IRPC__CONTAINER_OF(k, wreq, link)

typedef struct wreq wreq;
struct wreq {
  irpc__link link; /* in its duplex's write queue */
  irpc_buf data;
  size_t len;
  irpc_duplex_cb cb;
  void *ud;
  int status;
  int done;
  alignas(16) unsigned char impl[]; /* ops->write_req_size */
};

struct irpc_duplex {
  const irpc_duplex_ops *ops;
  uv_loop_t *loop;
  irpc__sched *sched;
  irpc__task task;     /* completions */
  irpc__task run_task; /* ops->run */
  int state;
  int connect_done;
  int connect_status;
  irpc_connect_cb connect_cb;
  void *connect_ud;
  int reading;
  int read_ended;
  irpc_duplex_read_cb read_cb;
  void *read_ud;
  irpc__list wq;          /* wreq, in the order written */
  irpc__link *wq_pending; /* the oldest write the implementation has not
                             completed */
  wreq *spare;
  size_t wq_bytes;
  int shut; /* SHUT_* */
  int shut_status;
  irpc_duplex_cb shut_cb;
  void *shut_ud;
  int closed; /* close_done was called */
  irpc_duplex_cb close_cb;
  void *close_ud;
  irpc__link accept_link; /* in its listener's accept queue */
  alignas(16) unsigned char data[];
};

struct irpc_listener {
  const irpc_listener_ops *ops;
  uv_loop_t *loop;
  irpc__sched *sched;
  irpc__task task;
  irpc_server_address *address;
  irpc_accept_cb cb;
  void *ud;
  irpc__list accepted; /* irpc_duplex, not handed to `cb` yet */
  int closing;
  int closed;
  irpc_listener_close_cb close_cb;
  void *close_ud;
  alignas(16) unsigned char data[];
};

struct irpc_transport {
  const irpc_transport_ops *ops;
  int builtin;
  alignas(16) unsigned char data[];
};

int irpc__copy_str(char *buf, size_t len, const char *s) {
  size_t n = strlen(s);
  if (n >= len) {
    if (len > 0)
      buf[0] = '\0';
    return UV_ENOBUFS;
  }
  memcpy(buf, s, n + 1);
  return 0;
}

/* ---- Duplex: creation and completions ---- */

static void duplex_task(irpc__task *t);
static void duplex_run_task(irpc__task *t);

int irpc_duplex_new(irpc_duplex **out, uv_loop_t *loop,
                    const irpc_duplex_ops *ops, int connecting) {
  if (!out || !loop || !ops)
    return IRPC_EINVAL;
  int older = IRPC__CHECK(ops, irpc_duplex_ops);
  if (older < 0 || !ops->read_start || !ops->read_stop || !ops->write ||
      !ops->shutdown || !ops->close)
    return IRPC_EINVAL;
  size_t at = sizeof(irpc_duplex) + ALIGN16(ops->data_size);
  irpc_duplex *d = irpc_calloc(1, at + (older ? sizeof(*ops) : 0));
  if (!d)
    return IRPC_ENOMEM;
  d->sched = irpc__sched_acquire(loop);
  if (!d->sched) {
    irpc_free(d);
    return IRPC_ENOMEM;
  }
  d->ops = kept_ops(d, at, ops, sizeof(*ops), older);
  d->loop = loop;
  d->state = connecting ? ST_CONNECTING : ST_OPEN;
  d->task.fn = duplex_task;
  d->run_task.fn = duplex_run_task;
  *out = d;
  return 0;
}

int irpc__duplex_writing(const irpc_duplex *d) {
  return d->wq_pending != NULL;
}

irpc__sched *irpc__duplex_sched(const irpc_duplex *d) {
  return d->sched;
}

/* A write request and its implementation's part: from the loop's pool
 * (base/pool.h) when a burst needs more than the duplex's spare. */
static size_t wreq_size(const irpc_duplex *d) {
  return sizeof(wreq) + ALIGN16(d->ops->write_req_size);
}

static void duplex_free(irpc_duplex *d) {
  if (d->ops->destroy)
    d->ops->destroy(d);
  if (d->spare)
    irpc__pool_put(d->spare, wreq_size(d));
  irpc__sched_release(d->sched);
  irpc_free(d);
}

void irpc_duplex_discard(irpc_duplex *d) {
  if (d)
    duplex_free(d);
}

void *irpc_duplex_data(irpc_duplex *d) {
  return d ? d->data : NULL;
}

const void *irpc_duplex_cdata(const irpc_duplex *d) {
  return d ? d->data : NULL;
}

const irpc_duplex_ops *irpc_duplex_get_ops(const irpc_duplex *d) {
  return d ? d->ops : NULL;
}

uv_loop_t *irpc_duplex_loop(const irpc_duplex *d) {
  return d ? d->loop : NULL;
}

const char *irpc_duplex_type(const irpc_duplex *d) {
  return d ? d->ops->name : NULL;
}

int irpc_duplex_closing(const irpc_duplex *d) {
  return d && d->state == ST_CLOSING;
}

static void post(irpc_duplex *d) {
  irpc__sched_post(d->sched, &d->task);
}

void irpc_duplex_schedule(irpc_duplex *d) {
  if (d && !d->closed && d->ops->run)
    irpc__sched_post(d->sched, &d->run_task);
}

static void duplex_run_task(irpc__task *t) {
  irpc_duplex *d = IRPC__CONTAINER_OF(t, irpc_duplex, run_task);
  if (d->closed)
    post(d); /* the free waited for this task */
  else
    d->ops->run(d);
}

void irpc_duplex_read_done(irpc_duplex *d, int status, const uint8_t *data,
                           size_t len) {
  if (!d || d->state != ST_OPEN || !d->reading)
    return;
  if (status == 0 && len == 0)
    return;
  if (status < 0) {
    d->reading = 0;
    d->read_ended = 1;
    d->ops->read_stop(d);
  }
  d->read_cb(d, status, status < 0 ? NULL : data, status < 0 ? 0 : len,
             d->read_ud);
}

void irpc_duplex_write_done(irpc_duplex *d, int status) {
  if (!d || !d->wq_pending)
    return;
  wreq *w = WREQ_OF(d->wq_pending);
  d->wq_pending = w->link.next;
  w->done = 1;
  w->status = status;
  post(d);
}

void irpc_duplex_shutdown_done(irpc_duplex *d, int status) {
  if (!d || d->shut != SHUT_REQUESTED)
    return;
  d->shut = SHUT_COMPLETED;
  d->shut_status = status;
  post(d);
}

void irpc_duplex_connect_done(irpc_duplex *d, int status) {
  if (!d || d->connect_done)
    return;
  d->connect_done = 1;
  d->connect_status = status;
  post(d);
}

void irpc_duplex_close_done(irpc_duplex *d) {
  if (!d || d->closed)
    return;
  d->closed = 1;
  post(d);
}

static void wreq_release(irpc_duplex *d, wreq *w) {
  irpc__buf_fini(&w->data);
  if (!d->spare)
    d->spare = w;
  else
    irpc__pool_put(w, wreq_size(d));
}

/* Runs the callbacks of completed writes at the head of the queue (all of
 * them with UV_ECANCELED when `cancel`). */
static void deliver_writes(irpc_duplex *d, int cancel) {
  while (d->wq.head && (WREQ_OF(d->wq.head)->done || cancel)) {
    wreq *w = WREQ_OF(d->wq.head);
    if (d->wq_pending == &w->link)
      d->wq_pending = w->link.next;
    irpc__list_remove(&d->wq, &w->link);
    d->wq_bytes -= w->len;
    int status = w->done ? w->status : UV_ECANCELED;
    irpc_duplex_cb cb = w->cb;
    void *ud = w->ud;
    wreq_release(d, w);
    if (cb)
      cb(d, status, ud);
  }
}

static void deliver_shutdown(irpc_duplex *d, int cancel) {
  if (d->shut != SHUT_COMPLETED && !(cancel && d->shut == SHUT_REQUESTED))
    return;
  int status = d->shut == SHUT_COMPLETED ? d->shut_status : UV_ECANCELED;
  d->shut = SHUT_DELIVERED;
  if (d->shut_cb)
    d->shut_cb(d, status, d->shut_ud);
}

static void close_internal(irpc_duplex *d, int abort, irpc_duplex_cb cb,
                           void *ud);

static void deliver_connect(irpc_duplex *d, int cancel) {
  if (!d->connect_cb || (!d->connect_done && !cancel))
    return;
  irpc_connect_cb cb = d->connect_cb;
  d->connect_cb = NULL;
  int status = cancel ? UV_ECANCELED : d->connect_status;
  if (status == 0)
    d->state = ST_OPEN; /* connected once the caller learns it */
  cb(d, status, d->connect_ud);
  if (status != 0 && d->state != ST_CLOSING)
    close_internal(d, 0, NULL, NULL);
}

static void duplex_task(irpc__task *t) {
  irpc_duplex *d = IRPC__CONTAINER_OF(t, irpc_duplex, task);
  if (d->state != ST_CLOSING) {
    deliver_connect(d, 0);
    deliver_writes(d, 0);
    deliver_shutdown(d, 0);
    return;
  }
  if (!d->closed)
    return;
  deliver_connect(d, 1);
  deliver_writes(d, 1);
  deliver_shutdown(d, 1);
  if (d->task.queued || d->run_task.queued)
    return; /* a callback posted again: finish on that run */
  irpc_duplex_cb cb = d->close_cb;
  d->close_cb = NULL;
  if (cb)
    cb(d, 0, d->close_ud);
  duplex_free(d);
}

/* ---- Duplex: the user's API ---- */

int irpc_duplex_read_start(irpc_duplex *d, irpc_duplex_read_cb cb,
                           void *user_data) {
  if (!d || !cb)
    return IRPC_EINVAL;
  if (d->state == ST_CONNECTING)
    return UV_ENOTCONN;
  if (d->state == ST_CLOSING || d->read_ended)
    return IRPC_ECLOSED;
  d->read_cb = cb;
  d->read_ud = user_data;
  if (d->reading)
    return 0;
  int rc = d->ops->read_start(d);
  if (rc == 0)
    d->reading = 1;
  return rc;
}

int irpc_duplex_read_stop(irpc_duplex *d) {
  if (!d)
    return IRPC_EINVAL;
  if (d->reading && d->state == ST_OPEN) {
    d->reading = 0;
    d->ops->read_stop(d);
  }
  d->reading = 0;
  return 0;
}

int irpc_duplex_write(irpc_duplex *d, irpc_buf *data, irpc_duplex_cb cb,
                      void *user_data) {
  if (!d || !data)
    return IRPC_EINVAL;
  if (d->state == ST_CONNECTING)
    return UV_ENOTCONN;
  if (d->state == ST_CLOSING)
    return IRPC_ECLOSED;
  if (d->shut)
    return UV_EPIPE;
  wreq *w = d->spare;
  d->spare = NULL;
  if (!w && !(w = irpc__pool_get(wreq_size(d))))
    return IRPC_ENOMEM;
  memset(w, 0, sizeof(*w) + d->ops->write_req_size);
  irpc__buf_init(&w->data);
  int rc = irpc_buf_move(&w->data, data);
  if (rc) {
    wreq_release(d, w);
    return rc;
  }
  w->len = irpc_buf_len(&w->data);
  w->cb = cb;
  w->ud = user_data;
  /* Queue first: the implementation may complete it at once. */
  irpc__link *prev_pending = d->wq_pending;
  irpc__list_push_back(&d->wq, &w->link);
  if (!d->wq_pending)
    d->wq_pending = &w->link;
  d->wq_bytes += w->len;
  rc = d->ops->write(d, &w->data, d->ops->write_req_size ? w->impl : NULL);
  if (rc) {
    /* Not queued: undo (the implementation did not complete it). */
    irpc__list_remove(&d->wq, &w->link);
    d->wq_pending = prev_pending;
    d->wq_bytes -= w->len;
    irpc_buf_move(data, &w->data);
    wreq_release(d, w);
  }
  return rc;
}

size_t irpc_duplex_write_queue_size(const irpc_duplex *d) {
  return d ? d->wq_bytes : 0;
}

int irpc_duplex_shutdown(irpc_duplex *d, irpc_duplex_cb cb, void *user_data) {
  if (!d)
    return IRPC_EINVAL;
  if (d->state == ST_CONNECTING)
    return UV_ENOTCONN;
  if (d->state == ST_CLOSING)
    return IRPC_ECLOSED;
  if (d->shut)
    return UV_EPIPE;
  d->shut = SHUT_REQUESTED;
  d->shut_cb = cb;
  d->shut_ud = user_data;
  int rc = d->ops->shutdown(d);
  if (rc) {
    d->shut = SHUT_NONE;
    d->shut_cb = NULL;
  }
  return rc;
}

static void close_internal(irpc_duplex *d, int abort, irpc_duplex_cb cb,
                           void *ud) {
  d->state = ST_CLOSING;
  d->reading = 0;
  d->close_cb = cb;
  d->close_ud = ud;
  d->ops->close(d, abort);
}

void irpc_duplex_close(irpc_duplex *d, irpc_duplex_cb cb, void *user_data) {
  if (d && d->state != ST_CLOSING)
    close_internal(d, 0, cb, user_data);
}

void irpc_duplex_abort(irpc_duplex *d, irpc_duplex_cb cb, void *user_data) {
  if (d && d->state != ST_CLOSING)
    close_internal(d, 1, cb, user_data);
}

int irpc_duplex_local_address(const irpc_duplex *d, char *buf, size_t len) {
  if (!d || !buf)
    return IRPC_EINVAL;
  if (d->state == ST_CONNECTING || d->state == ST_CLOSING)
    return UV_ENOTCONN;
  return d->ops->local_address ? d->ops->local_address(d, buf, len)
                               : IRPC_ENOTSUP;
}

int irpc_duplex_remote_address(const irpc_duplex *d, char *buf, size_t len) {
  if (!d || !buf)
    return IRPC_EINVAL;
  if (d->state == ST_CONNECTING || d->state == ST_CLOSING)
    return UV_ENOTCONN;
  return d->ops->remote_address ? d->ops->remote_address(d, buf, len)
                                : IRPC_ENOTSUP;
}

int irpc_duplex_peer_credentials(const irpc_duplex *d,
                                 irpc_peer_credentials *out) {
  if (!d || !out)
    return IRPC_EINVAL;
  if (d->state == ST_CONNECTING || d->state == ST_CLOSING)
    return UV_ENOTCONN;
  return d->ops->peer_credentials ? d->ops->peer_credentials(d, out)
                                  : IRPC_ENOTSUP;
}

const irpc_tls_info *irpc_duplex_tls_info(const irpc_duplex *d) {
  if (!d || d->state == ST_CONNECTING || d->state == ST_CLOSING ||
      !d->ops->tls_info)
    return NULL;
  return d->ops->tls_info(d);
}

/* ---- Listeners ---- */

static void listener_task(irpc__task *t);

int irpc_listener_new(irpc_listener **out, uv_loop_t *loop,
                      const irpc_listener_ops *ops,
                      const irpc_server_address *address, irpc_accept_cb cb,
                      void *user_data) {
  if (!out || !loop || !ops || !address || !cb)
    return IRPC_EINVAL;
  int older = IRPC__CHECK(ops, irpc_listener_ops);
  if (older < 0 || !ops->close)
    return IRPC_EINVAL;
  size_t at = sizeof(irpc_listener) + ALIGN16(ops->data_size);
  irpc_listener *l = irpc_calloc(1, at + (older ? sizeof(*ops) : 0));
  if (!l)
    return IRPC_ENOMEM;
  l->sched = irpc__sched_acquire(loop);
  int rc =
      l->sched ? irpc_server_address_clone(&l->address, address) : IRPC_ENOMEM;
  if (rc) {
    if (l->sched)
      irpc__sched_release(l->sched);
    irpc_free(l);
    return rc;
  }
  l->ops = kept_ops(l, at, ops, sizeof(*ops), older);
  l->loop = loop;
  l->cb = cb;
  l->ud = user_data;
  l->task.fn = listener_task;
  *out = l;
  return 0;
}

void irpc_listener_discard(irpc_listener *l) {
  if (!l)
    return;
  if (l->ops->destroy)
    l->ops->destroy(l);
  irpc_server_address_free(l->address);
  irpc__sched_release(l->sched);
  irpc_free(l);
}

void *irpc_listener_data(irpc_listener *l) {
  return l ? l->data : NULL;
}

const irpc_listener_ops *irpc_listener_get_ops(const irpc_listener *l) {
  return l ? l->ops : NULL;
}

const irpc_server_address *irpc_listener_address(const irpc_listener *l) {
  return l ? l->address : NULL;
}

uv_loop_t *irpc_listener_loop(const irpc_listener *l) {
  return l ? l->loop : NULL;
}

int irpc_listener_set_address(irpc_listener *l,
                              const irpc_server_address *address) {
  if (!l || !address)
    return IRPC_EINVAL;
  irpc_server_address *a;
  int rc = irpc_server_address_clone(&a, address);
  if (rc)
    return rc;
  irpc_server_address_free(l->address);
  l->address = a;
  return 0;
}

void irpc_listener_accepted(irpc_listener *l, irpc_duplex *d) {
  if (!l || !d)
    return;
  if (l->closing) {
    irpc_duplex_close(d, NULL, NULL);
    return;
  }
  irpc__list_push_back(&l->accepted, &d->accept_link);
  irpc__sched_post(l->sched, &l->task);
}

void irpc_listener_close_done(irpc_listener *l) {
  if (!l || l->closed)
    return;
  l->closed = 1;
  irpc__sched_post(l->sched, &l->task);
}

static void listener_task(irpc__task *t) {
  irpc_listener *l = IRPC__CONTAINER_OF(t, irpc_listener, task);
  while (l->accepted.head && !l->closing) {
    irpc__link *k = irpc__list_pop_front(&l->accepted);
    l->cb(l, IRPC__CONTAINER_OF(k, irpc_duplex, accept_link), l->ud);
  }
  if (!l->closed || l->task.queued)
    return;
  irpc_listener_close_cb cb = l->close_cb;
  l->close_cb = NULL;
  if (cb)
    cb(l, l->close_ud);
  irpc_listener_discard(l);
}

void irpc_listener_close(irpc_listener *l, irpc_listener_close_cb cb,
                         void *user_data) {
  if (!l || l->closing)
    return;
  l->closing = 1;
  l->close_cb = cb;
  l->close_ud = user_data;
  irpc__link *k;
  while ((k = irpc__list_pop_front(&l->accepted)))
    irpc_duplex_close(IRPC__CONTAINER_OF(k, irpc_duplex, accept_link), NULL,
                      NULL);
  l->ops->close(l);
}

/* ---- Transports ---- */

int irpc_transport_new(irpc_transport **out, const irpc_transport_ops *ops) {
  if (!out || !ops)
    return IRPC_EINVAL;
  int older = IRPC__CHECK(ops, irpc_transport_ops);
  if (older < 0 || !ops->connect || !ops->listen)
    return IRPC_EINVAL;
  size_t at = sizeof(irpc_transport) + ALIGN16(ops->data_size);
  irpc_transport *t = irpc_calloc(1, at + (older ? sizeof(*ops) : 0));
  if (!t)
    return IRPC_ENOMEM;
  t->ops = kept_ops(t, at, ops, sizeof(*ops), older);
  *out = t;
  return 0;
}

void irpc_transport_free(irpc_transport *t) {
  if (!t || t->builtin)
    return;
  if (t->ops->destroy)
    t->ops->destroy(t);
  irpc_free(t);
}

void *irpc_transport_data(irpc_transport *t) {
  return t ? t->data : NULL;
}

const irpc_transport_ops *irpc_transport_get_ops(const irpc_transport *t) {
  return t ? t->ops : NULL;
}

const char *irpc_transport_name(const irpc_transport *t) {
  return t ? t->ops->name : NULL;
}

int irpc_transport_connect(irpc_transport *t, uv_loop_t *loop,
                           const irpc_server_address *addr, irpc_duplex **out,
                           irpc_connect_cb cb, void *user_data) {
  if (!t || !loop || !addr || !out || !cb)
    return IRPC_EINVAL;
  irpc_duplex *d = NULL;
  int rc = t->ops->connect(t, loop, addr, &d);
  if (rc)
    return rc;
  d->connect_cb = cb;
  d->connect_ud = user_data;
  *out = d;
  return 0;
}

int irpc_transport_listen(irpc_transport *t, uv_loop_t *loop,
                          const irpc_server_address *addr, irpc_accept_cb cb,
                          void *user_data, irpc_listener **out) {
  if (!t || !loop || !addr || !cb || !out)
    return IRPC_EINVAL;
  return t->ops->listen(t, loop, addr, cb, user_data, out);
}

/* The built-in singletons (their ops live in transport_stream.c). */
static irpc_transport tcp_transport = {&irpc__tcp_transport_ops, 1};
static irpc_transport uds_transport = {&irpc__uds_transport_ops, 1};

irpc_transport *irpc_transport_tcp(void) {
  return &tcp_transport;
}

irpc_transport *irpc_transport_uds(void) {
  return &uds_transport;
}

irpc_transport *irpc_transport_by_name(const char *name) {
  if (!name)
    return NULL;
  if (strcmp(name, "tcp") == 0)
    return &tcp_transport;
  if (strcmp(name, "uds") == 0)
    return &uds_transport;
  return NULL;
}
