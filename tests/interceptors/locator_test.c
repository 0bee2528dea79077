/* The locator interceptor against a fake IceGrid Locator (an irpc
 * dispatcher reached through the coloc invoker, speaking the Locator's
 * encoding 1.1 operations): the captured Locator messages byte for byte,
 * cache hits, TTL expiry on a manual clock, refresh when a retry follows a
 * cached answer, coalesced lookups, not found, resolve timeout, bad
 * replies, a failing locator, cache eviction, canceled waiters, and the
 * LocatorRegistry registration that makes an adapter resolvable. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kit/kit.h"

/* ---- Hex helpers ---- */

static size_t unhex(const char *hex, uint8_t *out) {
  size_t n = 0;
  for (; hex[0] && hex[1]; hex += 2) {
    unsigned v;
    sscanf(hex, "%2x", &v);
    out[n++] = (uint8_t)v;
  }
  return n;
}

/* The captured replies (ice-vectors.md, IceGrid Locator traffic), without
 * their encapsulation header: findObjectById(echo) and
 * findAdapterById(BenchAdapter), both 127.0.0.1:45693. */
static const char m3_content[] =
    "046563686f0000000001000101010100190000000101093132372e302e302e317db20000"
    "60ea000000";
static const char m5_content[] =
    "0564756d6d790000000001000101010100190000000101093132372e302e302e317db200"
    "0060ea000000";
/* The captured requests' parameters. */
static const char m2_params[] = "046563686f00";
static const char m4_params[] = "0c42656e636841646170746572";

/* ---- The fake Locator ---- */

enum how {
  ANSWER_PROXY,
  ANSWER_INDIRECT,
  ANSWER_NULL,
  ANSWER_EXCEPTION,
  ANSWER_RAW,
  ANSWER_STATUS
};

typedef struct answer {
  int in_use;
  char kind; /* 'a' adapter, 'o' object */
  char name[64];
  enum how how;
  char host[64];
  int port;
  char adapter[64]; /* ANSWER_INDIRECT */
  char raw[512];    /* ANSWER_RAW: hex of the reply's content */
  char replica[64]; /* registered with a replica group */
} answer;

#define MAX_ANSWERS 16

typedef struct fake {
  answer answers[MAX_ANSWERS];
  int lookups;
  int hold; /* keep dispatches instead of answering */
  irpc_dispatch *held[16];
  int nheld;
  int canceled;
  char last_params[256]; /* hex of the last request's parameters */
  char last_path[128];
  char last_op[64];
  int registrations;
  int reg_fail_busy;
  int no_registry;      /* getRegistry answers a null proxy */
  int reg_capture_only; /* keep the proxy's bytes, store nothing */
  char reg_proxy[512];  /* hex of the last registered proxy */
} fake;

static fake F;

static answer *answer_find(char kind, const char *name) {
  for (int i = 0; i < MAX_ANSWERS; i++) {
    if (F.answers[i].in_use && F.answers[i].kind == kind &&
        strcmp(F.answers[i].name, name) == 0)
      return &F.answers[i];
  }
  return NULL;
}

static answer *answer_set(char kind, const char *name, enum how how,
                          const char *host, int port) {
  answer *a = answer_find(kind, name);
  for (int i = 0; !a && i < MAX_ANSWERS; i++) {
    if (!F.answers[i].in_use)
      a = &F.answers[i];
  }
  assert_non_null(a);
  memset(a, 0, sizeof(*a));
  a->in_use = 1;
  a->kind = kind;
  snprintf(a->name, sizeof(a->name), "%s", name);
  a->how = how;
  snprintf(a->host, sizeof(a->host), "%s", host ? host : "");
  a->port = port;
  return a;
}

static void encode_proxy(irpc_slice_encoder *e, const char *name,
                         const char *host, int port, const char *adapter) {
  irpc_slice_identity id = {{(const uint8_t *)name, strlen(name)}, {NULL, 0}};
  irpc_slice_encode_identity(e, &id);
  irpc_slice_encode_size(e, 0);
  irpc_slice_encode_uint8(e, 0);
  irpc_slice_encode_bool(e, false);
  irpc_slice_encode_uint8(e, 1);
  irpc_slice_encode_uint8(e, 0);
  irpc_slice_encode_uint8(e, 1);
  irpc_slice_encode_uint8(e, 1);
  if (adapter) {
    irpc_slice_encode_size(e, 0);
    irpc_slice_encode_string(e, adapter, strlen(adapter));
    return;
  }
  /* An endpoint the interceptor skips (UDP), then the TCP one. */
  irpc_slice_encode_size(e, 2);
  irpc_slice_mark m;
  irpc_slice_encode_int16(e, 3);
  irpc_slice_encode_encaps_begin(e, 1, 1, &m);
  irpc_slice_encode_string(e, "239.0.0.1", 9);
  irpc_slice_encode_int32(e, 5000);
  irpc_slice_encode_bool(e, false);
  irpc_slice_encode_encaps_end(e, &m);
  irpc_slice_encode_int16(e, 1);
  irpc_slice_encode_encaps_begin(e, 1, 1, &m);
  irpc_slice_encode_string(e, host, strlen(host));
  irpc_slice_encode_int32(e, port);
  irpc_slice_encode_int32(e, 60000);
  irpc_slice_encode_bool(e, false);
  irpc_slice_encode_encaps_end(e, &m);
}

static void hex_of(const irpc_buf *b, char *out, size_t cap) {
  uint8_t bytes[128];
  size_t n = irpc_buf_len(b);
  if (n > sizeof(bytes) || n * 2 + 1 > cap) {
    out[0] = '\0';
    return;
  }
  irpc_buf_copyout(b, 0, bytes, n);
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", bytes[i]);
  out[2 * n] = '\0';
}

static void reply_exception(irpc_dispatch *d, const char *type_id) {
  irpc_outgoing_response *o;
  assert_irpc_ok(irpc_outgoing_response_new(&o, IRPC_STATUS_APPLICATION_ERROR,
                                            "user exception"));
  irpc_slice_encoder e;
  irpc_slice_encoder_init(&e, irpc_outgoing_response_payload(o),
                          IRPC_SLICE_ENCODING_1_1);
  irpc_slice_mark m;
  irpc_slice_encode_exception_slice_begin(&e, type_id, strlen(type_id), true,
                                          &m);
  if (strcmp(type_id, "::Ice::AdapterAlreadyActiveException") != 0 &&
      strcmp(type_id, "::Ice::ObjectNotFoundException") != 0 &&
      strcmp(type_id, "::Ice::AdapterNotFoundException") != 0)
    irpc_slice_encode_string(&e, "x", 1);
  irpc_slice_encode_exception_slice_end(&e, &m);
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  irpc_dispatch_complete(d, o);
}

