/* kv server: a key-value store served at /kv over icerpc (kv.h has the
 * operations and how their payloads are encoded).
 *
 *   irpc-kv-server [ADDRESS]      default icerpc://127.0.0.1:4062
 *
 * The router runs, in order: a logger middleware (warnings and errors on
 * stderr), a deadline middleware (a request whose deadline passed is
 * answered DeadlineExceeded), a middleware of this example that counts the
 * requests that arrive compressed, and a compress middleware, which
 * decompresses requests and compresses Ok responses of 16 KiB and more for
 * callers that read a format it writes. The store lives in memory: a
 * server killed and restarted has lost it (the client stores it again).
 * Prints "listening on <address>" on stdout; SIGINT or SIGTERM shut it
 * down gracefully. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <irpc/irpc.h>

#include "kv.h"

/* ---- the store: a chained hash table ---- */
typedef struct entry {
  struct entry *next;
  char *key;
  size_t key_len;
  irpc_buf *value; /* shares the request payload's blocks, no copy */
} entry;

#define NBUCKETS 4096
typedef struct store {
  entry *buckets[NBUCKETS];
  size_t count;
  uint64_t compressed_requests; /* seen with the compression field */
} store;

static size_t hash(const char *k, size_t n) {
  size_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
  return h % NBUCKETS;
}

static entry **find(store *s, const char *k, size_t n) {
  entry **e = &s->buckets[hash(k, n)];
  while (*e && !((*e)->key_len == n && memcmp((*e)->key, k, n) == 0))
    e = &(*e)->next;
  return e;
}

static void entry_free(entry *e) {
  irpc_buf_free(e->value);
  free(e->key);
  free(e);
}

static void store_clear(store *s) {
  for (size_t i = 0; i < NBUCKETS; i++)
    while (s->buckets[i]) {
      entry *e = s->buckets[i];
      s->buckets[i] = e->next;
      entry_free(e);
    }
  s->count = 0;
}

/* ---- the /kv service ---- */
static void reply(irpc_dispatch *d, uint64_t status, const char *msg) {
  if (irpc_dispatch_reply(d, status, msg) != 0)
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
}

static void kv_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  store *s = *(store **)irpc_dispatcher_data(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *op = irpc_incoming_request_operation(req);
  irpc_buf *in = irpc_incoming_request_payload(req);
  size_t len = irpc_buf_len(in);
  char key[KV_MAX_KEY];
  size_t key_len, key_off = 0;

  if (strcmp(op, "put") == 0) {
    uint8_t hdr[2];
    if (len < 2 || irpc_buf_copyout(in, 0, hdr, 2) != 0) {
      reply(d, IRPC_STATUS_INVALID_DATA, "put: payload shorter than 2 bytes");
      return;
    }
    key_len = (size_t)hdr[0] | (size_t)hdr[1] << 8;
    key_off = 2;
  } else if (strcmp(op, "get") == 0 || strcmp(op, "delete") == 0) {
    key_len = len;
  } else {
    reply(d, IRPC_STATUS_NOT_IMPLEMENTED, "unknown operation");
    return;
  }
  if (key_len == 0 || key_len > KV_MAX_KEY || key_off + key_len > len) {
    reply(d, IRPC_STATUS_INVALID_DATA, "bad key length");
    return;
  }
  irpc_buf_copyout(in, key_off, key, key_len);
  entry **slot = find(s, key, key_len);

  if (op[0] == 'p') {
    irpc_buf *value;
    if (irpc_buf_new(&value) != 0 ||
        irpc_buf_append_ref(value, in, key_off + key_len,
                            len - key_off - key_len) != 0) {
      irpc_buf_free(value);
      reply(d, IRPC_STATUS_INTERNAL_ERROR, "out of memory");
      return;
    }
    if (*slot) {
      irpc_buf_free((*slot)->value);
      (*slot)->value = value;
    } else {
      entry *e = calloc(1, sizeof *e);
      if (!e || !(e->key = malloc(key_len))) {
        free(e);
        irpc_buf_free(value);
        reply(d, IRPC_STATUS_INTERNAL_ERROR, "out of memory");
        return;
      }
      memcpy(e->key, key, key_len);
      e->key_len = key_len;
      e->value = value;
      *slot = e;
      s->count++;
    }
    reply(d, IRPC_STATUS_OK, NULL);
    return;
  }
  if (!*slot) {
    reply(d, IRPC_STATUS_NOT_FOUND, "no such key");
    return;
  }
  if (op[0] == 'd') {
    entry *e = *slot;
    *slot = e->next;
    entry_free(e);
    s->count--;
    reply(d, IRPC_STATUS_OK, NULL);
    return;
  }
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) != 0) {
    reply(d, IRPC_STATUS_INTERNAL_ERROR, "out of memory");
    return;
  }
  irpc_buf *value = (*slot)->value;
  if (irpc_buf_append_ref(irpc_outgoing_response_payload(resp), value, 0,
                          irpc_buf_len(value)) != 0) {
    irpc_outgoing_response_free(resp);
    reply(d, IRPC_STATUS_INTERNAL_ERROR, "out of memory");
    return;
  }
  irpc_dispatch_complete(d, resp);
}

