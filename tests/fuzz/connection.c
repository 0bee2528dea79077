/* libFuzzer target for whole connections: a real irpc server, or a real
 * irpc client connection with calls in flight, faces a peer whose bytes are
 * the input, over the memory transport, with the loop run between pieces.
 *
 * The first byte configures the run:
 *   bit 0     the endpoint under test is a client connection (else a
 *             server with an echo service);
 *   bits 1-3  the input is fed in pieces of 1, 2, 3, 7, 16, 64, 256 bytes
 *             or all at once;
 *   bits 4-5  the client under test starts 0-3 calls at once (the last of
 *             three is one-way), and one more half-way through;
 *   bit 6     the first call is canceled half-way through;
 *   bit 7     the peer resets the connection at the end (else it closes
 *             its side gracefully and keeps reading).
 * The rest is what the peer sends (gen_connection_corpus.py writes seeds
 * that start with a real handshake).
 *
 * Checks, beyond the sanitizers: no crash, no leak, no hang (libFuzzer's
 * -timeout), every call's callback runs exactly once by the time the
 * client is freed, and the loop closes with nothing left open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#define FZ_SERVER "icerpc://fz?transport=memory"
#define FZ_MAX_CALLS 4

static const size_t piece_sizes[8] = {1, 2, 3, 7, 16, 64, 256, SIZE_MAX};

typedef struct fz {
  uv_loop_t loop;
  irpc_transport *memory;
  irpc_duplex *peer;
  irpc_listener *listener;
  int connected;
  int ending; /* teardown started: no new peer */
  /* Client under test. */
  irpc_invoker *client;
  irpc_call *calls[FZ_MAX_CALLS];
  irpc_outgoing_request *reqs[FZ_MAX_CALLS];
  int ends[FZ_MAX_CALLS];
  int started;
  /* Server under test. */
  irpc_router *router;
  irpc_dispatcher *echo;
  irpc_server *server;
} fz;

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz_connection: %s\n", what);
    abort();
  }
}

/* ---- The echo service of the server under test ---- */

static void echo(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL)) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_buf_move(irpc_outgoing_response_payload(resp),
                irpc_incoming_request_payload(req));
  irpc_dispatch_complete(d, resp);
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo};

/* ---- The peer: reads and drops what the endpoint sends ---- */

static void peer_on_read(irpc_duplex *d, int status, const uint8_t *data,
                         size_t len, void *ud) {
  (void)d, (void)status, (void)data, (void)len, (void)ud;
}

static void peer_on_connect(irpc_duplex *d, int status, void *ud) {
  fz *f = ud;
  f->connected = status == 0 ? 1 : -1;
  if (status == 0)
    irpc_duplex_read_start(d, peer_on_read, f);
}

static void peer_on_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  fz *f = ud;
  if (f->peer || f->ending) { /* a reconnect: refuse it */
    irpc_duplex_abort(d, NULL, NULL);
    return;
  }
  f->peer = d;
  f->connected = 1;
  irpc_duplex_read_start(d, peer_on_read, f);
}

static void peer_send(fz *f, const uint8_t *data, size_t len) {
  if (!f->peer || irpc_duplex_closing(f->peer))
    return;
  irpc_buf *b;
  if (irpc_buf_new(&b))
    return;
  if (irpc_buf_append(b, data, len) == 0)
    irpc_duplex_write(f->peer, b, NULL, NULL);
  irpc_buf_free(b);
}

/* ---- Calls of the client under test ---- */

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  fz *f = ud;
  (void)err;
  int i = 0;
  while (i < f->started && f->calls[i] != call)
    i++;
  check(i < f->started, "a callback for a call never started");
  check(f->ends[i]++ == 0, "a call completed twice");
  f->calls[i] = NULL;
  irpc_incoming_response_free(resp);
}

static void start_call(fz *f, int oneway) {
  if (f->started == FZ_MAX_CALLS)
    return;
  int i = f->started;
  irpc_outgoing_request *req;
  if (irpc_outgoing_request_new(&req, "/echo", "op"))
    return;
  irpc_buf_append(irpc_outgoing_request_payload(req), "ping", 4);
  if (oneway)
    irpc_outgoing_request_set_oneway(req, 1);
  f->reqs[i] = req;
  f->started++;
  if (irpc_invoke(f->client, req, on_done, f, &f->calls[i]) != 0)
    f->ends[i] = 1; /* refused at once: no callback */
}

