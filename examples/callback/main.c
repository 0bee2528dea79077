/* callback: clients subscribe to a server that pushes notifications back
 * over the clients' own connections (no listener on the client side), and
 * subscribe again when the server restarts. The contract is typed
 * (callback.slice): the client implements Listener, the server Feed, and
 * subscribe(listener: ListenerProxy) hands the server a proxy to the
 * client's Listener, as WCF duplex services and IceRPC do.
 *
 *   client i: connection with its own router serving Listener; a connect
 *             hook subscribes on every (re)connection, and when the
 *             connection is lost the client connects again
 *   server:   Feed.subscribe keeps a copy of the Listener proxy, which
 *             holds a reference to the caller's connection; a timer calls
 *             notify("tick N") on every subscriber (one-way); a closed
 *             connection drops its subscriber.
 *
 * Halfway, the server restarts on the same address and forgets every
 * subscriber, as a real server restart would: the clients notice their
 * connection closed, reconnect, and their connect hook (reconnected = 1)
 * subscribes again.
 *
 * Run it: ./irpc-callback [clients] [ticks]   (defaults: 3 clients, 3 ticks)
 * Client and server share one loop here to keep the example short; over
 * TCP the code is the same in two processes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#include "callback.slice.h"

#define MAX_CLIENTS 16

/* ---- Server ---- */

static Ticker_ListenerProxy subs[MAX_CLIENTS]; /* copies we own */
static int nsubs;
static int tick_no;
static int notifications_failed;

static void drop(irpc_connection *c, int err, void *ud) {
  (void)ud;
  for (int i = 0; i < nsubs; i++) {
    if (subs[i].p.conn == c) {
      printf("server: connection %llu closed (%s), subscriber dropped\n",
             (unsigned long long)irpc_connection_id(c),
             err == IRPC_ECLOSEDBYPEER ? "by the client" : irpc_strerror(err));
      irpc_slice_proxy_release(&subs[i].p);
      subs[i] = subs[--nsubs];
      return;
    }
  }
}

/* Feed.subscribe: `listener` was decoded against the connection the request
 * came on, so calling it calls that client back. It lives only as long as
 * the dispatch: keep a copy (it references the connection). */
static void subscribe(void *impl, irpc_slice_dispatch *sd,
                      const Ticker_ListenerProxy *listener) {
  (void)impl;
  irpc_connection *c = listener->p.conn; /* NULL through coloc */
  if (!c || nsubs == MAX_CLIENTS ||
      irpc_slice_proxy_copy(&subs[nsubs].p, &listener->p) != 0) {
    irpc_slice_dispatch_fail(sd, IRPC_STATUS_UNAVAILABLE, "No room.");
    return;
  }
  irpc_connection_on_close(c, drop, NULL);
  nsubs++;
  printf("server: connection %llu from %s subscribed\n",
         (unsigned long long)irpc_connection_id(c),
         irpc_connection_remote_address(c));
  Ticker_Feed_subscribe_reply(sd);
}

static const Ticker_Feed_ops feed_ops = {.subscribe = subscribe};

static void notified(irpc_slice_reply *reply, int err, void *ud) {
  (void)ud;
  if (err) {
    fprintf(stderr, "server: %s\n", irpc_slice_reply_message(reply));
    notifications_failed++;
  }
}

/* Pushes one notification to every subscriber over its own connection. */
static void tick(uv_timer_t *t) {
  (void)t;
  tick_no++;
  char text[32];
  int n = snprintf(text, sizeof text, "tick %d", tick_no);
  for (int i = 0; i < nsubs; i++)
    if (Ticker_Listener_notify(&subs[i], (irpc_str){text, (size_t)n}, NULL,
                               notified, NULL) != 0)
      notifications_failed++;
}

/* ---- Clients ---- */

typedef struct client {
  int index;
  int received;
  int leaving; /* shutting down: do not reconnect */
  int down;
  irpc_router *router;
  irpc_dispatcher *listener;
  irpc_invoker *conn;
  uv_timer_t retry; /* reconnect after a delay */
} client;

/* Listener.notify, called by the server over this client's connection. */
static void notify(void *impl, irpc_slice_dispatch *sd, irpc_str message) {
  client *c = impl;
  c->received++;
  printf("client %d: got \"%.*s\"\n", c->index, (int)message.len, message.ptr);
  Ticker_Listener_notify_reply(sd); /* one-way: nothing is sent back */
}

static const Ticker_Listener_ops listener_ops = {.notify = notify};

static void subscribed(irpc_slice_reply *reply, int err, void *ud) {
  client *c = ud;
  if (err)
    fprintf(stderr, "client %d: %s\n", c->index,
            irpc_slice_reply_message(reply));
}

/* Connecting failed (the server is not back yet) or the connection was
 * lost: try again in a moment. */
static void retry_now(uv_timer_t *t);

static void reconnect_later(client *c) {
  if (!c->leaving)
    uv_timer_start(&c->retry, retry_now, 20, 0);
}

static void connect_done(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  if (status != 0)
    reconnect_later(ud);
}

static void retry_now(uv_timer_t *t) {
  client *c = t->data;
  if (!c->leaving &&
      irpc_client_connection_connect(c->conn, connect_done, c) != 0)
    reconnect_later(c);
}

static void connection_lost(irpc_connection *conn, int err, void *ud) {
  client *c = ud;
  (void)conn;
  if (c->leaving)
    return;
  printf("client %d: connection lost (%s), reconnecting\n", c->index,
         irpc_strerror(err));
  reconnect_later(c);
}

