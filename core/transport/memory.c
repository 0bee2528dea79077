/* The in-memory transport: duplex pairs that hand buffer segments to each
 * other without copying, and named listeners within a transport object.
 * Everything runs from loop tasks in a fixed order, so a test that drives
 * one end by hand sees the same bytes and callbacks on every run. */
#include <string.h>

#include "base/buf_internal.h"
#include "base/list.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "transport_internal.h"

/* Read callbacks per delivery turn, so a busy pair lets the loop breathe. */
#define DELIVERIES_PER_TURN 64

typedef struct mwrite mwrite;
struct mwrite {
  irpc__link link; /* in its end's write queue */
  uint64_t end;    /* the write is done when the peer has read this many */
};

typedef struct mem_end mem_end;
struct mem_end {
  irpc_duplex *d;
  mem_end *peer; /* NULL once either end closed */
  irpc_buf in;   /* bytes from the peer, not read yet */
  uint64_t consumed;
  uint64_t sent;
  int in_fin;   /* the peer shut down: EOF after `in` */
  int in_reset; /* the peer closed: ECONNRESET after `in` */
  int in_abort; /* the peer aborted: drop `in` */
  int ended;    /* EOF or an error was delivered */
  int reading;
  int shut_pending;
  irpc__list wq; /* mwrite, in the order written */
  char *local;
  char *remote;
};

static mem_end *end_of(irpc_duplex *d) {
  return irpc_duplex_data(d);
}

/* Completes my writes (and then my shutdown) that the peer has read. */
static void settle(mem_end *e, uint64_t peer_consumed) {
  while (e->wq.head &&
         IRPC__CONTAINER_OF(e->wq.head, mwrite, link)->end <= peer_consumed) {
    irpc__list_pop_front(&e->wq);
    irpc_duplex_write_done(e->d, 0);
  }
  if (e->shut_pending && !e->wq.head) {
    e->shut_pending = 0;
    irpc_duplex_shutdown_done(e->d, 0);
  }
}

static void mem_run(irpc_duplex *d) {
  mem_end *e = end_of(d);
  for (int n = 0; n < DELIVERIES_PER_TURN; n++) {
    if (!e->reading || e->ended || irpc_duplex_closing(d))
      return;
    if (e->in_abort)
      irpc_buf_clear(&e->in);
    if (irpc_buf_len(&e->in) == 0) {
      if (!e->in_fin && !e->in_reset)
        return;
      e->ended = 1;
      irpc_duplex_read_done(d, e->in_fin ? UV_EOF : UV_ECONNRESET, NULL, 0);
      return;
    }
    /* The segment's block stays referenced by `in` during the callback. */
    irpc_bytes seg = irpc_buf_segment(&e->in, 0);
    irpc_duplex_read_done(d, 0, seg.base, seg.len);
    irpc_buf_consume(&e->in, seg.len);
    e->consumed += seg.len;
    if (e->peer)
      settle(e->peer, e->consumed);
  }
  irpc_duplex_schedule(d);
}

static int mem_read_start(irpc_duplex *d) {
  end_of(d)->reading = 1;
  irpc_duplex_schedule(d);
  return 0;
}

static void mem_read_stop(irpc_duplex *d) {
  end_of(d)->reading = 0;
}

static int mem_write(irpc_duplex *d, irpc_buf *data, void *req) {
  mem_end *e = end_of(d);
  if (!e->peer) {
    irpc_duplex_write_done(d, UV_ECONNRESET);
    return 0;
  }
  mem_end *p = e->peer;
  size_t len = irpc_buf_len(data);
  int rc = irpc_buf_move(&p->in, data);
  if (rc)
    return rc;
  mwrite *w = req;
  e->sent += len;
  w->end = e->sent;
  irpc__list_push_back(&e->wq, &w->link);
  settle(e, p->consumed);
  if (p->reading)
    irpc_duplex_schedule(p->d);
  return 0;
}

static int mem_shutdown(irpc_duplex *d) {
  mem_end *e = end_of(d);
  if (!e->peer) {
    irpc_duplex_shutdown_done(d, UV_ECONNRESET);
    return 0;
  }
  e->peer->in_fin = 1;
  e->shut_pending = 1;
  settle(e, e->peer->consumed);
  if (e->peer->reading)
    irpc_duplex_schedule(e->peer->d);
  return 0;
}