static void fake_answer(irpc_dispatch *d) {
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *op = irpc_incoming_request_operation(req);
  irpc_slice_decoder dec;
  irpc_slice_decoder_init_buf(&dec, irpc_incoming_request_payload(req),
                              IRPC_SLICE_ENCODING_1_1);
  char name[128] = "";
  char kind = 'a';
  if (strcmp(op, "findAdapterById") == 0) {
    irpc_bytes s;
    assert_irpc_ok(irpc_slice_decode_string(&dec, &s));
    snprintf(name, sizeof(name), "%.*s", (int)s.len, (const char *)s.base);
  } else if (strcmp(op, "findObjectById") == 0) {
    irpc_slice_identity id;
    assert_irpc_ok(irpc_slice_decode_identity(&dec, &id));
    kind = 'o';
    if (id.category.len)
      snprintf(name, sizeof(name), "%.*s/%.*s", (int)id.category.len,
               (const char *)id.category.base, (int)id.name.len,
               (const char *)id.name.base);
    else
      snprintf(name, sizeof(name), "%.*s", (int)id.name.len,
               (const char *)id.name.base);
  } else {
    fail_msg("unexpected operation %s", op);
  }
  assert_irpc_ok(irpc_slice_decoder_end(&dec));
  irpc_slice_decoder_fini(&dec);
  answer *a = answer_find(kind, name);
  if (!a) {
    reply_exception(d, kind == 'a' ? "::Ice::AdapterNotFoundException"
                                   : "::Ice::ObjectNotFoundException");
    return;
  }
  irpc_outgoing_response *o;
  if (a->how == ANSWER_EXCEPTION) {
    reply_exception(d, kind == 'a' ? "::Ice::AdapterNotFoundException"
                                   : "::Ice::ObjectNotFoundException");
    return;
  }
  if (a->how == ANSWER_STATUS) {
    irpc_dispatch_reply(d, IRPC_STATUS_UNAVAILABLE, "registry unavailable");
    return;
  }
  assert_irpc_ok(irpc_outgoing_response_new(&o, IRPC_STATUS_OK, NULL));
  irpc_buf *p = irpc_outgoing_response_payload(o);
  if (a->how == ANSWER_RAW) {
    uint8_t bytes[256];
    size_t n = unhex(a->raw, bytes);
    assert_irpc_ok(irpc_buf_append(p, bytes, n));
  } else {
    irpc_slice_encoder e;
    irpc_slice_encoder_init(&e, p, IRPC_SLICE_ENCODING_1_1);
    if (a->how == ANSWER_NULL) {
      irpc_slice_identity null_id = {{NULL, 0}, {NULL, 0}};
      irpc_slice_encode_identity(&e, &null_id);
    } else {
      encode_proxy(&e, kind == 'a' ? "dummy" : name, a->host, a->port,
                   a->how == ANSWER_INDIRECT ? a->adapter : NULL);
    }
    assert_irpc_ok(irpc_slice_encoder_flush(&e));
  }
  irpc_dispatch_complete(d, o);
}

/* The LocatorRegistry side: getRegistry on the Locator, then
 * set(Replicated)AdapterDirectProxy on the registry. */
static void fake_registry(irpc_dispatch *d, const char *op) {
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_outgoing_response *o;
  if (strcmp(op, "getRegistry") == 0 && F.no_registry) {
    assert_irpc_ok(irpc_outgoing_response_new(&o, IRPC_STATUS_OK, NULL));
    uint8_t null_proxy[2] = {0, 0};
    assert_irpc_ok(
        irpc_buf_append(irpc_outgoing_response_payload(o), null_proxy, 2));
    irpc_dispatch_complete(d, o);
    return;
  }
  if (strcmp(op, "getRegistry") == 0) {
    assert_irpc_ok(irpc_outgoing_response_new(&o, IRPC_STATUS_OK, NULL));
    irpc_slice_encoder e;
    irpc_slice_encoder_init(&e, irpc_outgoing_response_payload(o),
                            IRPC_SLICE_ENCODING_1_1);
    irpc_slice_identity id = {{(const uint8_t *)"Registry-1", 10},
                              {(const uint8_t *)"IceGrid", 7}};
    irpc_slice_encode_identity(&e, &id);
    irpc_slice_encode_size(&e, 0);
    irpc_slice_encode_uint8(&e, 0);
    irpc_slice_encode_bool(&e, false);
    irpc_slice_encode_uint8(&e, 1);
    irpc_slice_encode_uint8(&e, 0);
    irpc_slice_encode_uint8(&e, 1);
    irpc_slice_encode_uint8(&e, 1);
    irpc_slice_encode_size(&e, 1);
    irpc_slice_mark m;
    irpc_slice_encode_int16(&e, 1);
    irpc_slice_encode_encaps_begin(&e, 1, 1, &m);
    irpc_slice_encode_string(&e, "127.0.0.1", 9);
    irpc_slice_encode_int32(&e, 4062);
    irpc_slice_encode_int32(&e, 60000);
    irpc_slice_encode_bool(&e, false);
    irpc_slice_encode_encaps_end(&e, &m);
    assert_irpc_ok(irpc_slice_encoder_flush(&e));
    irpc_dispatch_complete(d, o);
    return;
  }
  assert_string_equal(irpc_incoming_request_path(req), "/IceGrid/Registry-1");
  int replicated = strcmp(op, "setReplicatedAdapterDirectProxy") == 0;
  assert_true(replicated || strcmp(op, "setAdapterDirectProxy") == 0);
  F.registrations++;
  if (F.reg_fail_busy) {
    reply_exception(d, "::Ice::AdapterAlreadyActiveException");
    return;
  }
  irpc_slice_decoder dec;
  irpc_slice_decoder_init_buf(&dec, irpc_incoming_request_payload(req),
                              IRPC_SLICE_ENCODING_1_1);
  irpc_bytes adapter, group = {NULL, 0};
  irpc_slice_identity id;
  assert_irpc_ok(irpc_slice_decode_string(&dec, &adapter));
  if (replicated)
    assert_irpc_ok(irpc_slice_decode_string(&dec, &group));
  {
    irpc_buf *pl = irpc_incoming_request_payload(req);
    size_t off = irpc_slice_decoder_pos(&dec), n = irpc_buf_len(pl) - off;
    uint8_t bytes[255];
    assert_true(n < sizeof(bytes));
    irpc_buf_copyout(pl, off, bytes, n);
    for (size_t i = 0; i < n; i++)
      sprintf(F.reg_proxy + 2 * i, "%02x", bytes[i]);
    F.reg_proxy[2 * n] = '\0';
  }
  if (F.reg_capture_only) {
    irpc_slice_decoder_fini(&dec);
    irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
    return;
  }
  assert_irpc_ok(irpc_slice_decode_identity(&dec, &id));
  char name[64];
  snprintf(name, sizeof(name), "%.*s", (int)adapter.len,
           (const char *)adapter.base);
  if (id.name.len == 0) { /* a null proxy: unregister */
    answer *a = answer_find('a', name);
    if (a)
      a->in_use = 0;
  } else {
    size_t nf, neps;
    uint8_t b;
    bool secure;
    assert_irpc_ok(irpc_slice_decode_size(&dec, &nf));
    assert_int_equal(nf, 0);
    irpc_slice_decode_uint8(&dec, &b);
    irpc_slice_decode_bool(&dec, &secure);
    for (int i = 0; i < 4; i++)
      irpc_slice_decode_uint8(&dec, &b);
    assert_irpc_ok(irpc_slice_decode_size(&dec, &neps));
    assert_int_equal(neps, 1);
    int16_t type;
    uint8_t maj, min;
    irpc_slice_scope scope;
    irpc_slice_decode_int16(&dec, &type);
    assert_int_equal(type, 1);
    assert_irpc_ok(irpc_slice_decode_encaps_begin(&dec, &maj, &min, &scope));
    irpc_bytes host;
    int32_t port, timeout;
    bool z;
    irpc_slice_decode_string(&dec, &host);
    irpc_slice_decode_int32(&dec, &port);
    irpc_slice_decode_int32(&dec, &timeout);
    irpc_slice_decode_bool(&dec, &z);
    assert_irpc_ok(irpc_slice_decode_scope_end(&dec, &scope));
    assert_int_equal(timeout, 5000);
    char h[64];
    snprintf(h, sizeof(h), "%.*s", (int)host.len, (const char *)host.base);
    answer *a = answer_set('a', name, ANSWER_PROXY, h, port);
    snprintf(a->replica, sizeof(a->replica), "%.*s", (int)group.len,
             (const char *)group.base);
  }
  assert_irpc_ok(irpc_slice_decoder_end(&dec));
  irpc_slice_decoder_fini(&dec);
  irpc_dispatch_reply(d, IRPC_STATUS_OK, NULL);
}

