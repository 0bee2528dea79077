/* callback: clients subscribe to a server that pushes notifications back
 * over the clients' own connections (no listener on the client side).
 *
 *   client i: connection with its own router: /notify counts messages
 *   server:   /subscribe keeps a reference to the caller's connection;
 *             a timer sends "tick N" to every subscriber, one-way;
 *             a closed connection drops its subscriber.
 *
 * Run it: ./irpc-callback [clients] [ticks]   (defaults: 3 clients, 3 ticks)
 * Client and server share one loop here to keep the example short; over
 * TCP the code is the same in two processes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#define MAX_CLIENTS 16

/* ---- Server ---- */

typedef struct subscriber {
  irpc_connection *conn; /* our reference */
  long token;            /* close notification */
} subscriber;

static subscriber subs[MAX_CLIENTS];
static int nsubs;
static int tick_no;
static int notifications_failed;

static void drop(irpc_connection *c, int err, void *ud) {
  (void)ud;
  for (int i = 0; i < nsubs; i++) {
    if (subs[i].conn == c) {
      printf("server: connection %llu closed (%s), subscriber dropped\n",
             (unsigned long long)irpc_connection_id(c),
             err == IRPC_ECLOSEDBYPEER ? "by the client" : irpc_strerror(err));
      irpc_connection_unref(c);
      subs[i] = subs[--nsubs];
      return;
    }
  }
}