static void mem_close(irpc_duplex *d, int abort) {
  mem_end *e = end_of(d);
  mem_end *p = e->peer;
  e->peer = NULL;
  e->wq = (irpc__list){0}; /* the framework cancels them */
  if (p) {
    p->peer = NULL;
    if (!p->in_fin || abort)
      p->in_reset = 1;
    if (abort) {
      p->in_fin = 0;
      p->in_abort = 1;
    }
    /* The peer's writes towards me will never be read. */
    while (irpc__list_pop_front(&p->wq))
      irpc_duplex_write_done(p->d, UV_ECONNRESET);
    if (p->shut_pending) {
      p->shut_pending = 0;
      irpc_duplex_shutdown_done(p->d, UV_ECONNRESET);
    }
    if (p->reading)
      irpc_duplex_schedule(p->d);
  }
  irpc_duplex_close_done(d);
}

static void mem_destroy(irpc_duplex *d) {
  mem_end *e = end_of(d);
  irpc__buf_fini(&e->in);
  irpc_free(e->local);
  irpc_free(e->remote);
}

static int mem_local(const irpc_duplex *d, char *buf, size_t len) {
  const mem_end *e = irpc_duplex_cdata(d);
  return irpc__copy_str(buf, len, e->local ? e->local : "");
}

static int mem_remote(const irpc_duplex *d, char *buf, size_t len) {
  const mem_end *e = irpc_duplex_cdata(d);
  return irpc__copy_str(buf, len, e->remote ? e->remote : "");
}

static const irpc_duplex_ops mem_duplex_ops = {
    .struct_size = sizeof(irpc_duplex_ops),
    .name = "memory",
    .data_size = sizeof(mem_end),
    .write_req_size = sizeof(mwrite),
    .read_start = mem_read_start,
    .read_stop = mem_read_stop,
    .write = mem_write,
    .shutdown = mem_shutdown,
    .close = mem_close,
    .destroy = mem_destroy,
    .run = mem_run,
    .local_address = mem_local,
    .remote_address = mem_remote,
};

