/* libFuzzer target for an ice client connection, through the public API
 * only:
 *
 *   fuzz_ice_client  a real irpc client connection speaking ice (with a
 *                    dispatcher for the server's calls back, when asked)
 *                    faces a fuzzed ice server peer on the memory
 *                    transport while calls of every kind are in flight.
 *
 * The input is a script:
 *
 *   byte 0   bit 0     the client compresses what it sends (irpc_ice_options
 *                      .compress);
 *            bit 1     the smallest max message size (256 bytes);
 *            bit 2     the client has a dispatcher (echo) for the server's
 *                      requests over its connection;
 *            bit 3     at the end the peers reset (else FIN and close);
 *            bit 4     heartbeats every 2 ms, and the idle check;
 *            bit 5     a connect timeout of 4 ms.
 *   then operations, one byte each (low nibble: the operation, high
 *   nibble: its argument `a`), some followed by bytes of their own:
 *     0  SEND n, then n+1 bytes: the current peer writes them at once
 *     1  the current peer writes message a of a table of 16 well-formed
 *        ice messages (ValidateConnection, CloseConnection, replies of
 *        every status, a compressed reply, a status 1 reply, requests of
 *        the server to the client, a batch), its request id patched to the
 *        next byte (not in a compressed message)
 *     2  run the loop a+1 turns without blocking
 *     3  let a+1 ms of real time pass (at most 8 ms an input)
 *     4  the current peer: FIN, close, abort, or switch to peer a>>2
 *     5  CALL: start a call of kind a&7 (two-way, one-way, idempotent,
 *        with a context, with a facet, compressed, not compressed, a big
 *        payload); a&8: deliberately uncompressible payload
 *     6  CANCEL: cancel call a among those under way
 *     7  the client shuts down gracefully (a even) or connects now
 *
 * Checks (abort() on violation, beyond ASan, UBSan and LeakSanitizer):
 * every call started completes exactly once, every dispatch that enters
 * the client's dispatcher completes; once the input ends and the peers
 * are gone, every call completes within a bounded number of loop turns,
 * and after everything is freed the loop has no handle left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#include "fz_ice.h"

#define FZ_ADDR "ice://fzs?transport=memory"
#define FZ_PEERS 4
#define FZ_CALLS 32

typedef struct slot {
  irpc_call *call; /* valid while under way */
  int started, done;
} slot;

typedef struct fz {
  uv_loop_t loop;
  irpc_transport *memory;
  irpc_listener *listener;
  irpc_dispatcher *echo;
  irpc_invoker *client;
  irpc_duplex *peers[FZ_PEERS]; /* NULL once closed */
  int npeers, cur, ending;
  slot calls[FZ_CALLS];
  int ncalls;
  long entered, left;
} fz;

static fz *F;

/* ---- The client's dispatcher ---- */

static void echo_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  F->entered++;
  irpc_outgoing_response *r;
  F->left++;
  if (irpc_outgoing_response_new(&r, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_complete(d, NULL);
    return;
  }
  irpc_buf_move(irpc_outgoing_response_payload(r),
                irpc_incoming_request_payload(irpc_dispatch_request(d)));
  irpc_dispatch_complete(d, r);
}

static const irpc_dispatcher_ops echo_ops = {.struct_size =
                                                 sizeof(irpc_dispatcher_ops),
                                             .name = "echo",
                                             .dispatch = echo_dispatch};

/* ---- The server peer ---- */

static void peer_read(irpc_duplex *d, int status, const uint8_t *data,
                      size_t len, void *ud) {
  (void)d;
  (void)status;
  (void)data;
  (void)len;
  (void)ud;
}

static void peer_accept(irpc_listener *l, irpc_duplex *d, void *ud) {
  (void)l;
  fz *x = ud;
  if (x->ending || x->npeers == FZ_PEERS) {
    irpc_duplex_abort(d, NULL, NULL);
    return;
  }
  x->cur = x->npeers;
  x->peers[x->npeers++] = d;
  irpc_duplex_read_start(d, peer_read, x);
}

static irpc_duplex *peer_cur(fz *x) {
  return x->npeers ? x->peers[x->cur] : NULL;
}