static void subscribe(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_connection *c =
      irpc_incoming_request_connection(irpc_dispatch_request(d));
  if (!c || nsubs == MAX_CLIENTS) {
    irpc_dispatch_reply(d, IRPC_STATUS_UNAVAILABLE, "No room.");
    return;
  }
  subs[nsubs].conn = irpc_connection_ref(c);
  subs[nsubs].token = irpc_connection_on_close(c, drop, NULL);
  nsubs++;
  printf("server: connection %llu from %s subscribed\n",
         (unsigned long long)irpc_connection_id(c),
         irpc_connection_remote_address(c));
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static const irpc_dispatcher_ops subscribe_ops = {.name = "subscribe",
                                                  .dispatch = subscribe};

static void notified(irpc_call *call, int err, irpc_incoming_response *resp,
                     void *ud) {
  (void)call;
  irpc_outgoing_request_free(ud);
  if (err)
    notifications_failed++;
  irpc_incoming_response_free(resp);
}

/* Pushes one notification to every subscriber over its own connection. */
static void tick(uv_timer_t *t) {
  (void)t;
  tick_no++;
  for (int i = 0; i < nsubs; i++) {
    irpc_outgoing_request *req;
    char text[32];
    int n = snprintf(text, sizeof text, "tick %d", tick_no);
    if (irpc_outgoing_request_new(&req, "/notify", "tick") != 0)
      continue;
    irpc_outgoing_request_set_oneway(req, 1);
    irpc_buf_append(irpc_outgoing_request_payload(req), text, (size_t)n);
    if (irpc_invoke(irpc_connection_invoker(subs[i].conn), req, notified, req,
                    NULL) != 0)
      irpc_outgoing_request_free(req);
  }
}

/* ---- Clients ---- */

typedef struct client {
  int index;
  int received;
  int subscribed;
  int down;
  irpc_router *router;
  irpc_dispatcher *notify;
  irpc_invoker *conn;
  irpc_outgoing_request *req;
} client;

static void on_notify(irpc_dispatcher *self, irpc_dispatch *d) {
  client *c = *(client **)irpc_dispatcher_data(self);
  char text[32] = {0};
  irpc_buf *p = irpc_incoming_request_payload(irpc_dispatch_request(d));
  irpc_buf_copyout(p, 0, text, irpc_buf_len(p) < 31 ? irpc_buf_len(p) : 31);
  c->received++;
  printf("client %d: got \"%s\"\n", c->index, text);
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static int notify_init(irpc_dispatcher *self, const void *config) {
  *(const client **)irpc_dispatcher_data(self) = config;
  return 0;
}

static const irpc_dispatcher_ops notify_ops = {.name = "notify",
                                               .data_size = sizeof(client *),
                                               .init = notify_init,
                                               .dispatch = on_notify};

static void subscribed(irpc_call *call, int err, irpc_incoming_response *resp,
                       void *ud) {
  (void)call;
  client *c = ud;
  if (err || irpc_incoming_response_status(resp) != IRPC_STATUS_OK)
    fprintf(stderr, "client %d: subscribe failed\n", c->index);
  else
    c->subscribed = 1;
  irpc_incoming_response_free(resp);
}

static void client_down(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  (void)status;
  ((client *)ud)->down = 1;
}

static int client_start(client *c, uv_loop_t *loop, const char *address) {
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  int rc = irpc_router_new(&c->router, loop);
  if (rc == 0)
    rc = irpc_dispatcher_new(&c->notify, loop, &notify_ops, c);
  if (rc == 0)
    rc = irpc_router_map(c->router, "/notify", c->notify);
  o.dispatcher = irpc_router_dispatcher(c->router); /* accept callbacks */
  if (rc == 0)
    rc = irpc_client_connection_new(&c->conn, loop, address, &o);
  if (rc == 0)
    rc = irpc_outgoing_request_new(&c->req, "/subscribe", "subscribe");
  if (rc == 0)
    rc = irpc_invoke(c->conn, c->req, subscribed, c, NULL);
  return rc;
}

int main(int argc, char **argv) {
  int nclients = argc > 1 ? atoi(argv[1]) : 3;
  int ticks = argc > 2 ? atoi(argv[2]) : 3;
  if (nclients < 1 || nclients > MAX_CLIENTS || ticks < 1) {
    fprintf(stderr, "usage: irpc-callback [clients 1..16] [ticks]\n");
    return 2;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_router *router;
  irpc_dispatcher *sub;
  irpc_server *server;
  char address[256];
  int rc = irpc_router_new(&router, &loop);
  if (rc == 0)
    rc = irpc_dispatcher_new(&sub, &loop, &subscribe_ops, NULL);
  if (rc == 0)
    rc = irpc_router_map(router, "/subscribe", sub);
  if (rc == 0)
    rc = irpc_server_new(&server, &loop, irpc_router_dispatcher(router), NULL);
  if (rc == 0)
    rc = irpc_server_listen(server, "icerpc://127.0.0.1:0", address,
                            sizeof address);
  if (rc) {
    fprintf(stderr, "server: %s\n", irpc_strerror(rc));
    return 1;
  }
  printf("server: listening on %s\n", address);

  client clients[MAX_CLIENTS];
  memset(clients, 0, sizeof clients);
  for (int i = 0; i < nclients; i++) {
    clients[i].index = i + 1;
    if ((rc = client_start(&clients[i], &loop, address)) != 0) {
      fprintf(stderr, "client: %s\n", irpc_strerror(rc));
      return 1;
    }
  }
  while (nsubs < nclients)
    uv_run(&loop, UV_RUN_ONCE);

  uv_timer_t timer;
  uv_timer_init(&loop, &timer);
  uv_timer_start(&timer, tick, 10, 10);
  int all = 0;
  while (!all) {
    uv_run(&loop, UV_RUN_ONCE);
    all = 1;
    for (int i = 0; i < nclients; i++)
      all = all && clients[i].received >= ticks;
  }
  uv_timer_stop(&timer);
  uv_close((uv_handle_t *)&timer, NULL);

  /* Clients leave; the server drops them as their connections close. */
  for (int i = 0; i < nclients; i++)
    irpc_client_connection_shutdown(clients[i].conn, client_down, &clients[i]);
  while (nsubs > 0)
    uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < nclients; i++) {
    while (!clients[i].down)
      uv_run(&loop, UV_RUN_ONCE);
    irpc_invoker_free(clients[i].conn);
    irpc_outgoing_request_free(clients[i].req);
  }
  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  for (int i = 0; i < nclients; i++) {
    irpc_router_free(clients[i].router);
    irpc_dispatcher_free(clients[i].notify);
  }
  irpc_router_free(router);
  irpc_dispatcher_free(sub);
  uv_run(&loop, UV_RUN_DEFAULT);
  int ok = uv_loop_close(&loop) == 0 && notifications_failed == 0;
  printf("%d clients each received %d notifications over their own "
         "connection\n",
         nclients, ticks);
  return ok ? 0 : 1;
}