static void fake_cancel(irpc_dispatch *d, int err, void *ud) {
  (void)err, (void)ud;
  F.canceled++;
  irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, "canceled");
}

static void fake_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  const char *op = irpc_incoming_request_operation(req);
  snprintf(F.last_path, sizeof(F.last_path), "%s",
           irpc_incoming_request_path(req));
  snprintf(F.last_op, sizeof(F.last_op), "%s", op);
  if (strcmp(op, "getRegistry") == 0 || strstr(op, "AdapterDirectProxy")) {
    fake_registry(d, op);
    return;
  }
  F.lookups++;
  hex_of(irpc_incoming_request_payload(req), F.last_params,
         sizeof(F.last_params));
  if (F.hold) {
    F.held[F.nheld++] = d;
    irpc_dispatch_on_cancel(d, fake_cancel, NULL);
    return;
  }
  fake_answer(d);
}

static const irpc_dispatcher_ops fake_ops = {
    .struct_size = sizeof(irpc_dispatcher_ops),
    .name = "fake-locator",
    .dispatch = fake_dispatch,
};

/* ---- The terminal behind the interceptor: records each attempt's
 * target and answers Ok, or refuses the next `refuse` attempts ---- */

typedef struct sink_rec {
  char log[16][128];
  size_t count[16];
  int n;
  int refuse;
} sink_rec;

static sink_rec S;

static void sink_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  const irpc_service_address *sa =
      irpc_outgoing_request_service_address(irpc_call_request(call));
  char *line = S.log[S.n < 16 ? S.n : 15];
  S.count[S.n < 16 ? S.n : 15] = sa ? irpc_service_address_server_count(sa) : 0;
  S.n++;
  if (!sa || irpc_service_address_server_count(sa) == 0) {
    snprintf(line, 128, "unresolved");
  } else {
    const irpc_server_address *a = irpc_service_address_server(sa, 0);
    snprintf(line, 128, "%s:%u/%s", irpc_server_address_host(a),
             (unsigned)irpc_server_address_port(a),
             irpc_server_address_transport(a) ? irpc_server_address_transport(a)
                                              : "-");
  }
  if (S.refuse > 0) {
    S.refuse--;
    irpc_call_complete(call, IRPC_EREFUSED, NULL);
    return;
  }
  irpc_incoming_response *r;
  int rc = irpc_incoming_response_new(&r, IRPC_STATUS_OK, NULL);
  irpc_call_complete(call, rc, rc ? NULL : r);
}

static const irpc_invoker_ops sink_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "sink",
    .invoke = sink_invoke,
};

/* A locator invoker that fails every call at once. */
static void refused_invoke(irpc_invoker *self, irpc_call *call) {
  (void)self;
  irpc_call_complete(call, UV_ECONNREFUSED, NULL);
}

static const irpc_invoker_ops refused_ops = {
    .struct_size = sizeof(irpc_invoker_ops),
    .name = "refused",
    .invoke = refused_invoke,
};

/* ---- The rig ---- */

typedef struct rig {
  uv_loop_t loop;
  irpc_clock *clock;
  irpc_dispatcher *fake;
  irpc_invoker *coloc;
  irpc_invoker *locator;
  irpc_invoker *retry;
  irpc_invoker *sink;
  irpc_pipeline *pipeline;
} rig;

static void rig_init(rig *r, irpc_locator_options *o, int with_retry) {
  memset(&F, 0, sizeof(F));
  memset(&S, 0, sizeof(S));
  assert_int_equal(uv_loop_init(&r->loop), 0);
  assert_irpc_ok(irpc_clock_manual_new(&r->clock, &r->loop, 0));
  assert_irpc_ok(irpc_dispatcher_new(&r->fake, &r->loop, &fake_ops, NULL));
  assert_irpc_ok(irpc_coloc_new(&r->coloc, &r->loop, r->fake));
  if (!o->locator)
    o->locator = r->coloc;
  o->clock = r->clock;
  assert_irpc_ok(irpc_locator_new(&r->locator, &r->loop, o));
  assert_irpc_ok(irpc_invoker_new(&r->sink, &r->loop, &sink_ops, NULL));
  assert_irpc_ok(irpc_pipeline_new(&r->pipeline, &r->loop));
  r->retry = NULL;
  if (with_retry) {
    irpc_retry_options ro;
    irpc_retry_options_init(&ro);
    ro.initial_backoff_ms = 0;
    ro.max_attempts = 3;
    ro.clock = r->clock;
    assert_irpc_ok(irpc_retry_interceptor_new(&r->retry, &r->loop, &ro));
    assert_irpc_ok(irpc_pipeline_use(r->pipeline, r->retry));
  }
  assert_irpc_ok(irpc_pipeline_use(r->pipeline, r->locator));
  assert_irpc_ok(irpc_pipeline_into(r->pipeline, r->sink));
}

static void rig_fini(rig *r) {
  irpc_pipeline_free(r->pipeline);
  irpc_invoker_free(r->sink);
  irpc_invoker_free(r->coloc);
  irpc_dispatcher_free(r->fake);
  irpc_clock_unref(r->clock);
  test_loop_finish(&r->loop);
}

typedef struct result {
  int done;
  int err;
  uint64_t status;
  char message[256];
} result;

static void on_done(irpc_call *call, int err, irpc_incoming_response *resp,
                    void *ud) {
  (void)call;
  result *res = ud;
  res->done = 1;
  res->err = err;
  if (resp) {
    res->status = irpc_incoming_response_status(resp);
    const char *m = irpc_incoming_response_error_message(resp);
    snprintf(res->message, sizeof(res->message), "%s", m ? m : "");
    irpc_incoming_response_free(resp);
  }
}

/* A call on `target` (a URI); the request and address live in `c`. */
typedef struct call_ctx {
  irpc_service_address *sa;
  irpc_outgoing_request *req;
  irpc_call *call;
  result res;
} call_ctx;

static void start(rig *r, call_ctx *c, const char *target) {
  memset(c, 0, sizeof(*c));
  assert_irpc_ok(irpc_service_address_parse(&c->sa, target));
  assert_irpc_ok(irpc_outgoing_request_new(
      &c->req, irpc_service_address_path(c->sa), "op"));
  assert_irpc_ok(irpc_outgoing_request_set_service_address(c->req, c->sa));
  assert_irpc_ok(irpc_invoke(irpc_pipeline_invoker(r->pipeline), c->req,
                             on_done, &c->res, &c->call));
}