static void peer_write(fz *x, const uint8_t *b, size_t n) {
  irpc_duplex *d = peer_cur(x);
  if (!d || !n || irpc_duplex_closing(d))
    return;
  irpc_buf *buf;
  if (irpc_buf_new(&buf) != 0)
    return;
  if (irpc_buf_append(buf, b, n) == 0)
    irpc_duplex_write(d, buf, NULL, NULL);
  irpc_buf_free(buf);
}

static void peer_end(fz *x, int i, int how) {
  irpc_duplex *d = x->peers[i];
  if (!d)
    return;
  if (how == 0) {
    irpc_duplex_shutdown(d, NULL, NULL);
    return;
  }
  if (how == 1) {
    irpc_duplex_shutdown(d, NULL, NULL);
    irpc_duplex_close(d, NULL, NULL);
  } else {
    irpc_duplex_abort(d, NULL, NULL);
  }
  x->peers[i] = NULL;
}

/* ---- Well-formed messages of a server ---- */

static const char *const messages[] = {
    /* ValidateConnection, CloseConnection */
    "496365500100010003000e000000",
    "496365500100010004010e000000",
    /* replies: Ok empty, Ok with a payload, a user exception */
    "49636550010001000200190000000100000000060000000101",
    "496365500100010002002500000001000000001200000001010b48656c6c6f2c20616263"
    "21",
    "496365500100010002001b00000001000000010800000001010102",
    /* ObjectNotExist, OperationNotExist, UnknownLocalException, an
     * unknown reply status */
    "49636550010001000200210000000100000002066e6f626f647900000470696e67",
    "496365500100010002001f0000000100000004046563686f0000046e6f7065",
    "4963655001000100020018000000010000000504626f6f6d",
    "4963655001000100020018000000010000000b04626f6f6d",
    /* a compressed reply (261 bytes: 256 zeros), a status 1 reply */
    "49636550010001000202420000001e010000425a6831314159265359e7dd63ae000009c0"
    "00e0180008a00030c008d94688f38929329a43c5dc914e142439f758eb80",
    "496365500100010002011d00000001000000000a000000010103010203",
    /* a reply whose encapsulation is encoding 1.0 */
    "49636550010001000200190000000100000000060000000100",
    /* the server's requests: two-way, one-way, a batch of two */
    "496365500100010000002b00000001000000046563686f00000568656c6c6f00000a0000"
    "00010103616263",
    "496365500100010000002600000000000000046563686f00000470696e67000006000000"
    "0101",
    "496365500100010001003e00000002000000046563686f00000470696e67000006000000"
    "0101046563686f0000086963655f70696e670100060000000101",
    /* a heartbeat with compression status 1 */
    "496365500100010003010e000000",
};

/* ---- Calls ---- */

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  (void)err;
  slot *s = ud;
  CHECK(s->started && !s->done);
  s->done = 1;
  s->call = NULL;
  irpc_incoming_response_free(resp);
}

static void call_start(fz *x, int a) {
  if (x->ncalls == FZ_CALLS)
    return;
  slot *s = &x->calls[x->ncalls];
  irpc_outgoing_request *q;
  int kind = a & 7;
  if (irpc_outgoing_request_new(&q, kind == 4 ? "/cat/echo" : "/echo",
                                kind == 2 ? "ice_ping" : "echo") != 0)
    return;
  size_t n = kind == 7 ? 2000 : kind >= 5 ? 300 : 4;
  irpc_buf *p = irpc_outgoing_request_payload(q);
  for (size_t i = 0; i < n; i++) {
    uint8_t b = (a & 8) ? (uint8_t)(i * 167 + (i >> 3)) : (uint8_t)(i & 1);
    irpc_buf_append(p, &b, 1);
  }
  irpc_outgoing_request_set_oneway(q, kind == 1);
  if (kind == 2)
    irpc_outgoing_request_set_idempotent(q, 1);
  if (kind == 3)
    irpc_fields_set(irpc_outgoing_request_fields(q), IRPC_REQUEST_FIELD_CONTEXT,
                    "\x04\x04k\x04v", 5);
  if (kind == 4) {
    char *f = irpc_ice_facet_dup("f");
    if (f && irpc_features_set(irpc_outgoing_request_features(q),
                               &irpc_ice_facet_feature, f) != 0)
      irpc_free(f);
  }
  if (kind == 5 || kind == 6)
    irpc_features_set_compress(irpc_outgoing_request_features(q),
                               kind == 5 ? IRPC_COMPRESS_YES
                                         : IRPC_COMPRESS_NO);
  s->started = 1;
  if (irpc_invoke_owned(x->client, q, on_done, s, &s->call) != 0) {
    s->started = 0;
    s->call = NULL;
    return;
  }
  x->ncalls++;
}

