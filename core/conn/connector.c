/* The connector (see connector.h): picks the transport and the protocol of
 * a server address, connects under the connect timeout, creates the
 * connection. */
#include <string.h>

#include "connector.h"
#include "base/list.h"
#include "irpc/alloc.h"
#include "irpc/error.h"
#include "irpc/tls.h"
#include "transport/tls/tls_internal.h"

struct irpc__connect {
  const irpc__connector *cn; /* NULL once canceled */
  irpc__route route;
  void *ud;
  irpc_duplex *duplex; /* connecting */
  irpc__timer timer;   /* the connect timeout */
  uint64_t deadline;   /* loop time at which the establishment times out */
  int timed_out;       /* 0, or the error the timeout ends the connect with */
};

int irpc__protocol_pick(const char *name, const irpc__protocol_ops **out) {
  const irpc__protocol_ops *p = irpc__protocol_find(name);
  if (!p)
    return IRPC_EPROTONOSUPPORT;
  *out = p;
  return 0;
}

int irpc__route_pick(const irpc_server_address *a,
                     const irpc_connection_options *o, int is_client,
                     irpc__route *out) {
  const irpc__protocol_ops *p;
  int rc = irpc__protocol_pick(irpc_server_address_protocol(a), &p);
  if (rc)
    return rc;
  const char *name = irpc_server_address_transport(a);
  int ssl = name && strcmp(name, "ssl") == 0;
  irpc_transport *transport = o->transport;
  if (!transport) {
    transport = irpc_transport_by_name(name && !ssl ? name : "tcp");
    if (!transport)
      return IRPC_EINVAL;
  }
  if (is_client ? o->tls_client != NULL : o->tls_server != NULL) {
    transport = is_client
                    ? irpc_tls_client_transport(o->tls_client, o->transport,
                                                o->connect_timeout_ms)
                    : irpc_tls_server_transport(o->tls_server, o->transport,
                                                o->connect_timeout_ms);
    if (!transport)
      return IRPC_ENOMEM;
  } else if (ssl) {
    return IRPC_EINVAL;
  }
  out->transport = transport;
  out->protocol = p;
  return 0;
}

int irpc__route_open(const irpc__route *r, irpc_connection **out,
                     irpc_duplex *d, int is_client,
                     const irpc_connection_options *opts,
                     const irpc__conn_owner *owner, void *owner_ud) {
  return irpc__connection_new(out, d, r->protocol, is_client, opts, owner,
                              owner_ud);
}

/* What is left of the connect timeout for the handshake (at least 1 ms:
 * the options allow no 0). */
static uint64_t time_left(const irpc__connect *k) {
  uint64_t now = uv_now(k->cn->loop);
  return k->deadline > now ? k->deadline - now : 1;
}

static void on_transport_connect(irpc_duplex *d, int status, void *ud) {
  irpc__connect *k = ud;
  const irpc__connector *cn = k->cn;
  if (!cn) { /* canceled; the library closes a failed duplex itself */
    if (status == 0)
      irpc_duplex_close(d, NULL, NULL);
    irpc_free(k);
    return;
  }
  irpc__timer_stop(cn->sched, &k->timer);
  irpc__route route = k->route;
  void *owner_ud = k->ud;
  int err = k->timed_out ? k->timed_out : status;
  irpc_connection_options o = *cn->options;
  o.connect_timeout_ms = time_left(k);
  irpc_free(k); /* `done` may start the next connect */
  irpc_connection *c = NULL;
  if (err == 0)
    err = irpc__route_open(&route, &c, d, 1, &o, cn->owner, owner_ud);
  cn->done(err ? NULL : c, err, owner_ud);
}

static void on_connect_timeout(irpc__timer *t) {
  irpc__connect *k = IRPC__CONTAINER_OF(t, irpc__connect, timer);
  /* Over TLS, a transport connected in time whose handshake did not
   * finish ends with the handshake's own error, as on the server. */
  k->timed_out =
      irpc__tls_handshaking(k->duplex) ? IRPC_ETLSTIMEDOUT : IRPC_ETIMEDOUT;
  irpc_duplex_close(k->duplex, NULL, NULL);
}

int irpc__connect_start(const irpc__connector *cn, const irpc_server_address *a,
                        const irpc__route *r, void *ud, irpc__connect **out) {
  irpc__connect *k = irpc_calloc(1, sizeof(*k));
  if (!k)
    return IRPC_ENOMEM;
  k->cn = cn;
  k->route = *r;
  k->ud = ud;
  uint64_t now = uv_now(cn->loop), ms = cn->options->connect_timeout_ms;
  k->deadline = ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
  irpc__timer_init(&k->timer, on_connect_timeout);
  int rc = irpc__timer_start(cn->sched, &k->timer, ms);
  if (rc == 0)
    rc = irpc_transport_connect(r->transport, cn->loop, a, &k->duplex,
                                on_transport_connect, k);
  if (rc) {
    irpc__timer_stop(cn->sched, &k->timer);
    irpc_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

void irpc__connect_stop(irpc__connect *k) {
  irpc_duplex_close(k->duplex, NULL, NULL);
}

void irpc__connect_cancel(irpc__connect *k) {
  irpc__timer_stop(k->cn->sched, &k->timer);
  k->cn = NULL;
  irpc_duplex_close(k->duplex, NULL, NULL);
}