static void finish(call_ctx *c) {
  irpc_outgoing_request_free(c->req);
  irpc_service_address_free(c->sa);
}

/* One call to the end; returns its result. */
static result call(rig *r, const char *target) {
  call_ctx c;
  start(r, &c, target);
  kit_run_until(&r->loop, &c.res.done);
  /* The request's own target is back once the call is over. */
  assert_ptr_equal(irpc_outgoing_request_service_address(c.req), c.sa);
  result res = c.res;
  finish(&c);
  return res;
}

static irpc_locator_stats stats(rig *r) {
  irpc_locator_stats s;
  assert_irpc_ok(irpc_locator_get_stats(r->locator, &s));
  return s;
}

/* ---- Tests ---- */

/* The captured IceGrid exchange: the requests' parameters are the bytes
 * Ice sent, the captured replies resolve to 127.0.0.1:45693. */
static void test_captured_vectors(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  irpc_service_address *la;
  assert_irpc_ok(irpc_service_address_parse_ice_proxy(
      &la, "BenchGrid/Locator:tcp -h 127.0.0.1 -p 4061", NULL));
  o.locator_address = la;
  rig_init(&r, &o, 0);
  irpc_service_address_free(la); /* copied */
  snprintf(answer_set('o', "echo", ANSWER_RAW, NULL, 0)->raw, 512, "%s",
           m3_content);
  snprintf(answer_set('a', "BenchAdapter", ANSWER_RAW, NULL, 0)->raw, 512, "%s",
           m5_content);

  result res = call(&r, "ice:/echo");
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  assert_string_equal(F.last_path, "/BenchGrid/Locator");
  assert_string_equal(F.last_op, "findObjectById");
  assert_string_equal(F.last_params, m2_params);
  assert_string_equal(S.log[0], "127.0.0.1:45693/tcp");

  res = call(&r, "ice:/echo?adapter-id=BenchAdapter");
  assert_irpc_ok(res.err);
  assert_string_equal(F.last_op, "findAdapterById");
  assert_string_equal(F.last_params, m4_params);
  assert_string_equal(S.log[1], "127.0.0.1:45693/tcp");
  assert_int_equal(F.lookups, 2);
  rig_fini(&r);
}

/* Names as Ice spells them: the escapes of the address are decoded
 * before they go to the locator. */
static void test_escaped_names(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  answer_set('a', "my adapter", ANSWER_PROXY, "10.0.0.1", 1000);
  answer_set('o', "a b/n:m", ANSWER_PROXY, "10.0.0.2", 2000);
  irpc_service_address *sa;
  assert_irpc_ok(irpc_service_address_parse_ice_proxy(
      &sa, "hello @ \"my adapter\"", NULL));
  char uri[256];
  assert_irpc_ok(irpc_service_address_format(sa, uri, sizeof(uri)));
  irpc_service_address_free(sa);
  assert_irpc_ok(call(&r, uri).err);
  assert_string_equal(F.last_params, "0a6d792061646170746572");
  assert_irpc_ok(
      irpc_service_address_parse_ice_proxy(&sa, "\"a b/n:m\"", NULL));
  assert_irpc_ok(irpc_service_address_format(sa, uri, sizeof(uri)));
  irpc_service_address_free(sa);
  assert_string_equal(uri, "ice:/a%20b/n%3Am");
  assert_irpc_ok(call(&r, uri).err);
  assert_string_equal(F.last_params, "036e3a6d03612062");
  assert_string_equal(S.log[0], "10.0.0.1:1000/tcp");
  assert_string_equal(S.log[1], "10.0.0.2:2000/tcp");
  /* A bad escape in the adapter id: the call fails, nothing is asked. */
  assert_irpc_err(call(&r, "ice:/hello?adapter-id=a%2").err, IRPC_EINVAL);
  assert_int_equal(F.lookups, 2);
  rig_fini(&r);
}

/* Requests the interceptor does not act on go by untouched. */
static void test_passes_others(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  assert_irpc_ok(call(&r, "ice://h:7/echo").err);
  assert_irpc_ok(call(&r, "icerpc://h/echo").err);
  assert_irpc_ok(call(&r, "icerpc://h/echo?transport=tcp").err);
  /* An icerpc address without server address is no target at all. */
  irpc_service_address *rel;
  assert_irpc_ok(irpc_service_address_parse(&rel, "icerpc:/echo"));
  irpc_outgoing_request *r2 = kit_request("/echo", NULL, 0);
  assert_irpc_err(irpc_outgoing_request_set_service_address(r2, rel),
                  IRPC_EINVAL);
  irpc_outgoing_request_free(r2);
  irpc_service_address_free(rel);
  /* no target at all */
  irpc_outgoing_request *req = kit_request("/echo", NULL, 0);
  result res = {0};
  assert_irpc_ok(
      irpc_invoke(irpc_pipeline_invoker(r.pipeline), req, on_done, &res, NULL));
  kit_run_until(&r.loop, &res.done);
  irpc_outgoing_request_free(req);
  assert_int_equal(F.lookups, 0);
  assert_int_equal(S.n, 4);
  assert_string_equal(S.log[0], "h:7/-");
  assert_string_equal(S.log[1], "h:4062/-");
  assert_string_equal(S.log[2], "h:4062/tcp");
  assert_string_equal(S.log[3], "unresolved");
  rig_fini(&r);
}

static void test_cache_and_ttl(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  o.ttl_ms = 1000;
  rig_init(&r, &o, 0);
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.1", 1000);
  answer_set('o', "cat/hello", ANSWER_PROXY, "10.0.0.2", 2000);

  assert_irpc_ok(call(&r, "ice:/x?adapter-id=A").err);
  assert_irpc_ok(call(&r, "ice:/y?adapter-id=A").err);
  assert_irpc_ok(call(&r, "ice:/cat/hello").err);
  assert_irpc_ok(call(&r, "ice:/cat/hello").err);
  assert_int_equal(F.lookups, 2);
  irpc_locator_stats s = stats(&r);
  assert_int_equal(s.lookups, 2);
  assert_int_equal(s.cache_hits, 2);
  assert_int_equal(s.cached, 2);
  assert_string_equal(S.log[1], "10.0.0.1:1000/tcp");
  assert_string_equal(S.log[3], "10.0.0.2:2000/tcp");

  /* Just before the TTL: still cached; at the TTL: asked again. */
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.9", 1009);
  assert_irpc_ok(irpc_clock_advance(r.clock, 999 * UINT64_C(1000000)));
  assert_irpc_ok(call(&r, "ice:/x?adapter-id=A").err);
  assert_int_equal(F.lookups, 2);
  assert_string_equal(S.log[4], "10.0.0.1:1000/tcp");
  assert_irpc_ok(irpc_clock_advance(r.clock, UINT64_C(1000000)));
  assert_irpc_ok(call(&r, "ice:/x?adapter-id=A").err);
  assert_int_equal(F.lookups, 3);
  assert_string_equal(S.log[5], "10.0.0.9:1009/tcp");
  assert_irpc_ok(call(&r, "ice:/x?adapter-id=A").err);
  assert_int_equal(F.lookups, 3);

  /* Cleared: asked again. */
  assert_irpc_ok(irpc_locator_clear(r.locator));
  assert_int_equal(stats(&r).cached, 0);
  assert_irpc_ok(call(&r, "ice:/x?adapter-id=A").err);
  assert_int_equal(F.lookups, 4);
  rig_fini(&r);
}