static char *dup_str(const char *s) {
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = irpc_malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static int end_new(irpc_duplex **out, uv_loop_t *loop, int connecting,
                   const char *local, const char *remote) {
  irpc_duplex *d;
  int rc = irpc_duplex_new(&d, loop, &mem_duplex_ops, connecting);
  if (rc)
    return rc;
  mem_end *e = end_of(d);
  e->d = d;
  irpc__buf_init(&e->in);
  e->local = dup_str(local);
  e->remote = dup_str(remote);
  if ((local && !e->local) || (remote && !e->remote)) {
    irpc_duplex_discard(d);
    return IRPC_ENOMEM;
  }
  *out = d;
  return 0;
}

static int pair_new(uv_loop_t *loop, irpc_duplex **a, irpc_duplex **b,
                    int a_connecting, const char *a_local,
                    const char *b_local) {
  irpc_duplex *x, *y;
  int rc = end_new(&x, loop, a_connecting, a_local, b_local);
  if (rc)
    return rc;
  rc = end_new(&y, loop, 0, b_local, a_local);
  if (rc) {
    irpc_duplex_discard(x);
    return rc;
  }
  end_of(x)->peer = end_of(y);
  end_of(y)->peer = end_of(x);
  *a = x;
  *b = y;
  return 0;
}

int irpc_duplex_pair(uv_loop_t *loop, irpc_duplex **a, irpc_duplex **b) {
  if (!loop || !a || !b)
    return IRPC_EINVAL;
  return pair_new(loop, a, b, 0, "a", "b");
}

/* ---- The transport: named listeners ---- */

typedef struct mem_listener mem_listener;
struct mem_listener {
  irpc__link link; /* in its transport's listeners */
  irpc_listener *l;
  irpc_transport *t;
  char *name;
  int listed; /* in mt->listeners */
};

typedef struct mem_transport {
  uv_mutex_t mutex;
  int ready;            /* the mutex is initialized */
  irpc__list listeners; /* mem_listener */
} mem_transport;

static mem_listener *find_listener(mem_transport *mt, const char *name) {
  for (irpc__link *k = mt->listeners.head; k; k = k->next) {
    mem_listener *ml = IRPC__CONTAINER_OF(k, mem_listener, link);
    if (strcmp(ml->name, name) == 0)
      return ml;
  }
  return NULL;
}

static int check_addr(const irpc_server_address *addr) {
  const char *tr = irpc_server_address_transport(addr);
  return tr && strcmp(tr, "memory") != 0 ? IRPC_EINVAL : 0;
}

static int memt_connect(irpc_transport *t, uv_loop_t *loop,
                        const irpc_server_address *addr, irpc_duplex **out) {
  int rc = check_addr(addr);
  if (rc)
    return rc;
  mem_transport *mt = irpc_transport_data(t);
  const char *name = irpc_server_address_host(addr);
  uv_mutex_lock(&mt->mutex);
  mem_listener *ml = find_listener(mt, name);
  irpc_listener *l = ml && irpc_listener_loop(ml->l) == loop ? ml->l : NULL;
  uv_mutex_unlock(&mt->mutex);
  irpc_duplex *client, *server;
  if (!l) {
    rc = end_new(&client, loop, 1, NULL, name);
    if (rc)
      return rc;
    irpc_duplex_connect_done(client, UV_ECONNREFUSED);
    *out = client;
    return 0;
  }
  rc = pair_new(loop, &client, &server, 1, NULL, name);
  if (rc)
    return rc;
  irpc_listener_accepted(l, server);
  irpc_duplex_connect_done(client, 0);
  *out = client;
  return 0;
}

static void meml_close(irpc_listener *l) {
  mem_listener *ml = irpc_listener_data(l);
  mem_transport *mt = irpc_transport_data(ml->t);
  uv_mutex_lock(&mt->mutex);
  if (ml->listed)
    irpc__list_remove(&mt->listeners, &ml->link);
  ml->listed = 0;
  uv_mutex_unlock(&mt->mutex);
  irpc_listener_close_done(l);
}

static void meml_destroy(irpc_listener *l) {
  irpc_free(((mem_listener *)irpc_listener_data(l))->name);
}

static const irpc_listener_ops mem_listener_ops = {
    .struct_size = sizeof(irpc_listener_ops),
    .name = "memory",
    .data_size = sizeof(mem_listener),
    .close = meml_close,
    .destroy = meml_destroy,
};

static int memt_listen(irpc_transport *t, uv_loop_t *loop,
                       const irpc_server_address *addr, irpc_accept_cb cb,
                       void *ud, irpc_listener **out) {
  int rc = check_addr(addr);
  if (rc)
    return rc;
  mem_transport *mt = irpc_transport_data(t);
  irpc_listener *l;
  rc = irpc_listener_new(&l, loop, &mem_listener_ops, addr, cb, ud);
  if (rc)
    return rc;
  mem_listener *ml = irpc_listener_data(l);
  ml->l = l;
  ml->t = t;
  ml->name = dup_str(irpc_server_address_host(addr));
  if (!ml->name) {
    irpc_listener_discard(l);
    return IRPC_ENOMEM;
  }
  uv_mutex_lock(&mt->mutex);
  if (find_listener(mt, ml->name)) {
    rc = UV_EADDRINUSE;
  } else {
    irpc__list_push_front(&mt->listeners, &ml->link);
    ml->listed = 1;
  }
  uv_mutex_unlock(&mt->mutex);
  if (rc) {
    irpc_listener_discard(l);
    return rc;
  }
  *out = l;
  return 0;
}

static void memt_destroy(irpc_transport *t) {
  mem_transport *mt = irpc_transport_data(t);
  if (mt->ready)
    uv_mutex_destroy(&mt->mutex);
}

static const irpc_transport_ops mem_transport_ops = {
    .struct_size = sizeof(irpc_transport_ops),
    .name = "memory",
    .data_size = sizeof(mem_transport),
    .connect = memt_connect,
    .listen = memt_listen,
    .destroy = memt_destroy,
};

int irpc_transport_memory_new(irpc_transport **out) {
  if (!out)
    return IRPC_EINVAL;
  irpc_transport *t;
  int rc = irpc_transport_new(&t, &mem_transport_ops);
  if (rc)
    return rc;
  mem_transport *mt = irpc_transport_data(t);
  if (uv_mutex_init(&mt->mutex) != 0) {
    irpc_transport_free(t);
    return IRPC_ENOMEM;
  }
  mt->ready = 1;
  *out = t;
  return 0;
}