/* Runs on every connection to the server, before the calls that waited for
 * it: whatever the server knew about this client is gone when it
 * restarted, so subscribe (again). */
static void on_connected(irpc_invoker *inv, const irpc_connect_event *ev,
                         void *ud) {
  client *c = ud;
  if (ev->reconnected)
    printf("client %d: reconnected (connection #%llu), subscribing again\n",
           c->index, (unsigned long long)ev->count);
  irpc_connection_on_close(ev->connection, connection_lost, c);
  /* The Feed at its default path, over this connection; and our Listener,
   * as a relative proxy (no invoker: it goes as its path, and the server
   * resolves it against this connection). */
  Ticker_FeedProxy feed = Ticker_FeedProxy_from(inv, NULL);
  Ticker_ListenerProxy me = Ticker_ListenerProxy_from(NULL, NULL);
  int rc = Ticker_Feed_subscribe(&feed, &me, NULL, subscribed, c);
  if (rc)
    fprintf(stderr, "client %d: subscribe: %s\n", c->index, irpc_strerror(rc));
}

static int client_start(client *c, uv_loop_t *loop, const char *address) {
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  int rc = irpc_router_new(&c->router, loop);
  if (rc == 0) /* serves Listener at its default path, /Ticker.Listener */
    rc = Ticker_Listener_map(c->router, NULL, &listener_ops, c, &c->listener);
  o.dispatcher = irpc_router_dispatcher(c->router); /* accept callbacks */
  if (rc == 0)
    rc = irpc_client_connection_new(&c->conn, loop, address, &o);
  if (rc == 0 &&
      irpc_client_connection_on_connect(c->conn, on_connected, c) < 0)
    rc = IRPC_ENOMEM;
  uv_timer_init(loop, &c->retry);
  c->retry.data = c;
  if (rc == 0)
    rc = irpc_client_connection_connect(c->conn, connect_done, c);
  return rc;
}

static void client_down(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  (void)status;
  ((client *)ud)->down = 1;
}

static int server_start(irpc_server **out, uv_loop_t *loop, irpc_router *router,
                        const char *listen, char *bound, size_t bound_len) {
  int rc = irpc_server_new(out, loop, irpc_router_dispatcher(router), NULL);
  if (rc == 0)
    rc = irpc_server_listen(*out, listen, bound, bound_len);
  if (rc)
    fprintf(stderr, "server: %s\n", irpc_strerror(rc));
  return rc;
}

static void server_down(irpc_server *s, int status, void *ud) {
  (void)s;
  (void)status;
  *(int *)ud = 1;
}

/* Ticks until every client got `ticks` notifications more. */
static void run_ticks(uv_timer_t *timer, client *clients, int nclients,
                      int ticks) {
  int base[MAX_CLIENTS];
  for (int i = 0; i < nclients; i++)
    base[i] = clients[i].received;
  uv_timer_start(timer, tick, 10, 10);
  int all = 0;
  while (!all) {
    uv_run(timer->loop, UV_RUN_ONCE);
    all = 1;
    for (int i = 0; i < nclients; i++)
      all = all && clients[i].received - base[i] >= ticks;
  }
  uv_timer_stop(timer);
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
  irpc_dispatcher *feed;
  irpc_server *server;
  char address[256];
  int rc = irpc_router_new(&router, &loop);
  if (rc == 0) /* serves Feed at its default path, /Ticker.Feed */
    rc = Ticker_Feed_map(router, NULL, &feed_ops, NULL, &feed);
  if (rc == 0)
    rc = server_start(&server, &loop, router, "icerpc://127.0.0.1:0", address,
                      sizeof address);
  if (rc)
    return 1;
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
  run_ticks(&timer, clients, nclients, ticks);

  /* The server restarts on the same address: its subscribers are gone
   * with it, and come back by themselves. */
  printf("server: restarting\n");
  int down = 0;
  irpc_server_shutdown(server, server_down, &down);
  while (!down)
    uv_run(&loop, UV_RUN_ONCE);
  irpc_server_free(server);
  if (server_start(&server, &loop, router, address, NULL, 0) != 0)
    return 1;
  printf("server: listening on %s again, %d subscribers\n", address, nsubs);
  while (nsubs < nclients)
    uv_run(&loop, UV_RUN_ONCE);
  run_ticks(&timer, clients, nclients, ticks);
  uv_close((uv_handle_t *)&timer, NULL);

  /* Clients leave; the server drops them as their connections close. */
  for (int i = 0; i < nclients; i++) {
    clients[i].leaving = 1;
    uv_timer_stop(&clients[i].retry);
    irpc_client_connection_shutdown(clients[i].conn, client_down, &clients[i]);
  }
  while (nsubs > 0)
    uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < nclients; i++) {
    while (!clients[i].down)
      uv_run(&loop, UV_RUN_ONCE);
    irpc_invoker_free(clients[i].conn);
    uv_close((uv_handle_t *)&clients[i].retry, NULL);
  }
  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  for (int i = 0; i < nclients; i++) {
    irpc_router_free(clients[i].router);
    irpc_dispatcher_free(clients[i].listener);
  }
  irpc_router_free(router);
  irpc_dispatcher_free(feed);
  uv_run(&loop, UV_RUN_DEFAULT);
  int ok = uv_loop_close(&loop) == 0 && notifications_failed == 0;
  printf("%d clients each received %d notifications over their own "
         "connection, before and after a server restart\n",
         nclients, ticks);
  return ok ? 0 : 1;
}