/* N concurrent calls for one name make one lookup. */
static void test_coalescing(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.1", 1000);
  answer_set('a', "B", ANSWER_PROXY, "10.0.0.2", 2000);
  enum { N = 10 };
  call_ctx c[N + 1];
  for (int i = 0; i < N; i++)
    start(&r, &c[i], "ice:/hello?adapter-id=A");
  start(&r, &c[N], "ice:/hello?adapter-id=B");
  for (int i = 0; i <= N; i++)
    kit_run_until(&r.loop, &c[i].res.done);
  for (int i = 0; i <= N; i++) {
    assert_irpc_ok(c[i].res.err);
    assert_int_equal(c[i].res.status, IRPC_STATUS_OK);
    finish(&c[i]);
  }
  assert_int_equal(F.lookups, 2);
  irpc_locator_stats s = stats(&r);
  assert_int_equal(s.lookups, 2);
  assert_int_equal(s.coalesced, N - 1);
  assert_int_equal(S.n, N + 1);
  rig_fini(&r);
}

/* IceRPC's rule: a retry after a cached answer resolves again; a retry
 * after a fresh answer uses the cache. */
static void test_refresh_on_retry(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 1);
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.1", 1000);
  assert_irpc_ok(call(&r, "ice:/hello?adapter-id=A").err);
  assert_int_equal(F.lookups, 1);

  /* The server moved; the cached answer is refused once. */
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.2", 2000);
  S.refuse = 1;
  result res = call(&r, "ice:/hello?adapter-id=A");
  assert_irpc_ok(res.err);
  assert_int_equal(F.lookups, 2);
  assert_int_equal(S.n, 3);
  assert_string_equal(S.log[1], "10.0.0.1:1000/tcp");
  assert_string_equal(S.log[2], "10.0.0.2:2000/tcp");
  irpc_locator_stats s = stats(&r);
  assert_int_equal(s.refreshes, 1);
  assert_int_equal(s.cache_hits, 1);

  /* The refreshed answer is cached. */
  assert_irpc_ok(call(&r, "ice:/hello?adapter-id=A").err);
  assert_int_equal(F.lookups, 2);
  assert_string_equal(S.log[3], "10.0.0.2:2000/tcp");

  /* A fresh answer refused: the retry uses the cache, no new lookup. */
  assert_irpc_ok(irpc_locator_clear(r.locator));
  S.refuse = 1;
  assert_irpc_ok(call(&r, "ice:/hello?adapter-id=A").err);
  assert_int_equal(F.lookups, 3);
  assert_int_equal(S.n, 6);
  assert_int_equal(stats(&r).refreshes, 1);

  /* Two refusals: the second retry follows a cached answer again. */
  S.refuse = 2;
  assert_irpc_ok(call(&r, "ice:/hello?adapter-id=A").err);
  assert_int_equal(F.lookups, 4);
  assert_int_equal(stats(&r).refreshes, 2);
  rig_fini(&r);
}

static void test_not_found(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  /* An unknown adapter: AdapterNotFoundException. */
  result res = call(&r, "ice:/hello?adapter-id=Nope");
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_NOT_FOUND);
  assert_non_null(strstr(res.message, "'Nope'"));
  /* An unknown object: ObjectNotFoundException. */
  res = call(&r, "ice:/cat/gone");
  assert_int_equal(res.status, IRPC_STATUS_NOT_FOUND);
  assert_non_null(strstr(res.message, "'/cat/gone'"));
  /* A null proxy. */
  answer_set('o', "nul", ANSWER_NULL, NULL, 0);
  res = call(&r, "ice:/nul");
  assert_int_equal(res.status, IRPC_STATUS_NOT_FOUND);
  assert_int_equal(S.n, 0);
  /* Not cached: asked again. */
  res = call(&r, "ice:/hello?adapter-id=Nope");
  assert_int_equal(res.status, IRPC_STATUS_NOT_FOUND);
  assert_int_equal(F.lookups, 4);
  irpc_locator_stats s = stats(&r);
  assert_int_equal(s.not_found, 4);
  assert_int_equal(s.cached, 0);
  rig_fini(&r);
}

/* A well-known object whose proxy names an adapter: resolved again. */
static void test_indirect_object(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  answer *a = answer_set('o', "hello", ANSWER_INDIRECT, NULL, 0);
  snprintf(a->adapter, sizeof(a->adapter), "HelloAdapter");
  answer_set('a', "HelloAdapter", ANSWER_PROXY, "10.1.1.1", 4444);
  result res = call(&r, "ice:/hello");
  assert_irpc_ok(res.err);
  assert_int_equal(res.status, IRPC_STATUS_OK);
  assert_string_equal(S.log[0], "10.1.1.1:4444/tcp");
  assert_int_equal(F.lookups, 2);
  assert_string_equal(F.last_op, "findAdapterById");
  assert_int_equal(stats(&r).lookups, 2);
  /* The object's answer is cached. */
  assert_irpc_ok(call(&r, "ice:/hello").err);
  assert_int_equal(F.lookups, 2);
  /* An adapter that is not there: not found. */
  a = answer_set('o', "orphan", ANSWER_INDIRECT, NULL, 0);
  snprintf(a->adapter, sizeof(a->adapter), "Gone");
  res = call(&r, "ice:/orphan");
  assert_int_equal(res.status, IRPC_STATUS_NOT_FOUND);
  rig_fini(&r);
}

/* A locator that does not answer: every waiting call fails with
 * IRPC_ETIMEDOUT when the resolve timeout passes. */
