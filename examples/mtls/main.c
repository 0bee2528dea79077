/* mtls: mutual TLS, and a middleware that authorizes each request by the
 * client's certificate.
 *
 * The server requires a client certificate issued by its CA (so every
 * connection that reaches a dispatcher is authenticated), and the
 * authorization middleware, first on the router, lets a request through
 * only when the verified certificate of its connection names an allowed
 * identity: here a SPIFFE-style URI in the subject alternative names. It
 * answers Unauthorized otherwise, without running the service. Two
 * clients call: alice (allowed) and mallory (valid certificate, not
 * allowed).
 *
 *   irpc-mtls DIR   (DIR holds ca.pem, server.pem/.key, alice.pem/.key,
 *                    mallory.pem/.key: run.sh makes them) */
#include <stdio.h>
#include <string.h>

#include <irpc/irpc.h>

/* ---- The authorization middleware ---- */

typedef struct authz {
  const char *const *allowed; /* "URI:spiffe://..." entries, NULL-ended */
} authz;

static int allowed(const authz *a, const irpc_tls_info *t) {
  if (!t || !t->peer_certificate || !t->peer_verified)
    return 0;
  for (size_t i = 0; i < t->sans_count; i++)
    for (const char *const *p = a->allowed; *p; p++)
      if (strcmp(t->sans[i], *p) == 0)
        return 1;
  return 0;
}

static void authz_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  const authz *a = *(const authz **)irpc_dispatcher_data(self);
  const irpc_connection_info *ci =
      irpc_incoming_request_connection_info(irpc_dispatch_request(d));
  const irpc_tls_info *t = ci ? ci->tls : NULL;
  if (!allowed(a, t)) {
    char msg[200];
    snprintf(msg, sizeof msg, "not allowed: %s",
             t && t->peer_certificate ? t->subject : "no certificate");
    irpc_dispatch_reply(d, IRPC_STATUS_UNAUTHORIZED, msg);
    return;
  }
  irpc_dispatch_next(d);
}

static int authz_init(irpc_dispatcher *self, const void *config) {
  *(const authz **)irpc_dispatcher_data(self) = config;
  return 0;
}

static const irpc_dispatcher_ops authz_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "authz",
    .data_size = sizeof(const authz *),
    .init = authz_init,
    .dispatch = authz_dispatch,
};

/* ---- The service: greets the caller by its certificate's name ---- */

static void hello_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  const irpc_connection_info *ci =
      irpc_incoming_request_connection_info(irpc_dispatch_request(d));
  char text[300];
  int n = snprintf(text, sizeof text, "Hello, %s!", ci->tls->subject);
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) == 0) {
    irpc_buf_append(irpc_outgoing_response_payload(r), text, (size_t)n);
    irpc_dispatch_complete(d, r);
  }
}

static const irpc_dispatcher_ops hello_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "hello",
    .dispatch = hello_dispatch,
};

/* ---- Two clients ---- */

typedef struct client {
  const char *name;
  irpc_tls_client *tls;
  irpc_invoker *conn;
  int done;
} client;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  client *c = ud;
  if (err) {
    printf("%s: %s\n", c->name, irpc_strerror(err));
  } else {
    irpc_bytes b = {0};
    irpc_buf_pullup(irpc_incoming_response_payload(resp), &b);
    uint64_t status = irpc_incoming_response_status(resp);
    const char *msg = irpc_incoming_response_error_message(resp);
    printf("%s: %s %.*s\n", c->name, irpc_status_name(status),
           status == IRPC_STATUS_OK ? (int)b.len : (int)strlen(msg ? msg : ""),
           status == IRPC_STATUS_OK ? (const char *)b.base : (msg ? msg : ""));
    irpc_incoming_response_free(resp);
  }
  c->done = 1;
}

static int file_options(irpc_tls_options *o, const char *dir, const char *who,
                        char *cert, char *key, char *ca) {
  irpc_tls_options_init(o);
  snprintf(ca, 256, "%s/ca.pem", dir);
  o->ca_file = ca;
  if (who) {
    snprintf(cert, 256, "%s/%s.pem", dir, who);
    snprintf(key, 256, "%s/%s.key", dir, who);
    o->cert_file = cert;
    o->key_file = key;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  uv_loop_t loop;
  uv_loop_init(&loop);
  char cert[256], key[256], ca[256];
  irpc_tls_options o;
  file_options(&o, dir, "server", cert, key, ca);
  o.client_auth = IRPC_TLS_CLIENT_AUTH_REQUIRED;
  irpc_tls_server *tls_server;
  int rc = irpc_tls_server_new(&tls_server, &o);
  if (rc) {
    fprintf(stderr, "server TLS: %s\n", irpc_strerror(rc));
    return 1;
  }

  static const char *const allow[] = {"URI:spiffe://example.org/alice", NULL};
  static const authz policy = {allow};
  irpc_router *router;
  irpc_dispatcher *mw, *hello;
  irpc_router_new(&router, &loop);
  irpc_dispatcher_new(&mw, &loop, &authz_ops, &policy);
  irpc_dispatcher_new(&hello, &loop, &hello_ops, NULL);
  irpc_router_use(router, mw);
  irpc_router_map(router, "/hello", hello);

  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.tls_server = tls_server;
  irpc_server *server;
  irpc_server_new(&server, &loop, irpc_router_dispatcher(router), &so);
  char bound[128];
  rc = irpc_server_listen(server, "icerpc://127.0.0.1:0", bound, sizeof bound);
  if (rc) {
    fprintf(stderr, "listen: %s\n", irpc_strerror(rc));
    return 1;
  }

  client clients[] = {{.name = "alice"}, {.name = "mallory"}};
  for (int i = 0; i < 2; i++) {
    client *c = &clients[i];
    file_options(&o, dir, c->name, cert, key, ca);
    rc = irpc_tls_client_new(&c->tls, &o);
    if (rc) {
      fprintf(stderr, "%s TLS: %s\n", c->name, irpc_strerror(rc));
      return 1;
    }
    irpc_connection_options co;
    irpc_connection_options_init(&co);
    co.tls_client = c->tls;
    irpc_client_connection_new(&c->conn, &loop, bound, &co);
    irpc_outgoing_request *req;
    irpc_outgoing_request_new(&req, "/hello", "greet");
    irpc_invoke_owned(c->conn, req, on_done, c, NULL);
    while (!c->done) /* one client after the other */
      uv_run(&loop, UV_RUN_ONCE);
  }

  for (int i = 0; i < 2; i++) {
    irpc_invoker_free(clients[i].conn);
    irpc_tls_client_free(clients[i].tls);
  }
  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_router_free(router); /* and the middleware it uses */
  irpc_dispatcher_free(hello);
  irpc_tls_server_free(tls_server);
  uv_run(&loop, UV_RUN_DEFAULT); /* the handles of the loop's scheduler */
  uv_loop_close(&loop);
  return 0;
}