static int kv_init(irpc_dispatcher *self, const void *config) {
  *(store **)irpc_dispatcher_data(self) = (store *)config;
  return 0;
}

static const irpc_dispatcher_ops kv_ops = {.struct_size =
                                               sizeof(irpc_dispatcher_ops),
                                           .name = "kv",
                                           .data_size = sizeof(store *),
                                           .init = kv_init,
                                           .dispatch = kv_dispatch};

/* A middleware in front of the compress middleware that counts requests
 * arriving compressed. */
static void count_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  store *s = *(store **)irpc_dispatcher_data(self);
  if (irpc_fields_has(irpc_incoming_request_fields(irpc_dispatch_request(d)),
                      IRPC_REQUEST_FIELD_COMPRESSION_FORMAT))
    s->compressed_requests++;
  irpc_dispatch_next(d);
}

static const irpc_dispatcher_ops count_ops = {.struct_size =
                                                  sizeof(irpc_dispatcher_ops),
                                              .name = "count",
                                              .data_size = sizeof(store *),
                                              .init = kv_init,
                                              .dispatch = count_dispatch};

/* ---- main ---- */
typedef struct app {
  irpc_server *server;
  store *store;
  uv_signal_t sigint, sigterm;
} app;

static void on_shutdown(irpc_server *srv, int status, void *ud) {
  (void)srv;
  app *a = ud;
  fprintf(stderr,
          "server: shut down (%s), %zu keys, %llu compressed requests\n",
          status ? irpc_strerror(status) : "gracefully", a->store->count,
          (unsigned long long)a->store->compressed_requests);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
}

static void on_signal(uv_signal_t *h, int signum) {
  app *a = h->data;
  fprintf(stderr, "server: signal %d, shutting down\n", signum);
  uv_signal_stop(&a->sigint);
  uv_signal_stop(&a->sigterm);
  irpc_server_shutdown(a->server, on_shutdown, a);
}

/* Adds a middleware made by `made` (its constructor's result) to the
 * router, freeing it when the router refuses it. */
static int use(irpc_router *r, int made, irpc_dispatcher **mw) {
  int rc = made;
  if (rc == 0 && (rc = irpc_router_use(r, *mw)) != 0)
    irpc_dispatcher_free(*mw);
  *mw = NULL;
  return rc;
}

int main(int argc, char **argv) {
  const char *address = argc > 1 ? argv[1] : "icerpc://127.0.0.1:4062";
  uv_loop_t *loop = uv_default_loop();
  static store st;
  app a = {.store = &st};

  irpc_logger_options lo;
  irpc_logger_options_init(&lo);
  irpc_logger_options_use_file(&lo, stderr, IRPC_LOG_WARNING);
  irpc_deadline_options dlo;
  irpc_deadline_options_init(&dlo);
  irpc_compress_options co;
  irpc_compress_options_init(&co);
  co.always = 1; /* compress Ok responses >= min_size the caller reads */
  co.min_size = 16 * 1024;

  irpc_router *router = NULL;
  irpc_dispatcher *mw = NULL, *kv = NULL;
  char bound[256];
  int rc = irpc_router_new(&router, loop);
  if (rc == 0)
    rc = use(router, irpc_logger_middleware_new(&mw, loop, &lo), &mw);
  if (rc == 0)
    rc = use(router, irpc_deadline_middleware_new(&mw, loop, &dlo), &mw);
  if (rc == 0)
    rc = use(router, irpc_dispatcher_new(&mw, loop, &count_ops, &st), &mw);
  if (rc == 0)
    rc = use(router, irpc_compress_middleware_new(&mw, loop, &co), &mw);
  if (rc == 0)
    rc = irpc_dispatcher_new(&kv, loop, &kv_ops, &st);
  if (rc == 0)
    rc = irpc_router_map(router, KV_PATH, kv);
  if (rc == 0)
    rc = irpc_server_new(&a.server, loop, irpc_router_dispatcher(router), NULL);
  if (rc == 0)
    rc = irpc_server_listen(a.server, address, bound, sizeof bound);
  if (rc) {
    fprintf(stderr, "server: %s: %s\n", address, irpc_strerror(rc));
    irpc_server_free(a.server);
    irpc_router_free(router);
    irpc_dispatcher_free(kv);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    return 1;
  }
  printf("listening on %s\n", bound);
  fflush(stdout);

  uv_signal_init(loop, &a.sigint);
  uv_signal_init(loop, &a.sigterm);
  a.sigint.data = a.sigterm.data = &a;
  uv_signal_start(&a.sigint, on_signal, SIGINT);
  uv_signal_start(&a.sigterm, on_signal, SIGTERM);
  uv_run(loop, UV_RUN_DEFAULT);

  irpc_server_free(a.server);
  uv_run(loop, UV_RUN_DEFAULT);
  irpc_router_free(router);
  irpc_dispatcher_free(kv);
  store_clear(&st);
  uv_run(loop, UV_RUN_DEFAULT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
