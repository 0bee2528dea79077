/* libFuzzer target for whole ice sessions, through the public API only:
 *
 *   fuzz_ice_server  a real irpc_server speaking ice (a router with
 *                    dispatchers that answer, hold, fail and call the
 *                    client back over its connection) faces fuzzed ice
 *                    client peers on the memory transport.
 *
 * The input is a script:
 *
 *   byte 0   bit 0     the server compresses what it sends (irpc_ice_options
 *                      .compress);
 *            bit 1     the smallest max message size (256 bytes);
 *            bit 2     max_dispatches 1;
 *            bit 3     at the end the peers reset (else FIN and close);
 *            bit 4     a held dispatch completes as soon as it is canceled;
 *            bit 5     heartbeats every 2 ms, and the idle check.
 *   then operations, one byte each (low nibble: the operation, high
 *   nibble: its argument `a`), some followed by bytes of their own:
 *     0  SEND n, then n+1 bytes: the current peer writes them at once
 *     1  the current peer writes message a of a table of 16 well-formed ice
 *        messages (ValidateConnection, CloseConnection, requests two-way,
 *        one-way, idempotent, with a context and a facet, to each
 *        dispatcher, a batch, a compressed request, replies to the
 *        server's calls), its request id patched to the next byte
 *     2  run the loop a+1 turns without blocking
 *     3  let a+1 ms of real time pass (at most 8 ms an input)
 *     4  the current peer: FIN, close, abort, or switch to peer a>>2
 *     5  a new peer connects
 *     6  RELEASE i: complete held dispatch i (Ok, failure, NotFound)
 *     7  the server shuts down gracefully, shuts a connection down, aborts
 *        one
 *     8  the server calls the client of a connection (two-way or one-way)
 *
 * Checks (abort() on violation, beyond ASan, UBSan and LeakSanitizer):
 * every dispatch that enters a dispatcher is completed (none is left
 * held); a dispatch still held when its connection closed was canceled;
 * every connection closes; every call the
 * server makes completes exactly once; once the input ends and the peers are
 * gone, every connection closes within a bounded number of loop turns, and
 * after everything is freed the loop has no handle left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#include "fz_ice.h"

#define FZ_ADDR "ice://fz?transport=memory"
#define FZ_PEERS 4
#define FZ_HELD 16

typedef struct peer {
  irpc_duplex *d;
  int ready, ended, gone;
} peer;

typedef struct fz {
  uv_loop_t loop;
  irpc_transport *memory;
  irpc_router *router;
  irpc_dispatcher *echo, *hold, *fail, *back;
  irpc_server *server;
  peer peers[FZ_PEERS];
  int cur;
  irpc_dispatch *held[FZ_HELD];
  int held_canceled[FZ_HELD]; /* held[i] was canceled */
  int nheld;
  int release_on_cancel;
  long entered, left;
  long opened, closed;
  long calls, completed;
  int server_down; /* no new peer connects then: nobody listens */
} fz;

static fz *F;

/* ---- Dispatchers ---- */

static void reply(irpc_dispatch *d, uint64_t status, irpc_buf *payload) {
  F->left++;
  irpc_outgoing_response *r;
  if (irpc_outgoing_response_new(&r, status, NULL) != 0) {
    irpc_dispatch_complete(d, NULL);
    return;
  }
  if (payload)
    irpc_buf_move(irpc_outgoing_response_payload(r), payload);
  irpc_dispatch_complete(d, r);
}

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  F->entered++;
  reply(d, IRPC_STATUS_OK,
        irpc_incoming_request_payload(irpc_dispatch_request(d)));
}

static void fail_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  F->entered++;
  irpc_buf *p = irpc_incoming_request_payload(irpc_dispatch_request(d));
  reply(d,
        irpc_buf_len(p) ? IRPC_STATUS_APPLICATION_ERROR
                        : IRPC_STATUS_UNAUTHORIZED,
        p);
}

static void forget(irpc_dispatch *d) {
  for (int i = 0; i < F->nheld; i++)
    if (F->held[i] == d) {
      F->nheld--;
      F->held[i] = F->held[F->nheld];
      F->held_canceled[i] = F->held_canceled[F->nheld];
      return;
    }
}