static void test_resolve_timeout(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  o.resolve_timeout_ms = 500;
  rig_init(&r, &o, 0);
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.1", 1000);
  F.hold = 1;
  call_ctx c[3];
  for (int i = 0; i < 3; i++)
    start(&r, &c[i], "ice:/hello?adapter-id=A");
  while (F.nheld == 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  assert_irpc_ok(irpc_clock_advance(r.clock, 499 * UINT64_C(1000000)));
  uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(c[0].res.done, 0);
  assert_irpc_ok(irpc_clock_advance(r.clock, UINT64_C(1000000)));
  for (int i = 0; i < 3; i++) {
    kit_run_until(&r.loop, &c[i].res.done);
    assert_irpc_err(c[i].res.err, IRPC_ETIMEDOUT);
    finish(&c[i]);
  }
  assert_int_equal(F.lookups, 1);
  assert_int_equal(F.canceled, 1);
  irpc_locator_stats s = stats(&r);
  assert_int_equal(s.failures, 1);
  assert_int_equal(s.cached, 0);
  assert_int_equal(S.n, 0);
  /* The next call asks again, and the locator now answers. */
  F.hold = 0;
  assert_irpc_ok(call(&r, "ice:/hello?adapter-id=A").err);
  assert_int_equal(F.lookups, 2);
  rig_fini(&r);
}

/* A waiting call canceled completes with its error; the lookup goes on
 * and fills the cache. */
static void test_cancel_waiting(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.1", 1000);
  F.hold = 1;
  call_ctx c[2];
  start(&r, &c[0], "ice:/hello?adapter-id=A");
  start(&r, &c[1], "ice:/hello?adapter-id=A");
  while (F.nheld == 0)
    uv_run(&r.loop, UV_RUN_ONCE);
  assert_irpc_ok(irpc_call_cancel(c[0].call, IRPC_ECANCELED));
  kit_run_until(&r.loop, &c[0].res.done);
  assert_irpc_err(c[0].res.err, IRPC_ECANCELED);
  assert_int_equal(c[1].res.done, 0);
  F.hold = 0;
  fake_answer(F.held[0]);
  kit_run_until(&r.loop, &c[1].res.done);
  assert_irpc_ok(c[1].res.err);
  assert_int_equal(S.n, 1);
  finish(&c[0]);
  finish(&c[1]);
  assert_irpc_ok(call(&r, "ice:/hello?adapter-id=A").err);
  assert_int_equal(F.lookups, 1);
  rig_fini(&r);
}

static void test_bad_replies(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  static const char *const garbage[] = {
      "",             /* nothing */
      "046563686f00", /* identity, then nothing */
      "046563686f000000000100010101010019000000010109313237", /* cut */
      m3_content + 2,                                         /* shifted */
      "0000ff", /* null proxy and a byte more */
  };
  for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
    snprintf(answer_set('a', "G", ANSWER_RAW, NULL, 0)->raw, 512, "%s",
             garbage[i]);
    result res = call(&r, "ice:/hello?adapter-id=G");
    if (res.err != IRPC_EDATA)
      fail_msg("garbage %zu: %s", i, irpc_err_name(res.err));
  }
  /* Another status from the locator. */
  answer_set('a', "U", ANSWER_STATUS, NULL, 0);
  assert_irpc_err(call(&r, "ice:/hello?adapter-id=U").err, IRPC_ESTATUS);
  /* A proxy without a TCP or SSL endpoint: not found. */
  snprintf(answer_set('a', "W", ANSWER_RAW, NULL, 0)->raw, 512, "%s",
           "0564756d6d79000000000100010101030015000000010109313237"
           "2e302e302e317db2000000");
  assert_int_equal(call(&r, "ice:/hello?adapter-id=W").status,
                   IRPC_STATUS_NOT_FOUND);
  assert_int_equal(S.n, 0);
  assert_int_equal(stats(&r).failures, 6);
  rig_fini(&r);
}

/* The locator cannot be reached: the calls fail with that error. */
static void test_locator_unreachable(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  irpc_invoker *refused;
  rig_init(&r, &o, 0);
  /* A second interceptor whose locator refuses. */
  assert_irpc_ok(irpc_invoker_new(&refused, &r.loop, &refused_ops, NULL));
  irpc_locator_options o2;
  irpc_locator_options_init(&o2);
  o2.locator = refused;
  irpc_invoker *loc2;
  assert_irpc_ok(irpc_locator_new(&loc2, &r.loop, &o2));
  assert_irpc_ok(irpc_invoker_set_next(loc2, r.sink));
  call_ctx c;
  memset(&c, 0, sizeof(c));
  assert_irpc_ok(irpc_service_address_parse(&c.sa, "ice:/h?adapter-id=A"));
  assert_irpc_ok(irpc_outgoing_request_new(&c.req, "/h", "op"));
  assert_irpc_ok(irpc_outgoing_request_set_service_address(c.req, c.sa));
  assert_irpc_ok(irpc_invoke(loc2, c.req, on_done, &c.res, NULL));
  kit_run_until(&r.loop, &c.res.done);
  assert_irpc_err(c.res.err, UV_ECONNREFUSED);
  finish(&c);
  irpc_locator_stats s;
  assert_irpc_ok(irpc_locator_get_stats(loc2, &s));
  assert_int_equal(s.failures, 1);
  assert_int_equal(s.cached, 0);
  irpc_invoker_free(loc2);
  irpc_invoker_free(refused);
  /* Not a locator. */
  assert_irpc_err(irpc_locator_get_stats(r.sink, &s), IRPC_EINVAL);
  assert_irpc_err(irpc_locator_clear(r.sink), IRPC_EINVAL);
  rig_fini(&r);
}

static void test_cache_size(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  o.max_cache_size = 2;
  rig_init(&r, &o, 0);
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.1", 1);
  answer_set('a', "B", ANSWER_PROXY, "10.0.0.2", 2);
  answer_set('a', "C", ANSWER_PROXY, "10.0.0.3", 3);
  assert_irpc_ok(call(&r, "ice:/h?adapter-id=A").err);
  assert_irpc_ok(call(&r, "ice:/h?adapter-id=B").err);
  assert_irpc_ok(call(&r, "ice:/h?adapter-id=A").err); /* A most recent */
  assert_irpc_ok(call(&r, "ice:/h?adapter-id=C").err); /* B out */
  assert_int_equal(F.lookups, 3);
  assert_int_equal(stats(&r).cached, 2);
  assert_irpc_ok(call(&r, "ice:/h?adapter-id=A").err);
  assert_int_equal(F.lookups, 3);
  assert_irpc_ok(call(&r, "ice:/h?adapter-id=B").err);
  assert_int_equal(F.lookups, 4);
  rig_fini(&r);

  /* No cache: every call asks. */
  irpc_locator_options_init(&o);
  o.max_cache_size = 0;
  rig_init(&r, &o, 0);
  answer_set('a', "A", ANSWER_PROXY, "10.0.0.1", 1);
  assert_irpc_ok(call(&r, "ice:/h?adapter-id=A").err);
  assert_irpc_ok(call(&r, "ice:/h?adapter-id=A").err);
  assert_int_equal(F.lookups, 2);
  assert_int_equal(stats(&r).cached, 0);
  rig_fini(&r);
}

static void test_options(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  irpc_invoker *inv;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  assert_int_equal(o.resolve_timeout_ms, 10000);
  assert_int_equal(o.max_cache_size, 100);
  assert_int_equal(o.ttl_ms, 0);
  assert_irpc_err(irpc_locator_new(&inv, &loop, &o), IRPC_EINVAL); /* none */
  assert_irpc_err(irpc_locator_new(NULL, &loop, &o), IRPC_EINVAL);
  assert_irpc_err(irpc_locator_new(&inv, &loop, NULL), IRPC_EINVAL);
  irpc_invoker *sink;
  assert_irpc_ok(irpc_invoker_new(&sink, &loop, &sink_ops, NULL));
  o.locator = sink;
  irpc_service_address *bad;
  assert_irpc_ok(irpc_service_address_parse(&bad, "icerpc://h/IceGrid/Loc"));
  o.locator_address = bad;
  assert_irpc_err(irpc_locator_new(&inv, &loop, &o), IRPC_EINVAL);
  irpc_service_address_free(bad);
  o.locator_address = NULL;
  o.struct_size = 0;
  assert_irpc_err(irpc_locator_new(&inv, &loop, &o), IRPC_EINVAL);
  irpc_locator_options_init(&o);
  o.locator = sink;
  assert_irpc_ok(irpc_locator_new(&inv, &loop, &o));
  irpc_invoker_free(inv);
  irpc_invoker_free(sink);
  test_loop_finish(&loop);
}

/* ---- Registration ---- */

typedef struct reg_result {
  int done;
  int err;
} reg_result;