/* ---- One run ---- */

static void run_pieces(fz *f, const uint8_t *data, size_t size, size_t piece,
                       int cfg) {
  size_t half = size / 2;
  int halfway = 0;
  for (size_t off = 0; off < size;) {
    size_t n = size - off < piece ? size - off : piece;
    peer_send(f, data + off, n);
    off += n;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    if (!halfway && off >= half) {
      halfway = 1;
      if (f->client) {
        if ((cfg & 0x40) && f->calls[0])
          irpc_call_cancel(f->calls[0], IRPC_ECANCELED);
        start_call(f, 0);
      }
    }
  }
}

static void setup_server(fz *f) {
  irpc_server_options so;
  irpc_server_options_init(&so);
  so.connection.transport = f->memory;
  check(irpc_router_new(&f->router, &f->loop) == 0 &&
            irpc_dispatcher_new(&f->echo, &f->loop, &echo_ops, NULL) == 0 &&
            irpc_router_map(f->router, "/echo", f->echo) == 0 &&
            irpc_server_new(&f->server, &f->loop,
                            irpc_router_dispatcher(f->router), &so) == 0 &&
            irpc_server_listen(f->server, FZ_SERVER, NULL, 0) == 0,
        "server setup");
  irpc_server_address *a;
  check(irpc_server_address_parse(&a, FZ_SERVER) == 0, "address");
  check(irpc_transport_connect(f->memory, &f->loop, a, &f->peer,
                               peer_on_connect, f) == 0,
        "connect");
  irpc_server_address_free(a);
  while (!f->connected)
    uv_run(&f->loop, UV_RUN_ONCE);
}

static void on_connect(irpc_invoker *inv, int status, void *ud) {
  (void)inv, (void)status, (void)ud;
}

static void setup_client(fz *f, int calls) {
  irpc_server_address *a;
  check(irpc_server_address_parse(&a, FZ_SERVER) == 0, "address");
  check(irpc_transport_listen(f->memory, &f->loop, a, peer_on_accept, f,
                              &f->listener) == 0,
        "listen");
  irpc_server_address_free(a);
  irpc_connection_options co;
  irpc_connection_options_init(&co);
  co.transport = f->memory;
  check(irpc_client_connection_new(&f->client, &f->loop, FZ_SERVER, &co) == 0,
        "client");
  check(irpc_client_connection_connect(f->client, on_connect, f) == 0,
        "connect");
  for (int i = 0; i < calls; i++)
    start_call(f, i == 2);
  while (!f->connected)
    uv_run(&f->loop, UV_RUN_ONCE);
}

static void print_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "open handle: %s%s\n", uv_handle_type_name(h->type),
          uv_is_active(h) ? " (active)" : "");
}

static void teardown(fz *f, int reset) {
  f->ending = 1;
  if (f->peer) {
    if (reset)
      irpc_duplex_abort(f->peer, NULL, NULL);
    else
      irpc_duplex_close(f->peer, NULL, NULL);
    f->peer = NULL;
  }
  uv_run(&f->loop, UV_RUN_NOWAIT);
  if (f->client) {
    irpc_invoker_free(f->client);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    for (int i = 0; i < f->started; i++)
      check(f->ends[i] == 1, "a call never completed");
  }
  irpc_server_free(f->server);
  irpc_listener_close(f->listener, NULL, NULL);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  irpc_router_free(f->router);
  irpc_dispatcher_free(f->echo);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  for (int i = 0; i < f->started; i++)
    irpc_outgoing_request_free(f->reqs[i]);
  irpc_transport_free(f->memory);
  if (uv_loop_close(&f->loop) != 0) {
    uv_walk(&f->loop, print_handle, NULL);
    check(0, "the loop has handles left open");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  int cfg = data[0];
  fz f;
  memset(&f, 0, sizeof f);
  check(uv_loop_init(&f.loop) == 0, "loop");
  check(irpc_transport_memory_new(&f.memory) == 0, "memory transport");
  if (cfg & 1)
    setup_client(&f, (cfg >> 4) & 3);
  else
    setup_server(&f);
  if (f.connected == 1)
    run_pieces(&f, data + 1, size - 1, piece_sizes[(cfg >> 1) & 7], cfg);
  teardown(&f, cfg & 0x80);
  return 0;
}