static void hold_canceled(irpc_dispatch *d, int err, void *ud) {
  (void)err;
  (void)ud;
  for (int i = 0; i < F->nheld; i++)
    if (F->held[i] == d)
      F->held_canceled[i] = 1;
  if (F->release_on_cancel) {
    forget(d);
    reply(d, IRPC_STATUS_OK, NULL);
  }
}

static void hold_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  F->entered++;
  if (F->nheld == FZ_HELD) {
    reply(d, IRPC_STATUS_OK, NULL);
    return;
  }
  F->held_canceled[F->nheld] = 0;
  F->held[F->nheld++] = d;
  irpc_dispatch_on_cancel(d, hold_canceled, NULL);
}

static void on_server_call(irpc_call *call, int err,
                           irpc_incoming_response *resp, void *ud) {
  (void)call;
  (void)err;
  (void)ud;
  F->completed++;
  irpc_incoming_response_free(resp);
}

static void server_call(irpc_connection *c, int oneway, const char *op) {
  irpc_outgoing_request *q;
  if (irpc_outgoing_request_new(&q, "/cb", op) != 0)
    return;
  irpc_outgoing_request_set_oneway(q, oneway);
  irpc_buf_append(irpc_outgoing_request_payload(q), "\x01z", 2);
  F->calls++;
  if (irpc_invoke_owned(irpc_connection_invoker(c), q, on_server_call, NULL,
                        NULL) != 0)
    F->completed++;
}

/* Calls the client back on the request's connection, answers at once. */
static void back_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  F->entered++;
  irpc_connection *c =
      irpc_incoming_request_connection(irpc_dispatch_request(d));
  if (c)
    server_call(c, 0, "back");
  reply(d, IRPC_STATUS_OK, NULL);
}