static void on_registered(int err, void *ud) {
  reg_result *r = ud;
  r->done = 1;
  r->err = err;
}

static int do_register_via(rig *r, irpc_invoker *via, const char *adapter,
                           const char *group, const char *endpoints_uri);

static int do_register(rig *r, const char *adapter, const char *group,
                       const char *endpoints_uri) {
  return do_register_via(r, r->coloc, adapter, group, endpoints_uri);
}

static int do_register_via(rig *r, irpc_invoker *via, const char *adapter,
                           const char *group, const char *endpoints_uri) {
  irpc_service_address *la, *eps = NULL;
  assert_irpc_ok(irpc_service_address_parse_ice_proxy(
      &la, "IceGrid/Locator:tcp -h 127.0.0.1 -p 4061", NULL));
  if (endpoints_uri)
    assert_irpc_ok(irpc_service_address_parse(&eps, endpoints_uri));
  irpc_locator_registration g;
  irpc_locator_registration_init(&g);
  g.invoker = via;
  g.locator_address = la;
  g.adapter_id = adapter;
  g.replica_group_id = group;
  g.endpoints = eps;
  reg_result res = {0};
  int rc = irpc_locator_register(&r->loop, &g, on_registered, &res);
  irpc_service_address_free(la);
  irpc_service_address_free(eps);
  if (rc)
    return rc;
  kit_run_until(&r->loop, &res.done);
  return res.err;
}

static void test_registration(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  assert_int_equal(call(&r, "ice:/hello?adapter-id=MyAdapter").status,
                   IRPC_STATUS_NOT_FOUND);
  assert_irpc_ok(do_register(&r, "MyAdapter", NULL,
                             "ice://127.0.0.1:10000/?transport=tcp&t=5000"));
  assert_int_equal(F.registrations, 1);
  result res = call(&r, "ice:/hello?adapter-id=MyAdapter");
  assert_int_equal(res.status, IRPC_STATUS_OK);
  assert_string_equal(S.log[0], "127.0.0.1:10000/tcp");

  /* A replica group. */
  assert_irpc_ok(
      do_register(&r, "Rep1", "Group", "ice://10.0.0.5:7000/?t=5000"));
  assert_string_equal(answer_find('a', "Rep1")->replica, "Group");

  /* Unregistered: not found any more (once the cache forgets). */
  assert_irpc_ok(do_register(&r, "MyAdapter", NULL, NULL));
  assert_irpc_ok(irpc_locator_clear(r.locator));
  assert_int_equal(call(&r, "ice:/hello?adapter-id=MyAdapter").status,
                   IRPC_STATUS_NOT_FOUND);

  /* Another server has the adapter. */
  F.reg_fail_busy = 1;
  assert_irpc_err(
      do_register(&r, "MyAdapter", NULL, "ice://127.0.0.1:10000/?t=5000"),
      IRPC_EBUSY);
  F.reg_fail_busy = 0;

  /* A locator without a registry. */
  F.no_registry = 1;
  assert_irpc_err(
      do_register(&r, "MyAdapter", NULL, "ice://127.0.0.1:10000/?t=5000"),
      IRPC_ENOTSUP);
  F.no_registry = 0;

  /* A locator that cannot be reached. */
  irpc_invoker *refused;
  assert_irpc_ok(irpc_invoker_new(&refused, &r.loop, &refused_ops, NULL));
  assert_irpc_err(do_register_via(&r, refused, "MyAdapter", NULL,
                                  "ice://127.0.0.1:10000/?t=5000"),
                  UV_ECONNREFUSED);
  irpc_invoker_free(refused);

  /* Refused arguments. */
  assert_irpc_err(do_register(&r, "", NULL, NULL), IRPC_EINVAL);
  assert_irpc_err(
      do_register(&r, "A", NULL, "ice://localhost/?transport=uds&path=/x.sock"),
      IRPC_EINVAL);
  assert_irpc_err(do_register(&r, "A", NULL, "icerpc://h/"), IRPC_EINVAL);
  irpc_locator_registration g;
  irpc_locator_registration_init(&g);
  assert_int_equal(g.timeout_ms, 10000);
  reg_result rr = {0};
  assert_irpc_err(irpc_locator_register(&r.loop, &g, on_registered, &rr),
                  IRPC_EINVAL);
  assert_irpc_err(irpc_locator_register(&r.loop, NULL, on_registered, &rr),
                  IRPC_EINVAL);
  rig_fini(&r);
}

/* ---- A registered server shutting down ---- */

typedef struct down {
  int calls, unregister_err, status;
} down;

static void on_down(irpc_server *server, int unregister_err, int status,
                    void *ud) {
  (void)server;
  down *d = ud;
  d->calls++;
  d->unregister_err = unregister_err;
  d->status = status;
}

/* Shuts `server` down through irpc_locator_server_shutdown with adapter
 * `adapter` and the locator reached through `via`; runs until the callback
 * ran, then a few more turns to see it does not run twice. */
static down shut_registered(rig *r, irpc_invoker *via, irpc_server *server,
                            const char *adapter) {
  irpc_service_address *la;
  assert_irpc_ok(irpc_service_address_parse_ice_proxy(
      &la, "IceGrid/Locator:tcp -h 127.0.0.1 -p 4061", NULL));
  irpc_locator_registration g;
  irpc_locator_registration_init(&g);
  g.invoker = via;
  g.locator_address = la;
  g.adapter_id = adapter;
  down d = {0};
  assert_irpc_ok(
      irpc_locator_server_shutdown(&r->loop, server, &g, on_down, &d));
  irpc_service_address_free(la); /* copied by the call */
  while (d.calls == 0)
    uv_run(&r->loop, UV_RUN_ONCE);
  uv_run(&r->loop, UV_RUN_NOWAIT);
  assert_int_equal(d.calls, 1);
  return d;
}

/* The adapter is unregistered (the null proxy) before the server shuts
 * down; the server shuts down when the registry cannot be reached, and the
 * callback reports both results, once, on every path. */