static void call_cancel(fz *x, int a) {
  int live = 0;
  for (int i = 0; i < x->ncalls; i++)
    if (!x->calls[i].done && x->calls[i].call && live++ == a) {
      irpc_call_cancel(x->calls[i].call, IRPC_ECANCELED);
      return;
    }
}

static int calls_left(const fz *x) {
  int n = 0;
  for (int i = 0; i < x->ncalls; i++)
    n += !x->calls[i].done;
  return n;
}

/* ---- The run ---- */

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  if (len < 1)
    return 0;
  fz x;
  memset(&x, 0, sizeof x);
  F = &x;
  uint8_t flags = in[0];
  CHECK(uv_loop_init(&x.loop) == 0);
  CHECK(irpc_transport_memory_new(&x.memory) == 0);
  irpc_server_address *a;
  CHECK(irpc_server_address_parse(&a, FZ_ADDR) == 0);
  CHECK(irpc_transport_listen(x.memory, &x.loop, a, peer_accept, &x,
                              &x.listener) == 0);
  irpc_server_address_free(a);
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  irpc_ice_options io;
  irpc_ice_options_init(&io);
  io.compress = flags & 1;
  if (flags & 2)
    io.max_message_size = 256;
  if (flags & 16) {
    io.idle_timeout_ms = 4;
    io.idle_check = 1;
  }
  o.ice = &io;
  o.transport = x.memory;
  o.shutdown_timeout_ms = 20;
  if (flags & 32)
    o.connect_timeout_ms = 4;
  if (flags & 4) {
    CHECK(irpc_dispatcher_new(&x.echo, &x.loop, &echo_ops, NULL) == 0);
    o.dispatcher = x.echo;
  }
  CHECK(irpc_client_connection_new(&x.client, &x.loop, FZ_ADDR, &o) == 0);
  unsigned slept = 0;
  uint8_t msg[512];
  for (size_t i = 1; i < len; i++) {
    uint8_t op = in[i] & 15, arg = in[i] >> 4;
    switch (op) {
    case 0: {
      size_t n = (size_t)arg + 1;
      if (i + 1 + n > len)
        n = len - i - 1;
      peer_write(&x, in + i + 1, n);
      i += n;
      break;
    }
    case 1: {
      size_t n = fz_unhex(msg, messages[arg]);
      if (i + 1 < len && n > 18 && msg[8] != 3 && msg[9] != 2)
        msg[14] = in[++i]; /* the request id */
      peer_write(&x, msg, n);
      break;
    }
    case 2:
      fz_turns(&x.loop, arg);
      break;
    case 3:
      fz_wait(&x.loop, &slept, arg);
      break;
    case 4:
      if ((arg & 3) == 3) {
        if (x.npeers)
          x.cur = (arg >> 2) % x.npeers;
      } else if (x.npeers) {
        peer_end(&x, x.cur, arg & 3);
      }
      break;
    case 5:
      call_start(&x, arg);
      break;
    case 6:
      call_cancel(&x, arg);
      break;
    case 7:
      if (arg & 1)
        irpc_client_connection_connect(x.client, NULL, NULL);
      else
        irpc_client_connection_shutdown(x.client, NULL, NULL);
      break;
    default:
      break;
    }
  }
  /* The end: the peers go, every call completes within bounded turns. */
  x.ending = 1;
  for (int k = 0; k < x.npeers; k++)
    peer_end(&x, k, flags & 8 ? 2 : 1);
  for (int turns = 0; turns < 2000 && calls_left(&x) > 0; turns++)
    fz_run_ms(&x.loop, 1);
  CHECK(calls_left(&x) == 0);
  irpc_invoker_free(x.client);
  irpc_listener_close(x.listener, NULL, NULL);
  uv_run(&x.loop, UV_RUN_DEFAULT);
  CHECK(x.entered == x.left);
  if (x.echo)
    irpc_dispatcher_free(x.echo);
  irpc_transport_free(x.memory);
  uv_run(&x.loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&x.loop) == 0);
  return 0;
}