#define OPS(n, fn)                                                             \
  static const irpc_dispatcher_ops n = {                                       \
      .struct_size = sizeof(irpc_dispatcher_ops), .name = #n, .dispatch = fn}
OPS(echo_ops, echo_dispatch);
OPS(hold_ops, hold_dispatch);
OPS(fail_ops, fail_dispatch);
OPS(back_ops, back_dispatch);

/* ---- Peers ---- */

static void peer_read(irpc_duplex *d, int status, const uint8_t *data,
                      size_t len, void *ud) {
  (void)d;
  (void)data;
  (void)len;
  peer *p = ud;
  if (status)
    p->ended = 1;
}

static void peer_connected(irpc_duplex *d, int status, void *ud) {
  peer *p = ud;
  if (p->d != d)
    return; /* closed while connecting: the slot may hold another peer */
  p->ready = 1;
  if (status) {
    p->gone = 1;
    p->d = NULL;
    return;
  }
  irpc_duplex_read_start(d, peer_read, p);
}

static void peer_new(fz *x) {
  for (int i = 0; i < FZ_PEERS; i++) {
    peer *p = &x->peers[i];
    if (p->d)
      continue;
    memset(p, 0, sizeof(*p));
    irpc_server_address *a;
    if (irpc_server_address_parse(&a, FZ_ADDR) != 0)
      return;
    if (irpc_transport_connect(x->memory, &x->loop, a, &p->d, peer_connected,
                               p) != 0)
      p->d = NULL;
    irpc_server_address_free(a);
    x->cur = i;
    return;
  }
}

static void peer_write(peer *p, const uint8_t *b, size_t n) {
  if (!p->d || !p->ready || !n)
    return;
  irpc_buf *buf;
  if (irpc_buf_new(&buf) != 0)
    return;
  if (irpc_buf_append(buf, b, n) == 0)
    irpc_duplex_write(p->d, buf, NULL, NULL);
  irpc_buf_free(buf);
}

static void peer_end(peer *p, int how) {
  if (!p->d)
    return;
  if (how == 0) {
    irpc_duplex_shutdown(p->d, NULL, NULL);
    return;
  }
  if (how == 1)
    irpc_duplex_shutdown(p->d, NULL, NULL);
  if (how == 2)
    irpc_duplex_abort(p->d, NULL, NULL);
  else
    irpc_duplex_close(p->d, NULL, NULL);
  p->d = NULL;
  p->gone = 1;
}

/* ---- Well-formed messages ---- */

static const char *const messages[] = {
    /* ValidateConnection, CloseConnection */
    "496365500100010003000e000000",
    "496365500100010004010e000000",
    /* echo two-way, one-way, idempotent with a context, a facet */
    "496365500100010000002a00000001000000046563686f0000046563686f00000a00000"
    "0010103010203",
    "496365500100010000002a00000000000000046563686f0000046563686f00000a00000"
    "0010103010203",
    "496365500100010000002e00000001000000046563686f0000046563686f0201016b017"
    "60a000000010103010203",
    "496365500100010000002c00000001000000046563686f000101660465636"
    "86f00000a000000010103010203",
    /* hold, fail (a payload: user exception; none: Unauthorized), back */
    "49636550010001000000240000000100000004686f6c640000026f700000060000000101",
    "496365500100010000002600000001000000046661696c0000026f70000008000000010101"
    "ff",
    "496365500100010000002400000001000000046661696c0000026f700000060000000101",
    "496365500100010000002400000001000000046261636b0000026f700000060000000101",
    /* a batch of two echoes, and one to nobody */
    "496365500100010001003e00000002000000046563686f00000470696e67000006000"
    "000010104"
    "6563686f0000086963655f70696e670100060000000101",
    "4963655001000100000028000000010000000"
    "66e6f626f647900000470696e670000060000000101",
    /* a compressed echo (256 zero bytes) */
    "496365500100010000024e0000002b010000425a6831314159265359e2a689500000"
    "0bc100e4180a408008a0003100d34d034f54f483d20e364030aae9625179458af7f1"
    "77245385090e2a689500",
    /* replies to the server's calls: Ok, user exception, UnknownException */
    "49636550010001000200190000000100000000060000000101",
    "496365500100010002001a000000010000000107000000010100",
    "49636550010001000200180000000100000007046f6f7073",
};

/* ---- The run ---- */

static void on_open(irpc_server *s, irpc_connection *c, int err, void *ud) {
  (void)s;
  (void)c;
  (void)err;
  ((fz *)ud)->opened++;
}

static void on_close(irpc_server *s, irpc_connection *c, int err, void *ud) {
  (void)s;
  (void)c;
  (void)err;
  ((fz *)ud)->closed++;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  if (len < 1)
    return 0;
  fz x;
  memset(&x, 0, sizeof x);
  F = &x;
  uint8_t flags = in[0];
  x.release_on_cancel = (flags >> 4) & 1;
  CHECK(uv_loop_init(&x.loop) == 0);
  CHECK(irpc_transport_memory_new(&x.memory) == 0);
  CHECK(irpc_router_new(&x.router, &x.loop) == 0);
  CHECK(irpc_dispatcher_new(&x.echo, &x.loop, &echo_ops, NULL) == 0);
  CHECK(irpc_dispatcher_new(&x.hold, &x.loop, &hold_ops, NULL) == 0);
  CHECK(irpc_dispatcher_new(&x.fail, &x.loop, &fail_ops, NULL) == 0);
  CHECK(irpc_dispatcher_new(&x.back, &x.loop, &back_ops, NULL) == 0);
  irpc_router_map(x.router, "/echo", x.echo);
  irpc_router_map(x.router, "/hold", x.hold);
  irpc_router_map(x.router, "/fail", x.fail);
  irpc_router_map(x.router, "/back", x.back);
  irpc_server_options so;
  irpc_server_options_init(&so);
  irpc_ice_options io;
  irpc_ice_options_init(&io);
  io.compress = flags & 1;
  if (flags & 2)
    io.max_message_size = 256;
  if (flags & 32) {
    io.idle_timeout_ms = 4;
    io.idle_check = 1;
  }
  so.connection.ice = &io;
  so.connection.transport = x.memory;
  so.connection.shutdown_timeout_ms = 20;
  if (flags & 4)
    so.connection.max_dispatches = 1;
  CHECK(irpc_server_new(&x.server, &x.loop, irpc_router_dispatcher(x.router),
                        &so) == 0);
  irpc_server_on_connection(x.server, on_open, on_close, &x);
  CHECK(irpc_server_listen(x.server, FZ_ADDR, NULL, 0) == 0);
  peer_new(&x);
  unsigned slept = 0;
  uint8_t msg[512];
  for (size_t i = 1; i < len; i++) {
    uint8_t op = in[i] & 15, a = in[i] >> 4;
    peer *p = &x.peers[x.cur];
    switch (op) {
    case 0: {
      size_t n = (size_t)a + 1;
      if (i + 1 + n > len)
        n = len - i - 1;
      peer_write(p, in + i + 1, n);
      i += n;
      break;
    }
    case 1: {
      size_t n =
          fz_unhex(msg, messages[a % (sizeof messages / sizeof *messages)]);
      if (i + 1 < len && n > 18 && msg[8] != 1 && msg[9] != 2)
        msg[14] = in[++i]; /* the request id */
      peer_write(p, msg, n);
      break;
    }
    case 2:
      fz_turns(&x.loop, a);
      break;
    case 3:
      fz_wait(&x.loop, &slept, a);
      break;
    case 4:
      if ((a & 3) == 3)
        x.cur = (a >> 2) % FZ_PEERS;
      else
        peer_end(p, a & 3);
      break;
    case 5:
      if (!x.server_down)
        peer_new(&x);
      break;
    case 6:
      if (x.nheld) {
        irpc_dispatch *d = x.held[a % x.nheld];
        forget(d);
        reply(d,
              a & 1 ? IRPC_STATUS_NOT_FOUND
                    : (a & 2 ? IRPC_STATUS_INTERNAL_ERROR : IRPC_STATUS_OK),
              NULL);
      }
      break;
    case 7: {
      irpc_connection *cs[8];
      size_t n = irpc_server_connections(x.server, cs, 8);
      if (a == 0) {
        irpc_server_shutdown(x.server, NULL, NULL);
        x.server_down = 1;
      } else if (n && (a & 1))
        irpc_connection_shutdown(cs[a % n], NULL, NULL);
      else if (n)
        irpc_connection_abort(cs[a % n], 0);
      break;
    }
    case 8: {
      irpc_connection *cs[8];
      size_t n = irpc_server_connections(x.server, cs, 8);
      if (n)
        server_call(cs[a % n], a & 1, "cb");
      break;
    }
    default:
      break;
    }
  }
  /* The end: the peers go, the held dispatches complete (or are canceled),
   * everything closes within a bounded number of turns. */
  for (int k = 0; k < FZ_PEERS; k++)
    peer_end(&x.peers[k], flags & 8 ? 2 : 1);
  for (int turns = 0;
       turns < 2000 && irpc_server_connections(x.server, NULL, 0) > 0;
       turns++) {
    while (x.nheld) {
      irpc_dispatch *d = x.held[0];
      forget(d);
      reply(d, IRPC_STATUS_OK, NULL);
    }
    fz_run_ms(&x.loop, 1);
  }
  /* Every connection closed (one closed before it was established is
   * not counted as opened). */
  CHECK(irpc_server_connections(x.server, NULL, 0) == 0);
  CHECK(x.closed >= x.opened);
  /* A dispatch still held lost its connection (one that closed before the
   * loop above, or in its last turn): it was canceled, and the dispatcher
   * still completes it. */
  while (x.nheld) {
    irpc_dispatch *d = x.held[0];
    CHECK(x.held_canceled[0]);
    forget(d);
    reply(d, IRPC_STATUS_OK, NULL);
  }
  irpc_server_free(x.server);
  uv_run(&x.loop, UV_RUN_DEFAULT);
  CHECK(x.nheld == 0);
  CHECK(x.entered == x.left);
  CHECK(x.completed == x.calls);
  irpc_router_free(x.router);
  irpc_dispatcher_free(x.echo);
  irpc_dispatcher_free(x.hold);
  irpc_dispatcher_free(x.fail);
  irpc_dispatcher_free(x.back);
  irpc_transport_free(x.memory);
  uv_run(&x.loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&x.loop) == 0);
  return 0;
}