static void test_server_shutdown_unregisters(void **state) {
  (void)state;
  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  irpc_dispatcher *echo;
  assert_irpc_ok(irpc_dispatcher_new(&echo, &r.loop, &test_echo_ops, NULL));
  irpc_server *server;
  assert_irpc_ok(irpc_server_new(&server, &r.loop, echo, NULL));
  assert_irpc_ok(do_register(&r, "SrvAdapter", NULL,
                             "ice://127.0.0.1:10000/?transport=tcp&t=5000"));
  assert_int_equal(call(&r, "ice:/hello?adapter-id=SrvAdapter").status,
                   IRPC_STATUS_OK);
  int before = F.registrations;
  down d = shut_registered(&r, r.coloc, server, "SrvAdapter");
  assert_irpc_ok(d.unregister_err);
  assert_irpc_ok(d.status);
  assert_int_equal(F.registrations, before + 1);
  assert_irpc_ok(irpc_locator_clear(r.locator));
  assert_int_equal(call(&r, "ice:/hello?adapter-id=SrvAdapter").status,
                   IRPC_STATUS_NOT_FOUND);
  /* Already shut down: the unregistration still runs, the shutdown's
   * error is reported. */
  d = shut_registered(&r, r.coloc, server, "SrvAdapter");
  assert_irpc_ok(d.unregister_err);
  assert_irpc_err(d.status, IRPC_ECLOSED);
  irpc_server_free(server);

  /* The locator cannot be reached: the server shuts down all the same. */
  irpc_invoker *refused;
  assert_irpc_ok(irpc_invoker_new(&refused, &r.loop, &refused_ops, NULL));
  assert_irpc_ok(irpc_server_new(&server, &r.loop, echo, NULL));
  d = shut_registered(&r, refused, server, "SrvAdapter");
  assert_irpc_err(d.unregister_err, UV_ECONNREFUSED);
  assert_irpc_ok(d.status);
  assert_irpc_err(irpc_server_shutdown(server, NULL, NULL), IRPC_ECLOSED);

  /* Refused arguments: nothing runs, the server is not shut down. */
  irpc_server *other;
  assert_irpc_ok(irpc_server_new(&other, &r.loop, echo, NULL));
  irpc_locator_registration g;
  irpc_locator_registration_init(&g);
  down none = {0};
  assert_irpc_err(
      irpc_locator_server_shutdown(&r.loop, NULL, &g, on_down, &none),
      IRPC_EINVAL);
  assert_irpc_err(
      irpc_locator_server_shutdown(&r.loop, other, &g, on_down, &none),
      IRPC_EINVAL); /* no invoker, no locator address, no adapter id */
  uv_run(&r.loop, UV_RUN_NOWAIT);
  assert_int_equal(none.calls, 0);
  assert_irpc_ok(irpc_server_shutdown(other, NULL, NULL));
  irpc_server_free(other);
  irpc_server_free(server);
  irpc_invoker_free(refused);
  uv_run(&r.loop, UV_RUN_DEFAULT);
  irpc_dispatcher_free(echo);
  rig_fini(&r);
}

/* ---- Against Ice's own codec (ZeroC's Python Ice) ---- */

/* Runs ice_proxy_codec.py `mode` on `n` input lines; the output lines go
 * to out[i]. 0 when Python Ice is not installed. */
static int ice_codec(const char *mode, const char *const *in, size_t n,
                     char out[][512]) {
  if (system("/usr/bin/python3 -c 'import Ice' >/dev/null 2>&1") != 0)
    return 0;
  char dir[512];
  snprintf(dir, sizeof(dir), "%s", __FILE__);
  char *slash = strrchr(dir, '/');
  assert_non_null(slash);
  *slash = '\0';
  char tmp[] = "/tmp/irpc_ice_codecXXXXXX";
  int fd = mkstemp(tmp);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  for (size_t i = 0; i < n; i++)
    fprintf(f, "%s\n", in[i]);
  fclose(f);
  char cmd[1200];
  snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s/ice_proxy_codec.py %s < %s",
           dir, mode, tmp);
  FILE *p = popen(cmd, "r");
  assert_non_null(p);
  size_t got = 0;
  while (got < n && fgets(out[got], 512, p)) {
    out[got][strcspn(out[got], "\n")] = '\0';
    got++;
  }
  assert_int_equal(pclose(p), 0);
  unlink(tmp);
  assert_int_equal(got, n);
  return 1;
}

/* Proxies Ice encoded resolve as their endpoints say; the proxies irpc
 * registers read back in Ice as the server addresses given. */
static void test_ice_codec(void **state) {
  (void)state;
  static const char *const proxies[] = {
      "echo:tcp -h 127.0.0.1 -p 45693 -t 60000",
      "hello -f fa:tcp -h \"::1\" -p 1 -t 5 -z:tcp -h h2 -p 2",
      "x:udp -h 239.0.0.1 -p 5:tcp -h h -p 9",
      "x:ws -h w -p 80 -r /p:tcp -h h -p 10 -t infinite",
      "x @ IndirectAdapter",
      "cat/x -o -s -e 1.0:tcp -h 10.0.0.1 -p 65535",
  };
  size_t n = sizeof(proxies) / sizeof(proxies[0]);
  char hex[8][512];
  if (!ice_codec("encode", proxies, n, hex))
    skip();
  /* The capture's bytes are Ice's. */
  assert_string_equal(hex[0], m3_content);

  rig r;
  irpc_locator_options o;
  irpc_locator_options_init(&o);
  rig_init(&r, &o, 0);
  answer_set('a', "IndirectAdapter", ANSWER_PROXY, "10.9.9.9", 9999);
  for (size_t i = 0; i < n; i++) {
    char name[16];
    snprintf(name, sizeof(name), "o%zu", i);
    answer *a = answer_set('o', name, ANSWER_RAW, NULL, 0);
    size_t len = strlen(hex[i]);
    assert_true(len < sizeof(a->raw));
    memcpy(a->raw, hex[i], len + 1);
    char uri[32];
    snprintf(uri, sizeof(uri), "ice:/o%zu", i);
    result res = call(&r, uri);
    assert_irpc_ok(res.err);
    assert_int_equal(res.status, IRPC_STATUS_OK);
  }
  assert_string_equal(S.log[0], "127.0.0.1:45693/tcp");
  assert_string_equal(S.log[1], "::1:1/tcp");
  assert_int_equal(S.count[1], 2);
  assert_string_equal(S.log[2], "h:9/tcp");
  assert_int_equal(S.count[2], 1);
  assert_string_equal(S.log[3], "h:10/tcp");
  assert_int_equal(S.count[3], 1);
  assert_string_equal(S.log[4], "10.9.9.9:9999/tcp");
  assert_string_equal(S.log[5], "10.0.0.1:65535/tcp");

  /* What irpc registers, as Ice reads it. */
  static const char *const eps[] = {
      "ice://127.0.0.1:10000/?transport=tcp&t=5000",
      "ice://[::1]:10001/?alt-server=h2:5?t=infinite$z",
      NULL,
  };
  static const char *const want[] = {
      "dummy -t -e 1.1:tcp -h 127.0.0.1 -p 10000 -t 5000",
      "dummy -t -e 1.1:tcp -h \"::1\" -p 10001 -t 60000:tcp -h h2 -p 5 -t "
      "infinite -z",
      "null",
  };
  char regs[3][512];
  const char *in[3];
  F.reg_capture_only = 1;
  for (size_t i = 0; i < 3; i++) {
    assert_irpc_ok(do_register(&r, "A", NULL, eps[i]));
    snprintf(regs[i], sizeof(regs[i]), "%s", F.reg_proxy);
    in[i] = regs[i];
  }
  char back[3][512];
  assert_true(ice_codec("decode", in, 3, back));
  for (size_t i = 0; i < 3; i++)
    assert_string_equal(back[i], want[i]);
  rig_fini(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_captured_vectors),
      cmocka_unit_test(test_escaped_names),
      cmocka_unit_test(test_passes_others),
      cmocka_unit_test(test_cache_and_ttl),
      cmocka_unit_test(test_coalescing),
      cmocka_unit_test(test_refresh_on_retry),
      cmocka_unit_test(test_not_found),
      cmocka_unit_test(test_indirect_object),
      cmocka_unit_test(test_resolve_timeout),
      cmocka_unit_test(test_cancel_waiting),
      cmocka_unit_test(test_bad_replies),
      cmocka_unit_test(test_locator_unreachable),
      cmocka_unit_test(test_cache_size),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_registration),
      cmocka_unit_test(test_server_shutdown_unregisters),
      cmocka_unit_test(test_ice_codec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
