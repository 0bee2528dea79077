#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kit/net.h"
#ifdef IRPC_WITH_TLS
#include "kit/tls.h"
#endif

void net_rig_init(net_rig *r, int kind) {
  memset(r, 0, sizeof(*r));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  r->kind = kind;
  irpc_server_options_init(&r->sopts);
  irpc_connection_options_init(&r->copts);
  irpc_icerpc_options_init(&r->sicerpc);
  irpc_icerpc_options_init(&r->cicerpc);
  r->sopts.connection.icerpc = &r->sicerpc;
  r->copts.icerpc = &r->cicerpc;
  if (kind == NET_TCP) {
    snprintf(r->listen, sizeof r->listen, "icerpc://127.0.0.1:0");
  } else if (kind == NET_UDS) {
    strcpy(r->dir, "/tmp/irpc-conn-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->listen, sizeof r->listen, "unix:%s/s.sock", r->dir);
  } else {
    assert_irpc_ok(irpc_transport_memory_new(&r->memory));
    snprintf(r->listen, sizeof r->listen, "icerpc://mem%d?transport=memory",
             rand());
    r->sopts.connection.transport = r->memory;
    r->copts.transport = r->memory;
  }
#ifdef IRPC_WITH_TLS
  if (kind != NET_MEMORY &&
      kit_tls_env_contexts(&r->tls_server, &r->tls_client, kind == NET_UDS)) {
    r->sopts.connection.tls_server = r->tls_server;
    r->copts.tls_client = r->tls_client;
  }
#endif
  assert_irpc_ok(irpc_router_new(&r->router, &r->loop));
}

void net_rig_start(net_rig *r) {
  assert_irpc_ok(irpc_server_new(&r->server, &r->loop,
                                 irpc_router_dispatcher(r->router), &r->sopts));
  assert_irpc_ok(
      irpc_server_listen(r->server, r->listen, r->bound, sizeof r->bound));
}

void net_rig_fini(net_rig *r) {
  irpc_server_free(r->server);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  irpc_router_free(r->router);
  for (int i = 0; i < r->ndisps; i++)
    irpc_dispatcher_free(r->disps[i]);
  irpc_transport_free(r->memory);
  test_loop_finish(&r->loop);
  irpc_tls_client_free(r->tls_client);
  irpc_tls_server_free(r->tls_server);
  if (r->dir[0]) {
    char p[128];
    snprintf(p, sizeof p, "%s/s.sock", r->dir);
    unlink(p);
    rmdir(r->dir);
  }
}

irpc_dispatcher *net_map(net_rig *r, const char *path,
                         const irpc_dispatcher_ops *ops, void *cfg) {
  irpc_dispatcher *d;
  assert_true(r->ndisps < (int)(sizeof r->disps / sizeof r->disps[0]));
  assert_irpc_ok(irpc_dispatcher_new(&d, &r->loop, ops, cfg));
  assert_irpc_ok(irpc_router_map(r->router, path, d));
  r->disps[r->ndisps++] = d;
  return d;
}

void net_on_result(irpc_call *call, int err, irpc_incoming_response *resp,
                   void *ud) {
  (void)call;
  net_result *o = ud;
  o->done++;
  o->err = err;
  if (resp) {
    o->status = irpc_incoming_response_status(resp);
    if (o->payload)
      irpc_buf_move(o->payload, irpc_incoming_response_payload(resp));
    irpc_incoming_response_free(resp);
  }
}

void net_call_sync(uv_loop_t *loop, irpc_invoker *inv,
                   irpc_outgoing_request *req, net_result *o) {
  assert_irpc_ok(irpc_invoke(inv, req, net_on_result, o, NULL));
  kit_run_until(loop, &o->done);
}

irpc_invoker *net_client(net_rig *r) {
  irpc_invoker *inv;
  assert_irpc_ok(
      irpc_client_connection_new(&inv, &r->loop, r->bound, &r->copts));
  return inv;
}

void net_client_close(net_rig *r, irpc_invoker *inv) {
  int done = 0;
  assert_irpc_ok(irpc_client_connection_shutdown(inv, kit_status_cb, &done));
  kit_run_until(&r->loop, &done);
  assert_int_equal(done, 1);
  irpc_invoker_free(inv);
}
