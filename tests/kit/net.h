/* The network rig of the tests that go over real transports: a router and
 * a server over TCP, a Unix domain socket or the in-memory transport,
 * client connections and synchronous calls. */
#ifndef IRPC_TESTS_KIT_NET_H
#define IRPC_TESTS_KIT_NET_H

#include "kit/kit.h"

/* The transports under test. */
enum { NET_TCP, NET_UDS, NET_MEMORY };

typedef struct net_rig {
  uv_loop_t loop;
  int kind;
  char dir[64];
  char listen[160];
  char bound[256];
  irpc_transport *memory;
  irpc_router *router;
  irpc_server *server;
  irpc_server_options sopts;
  irpc_connection_options copts;
  /* The icerpc options sopts and copts point to (IceRPC's defaults). */
  irpc_icerpc_options sicerpc, cicerpc;
  irpc_dispatcher *disps[8];
  int ndisps;
  /* With IRPC_TEST_TLS set (kit/tls.h), a TCP or UDS rig's server and
   * client options carry these: the same tests over TLS. */
  irpc_tls_server *tls_server;
  irpc_tls_client *tls_client;
} net_rig;

/* A loop, a router and default options for a server of `kind` (the
 * options may be changed before net_rig_start); over TLS when the
 * environment says so (IRPC_TEST_TLS, kit/tls.h). */
void net_rig_init(net_rig *r, int kind);
/* Creates the server and listens; r->bound is its address. */
void net_rig_start(net_rig *r);
/* Frees the server, the router and the mapped dispatchers, then checks that
 * the loop closes. */
void net_rig_fini(net_rig *r);

/* Maps `path` to a new dispatcher of `ops` (freed by net_rig_fini). */
irpc_dispatcher *net_map(net_rig *r, const char *path,
                         const irpc_dispatcher_ops *ops, void *cfg);

/* What a call ended with; `payload`, when set, receives the response
 * payload. */
typedef struct net_result {
  int done;
  int err;
  uint64_t status;
  irpc_buf *payload;
} net_result;

/* The completion callback filling a net_result (user data). */
void net_on_result(irpc_call *call, int err, irpc_incoming_response *resp,
                   void *ud);
/* Invokes and runs the loop until the call completed. */
void net_call_sync(uv_loop_t *loop, irpc_invoker *inv,
                   irpc_outgoing_request *req, net_result *o);
/* A client connection to the rig's server, with r->copts. */
irpc_invoker *net_client(net_rig *r);
/* Shuts a client connection down gracefully (asserting it ends with 0) and
 * frees it. */
void net_client_close(net_rig *r, irpc_invoker *inv);

#endif
