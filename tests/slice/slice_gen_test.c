/* The runtime of generated code (irpc/slice_gen.h), driven through the
 * golden generated files in tests/slice_gen/: typed calls and typed
 * dispatch over coloc, TCP, Unix domain sockets and the memory transport,
 * the wire shape of the requests, the errors, callbacks to a client's own
 * connection, and every allocation of a typed call failing in turn. */
#include <stdio.h>

#include "kit/net.h"
#include "slice_gen/greeter.slice.h"

enum { KIND_COLOC = 100 };

/* ---- The services ---- */

typedef struct greeter_impl {
  int notified;
  int pings;
  char note[64];
  irpc_slice_dispatch *later; /* a greet answered from a timer */
  uv_timer_t timer;
} greeter_impl;

static void reply_later(uv_timer_t *t) {
  greeter_impl *g = t->data;
  Demo_Greeter_greet_reply(g->later, IRPC_STR("Hello, later!"));
  g->later = NULL;
}

static void g_greet(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  greeter_impl *g = impl;
  if (irpc_str_eq(name, "later")) { /* completes on a later loop turn */
    g->later = sd;
    uv_timer_start(&g->timer, reply_later, 0, 0);
    return;
  }
  char buf[80];
  int n = snprintf(buf, sizeof buf, "Hello, %.*s!", (int)name.len, name.ptr);
  if (n >= (int)sizeof buf) /* a long name: the greeting is cut (ASCII) */
    n = (int)sizeof buf - 1;
  Demo_Greeter_greet_reply(sd, (irpc_str){buf, (size_t)n});
}

static void g_lookup(void *impl, irpc_slice_dispatch *sd, int32_t id) {
  (void)impl;
  Demo_Result_string_LookupError r = {.ok = id == 1};
  if (id == 1) {
    r.u.success = IRPC_STR("one");
  } else if (id == 2) {
    r.u.failure.tag = Demo_LookupError_Forbidden;
    r.u.failure.u.Forbidden.user = IRPC_STR("bob");
    r.u.failure.u.Forbidden.has_reason = true;
    r.u.failure.u.Forbidden.reason = IRPC_STR("not on the list");
  } else if (id == 5) { /* no reason: the optional member is absent */
    r.u.failure.tag = Demo_LookupError_Forbidden;
    r.u.failure.u.Forbidden.user = IRPC_STR("eve");
  } else if (id == 3) {
    r.u.failure.tag = Demo_LookupError_Busy;
  } else if (id == 4) {
    irpc_slice_dispatch_fail(sd, IRPC_STATUS_UNAUTHORIZED, "go away");
    return;
  } else {
    r.u.failure.tag = Demo_LookupError_NotFound;
    r.u.failure.u.NotFound.id = id;
  }
  Demo_Greeter_lookup_reply(sd, &r);
}

static void g_notify(void *impl, irpc_slice_dispatch *sd, irpc_str message) {
  greeter_impl *g = impl;
  snprintf(g->note, sizeof g->note, "%.*s", (int)message.len, message.ptr);
  g->notified++;
  Demo_Greeter_notify_reply(sd);
}

static void g_echo(void *impl, irpc_slice_dispatch *sd, irpc_bytes data) {
  (void)impl;
  Demo_Greeter_echo_reply(sd, data);
}

static const Demo_Greeter_ops greeter_ops = {
    .greet = g_greet, .lookup = g_lookup, .notify = g_notify, .echo = g_echo};

static void g_shout(void *impl, irpc_slice_dispatch *sd, irpc_str text) {
  (void)impl;
  char buf[64];
  size_t n = text.len < sizeof buf ? text.len : sizeof buf;
  for (size_t i = 0; i < n; i++)
    buf[i] = text.ptr[i] >= 'a' && text.ptr[i] <= 'z' ? text.ptr[i] - 32
                                                      : text.ptr[i];
  Demo_LoudGreeter_shout_reply(sd, (irpc_str){buf, n});
}

static void g_ping(void *impl, irpc_slice_dispatch *sd) {
  greeter_impl *g = impl;
  g->pings++;
  Demo_Pinger_ping_reply(sd);
}

/* The bases' operations come from their tables inside this one. */
static const Demo_LoudGreeter_ops loud_ops = {
    .Greeter = {.greet = g_greet, .lookup = g_lookup},
    .Pinger = {.ping = g_ping},
    .shout = g_shout};

/* Feed: keeps copies of the listeners it is given and pushes events to
 * them, answering publish once every push has completed. */
typedef struct feed_impl {
  Demo_ListenerProxy listeners[4];
  int n;
  irpc_slice_dispatch *publishing;
  int pending, delivered;
  int last_err;
  char last_msg[256];
} feed_impl;

static void f_subscribe(void *impl, irpc_slice_dispatch *sd,
                        const Demo_ListenerProxy *l, irpc_str topic) {
  feed_impl *f = impl;
  (void)topic;
  if (f->n == 4 || irpc_slice_proxy_copy(&f->listeners[f->n].p, &l->p)) {
    irpc_slice_dispatch_fail(sd, IRPC_STATUS_INTERNAL_ERROR, "full");
    return;
  }
  Demo_Feed_subscribe_reply(sd, ++f->n);
}

static void f_pushed(irpc_slice_reply *r, int err, void *ud) {
  feed_impl *f = ud;
  f->last_err = err;
  snprintf(f->last_msg, sizeof f->last_msg, "%s", irpc_slice_reply_message(r));
  if (err == 0)
    f->delivered++;
  if (--f->pending == 0 && f->publishing) {
    Demo_Feed_publish_reply(f->publishing, f->delivered);
    f->publishing = NULL;
  }
}

static void f_publish(void *impl, irpc_slice_dispatch *sd,
                      const Demo_Event *e) {
  feed_impl *f = impl;
  f->publishing = sd;
  f->delivered = 0;
  f->pending = 1; /* held until every push started */
  for (int i = 0; i < f->n; i++) {
    f->pending++;
    int rc = Demo_Listener_onEvent(&f->listeners[i], e, NULL, f_pushed, f);
    if (rc) {
      f->pending--;
      f->last_err = rc;
    }
  }
  f_pushed(NULL, -1, f); /* the hold */
}

static void f_stats(void *impl, irpc_slice_dispatch *sd,
                    const irpc_str *topic) {
  feed_impl *f = impl;
  snprintf(f->last_msg, sizeof f->last_msg, "%s", topic ? "topic" : "no topic");
  Demo_Dict_string_Opt_int32_entry e[2] = {
      {.key = IRPC_STR("alert"), .has_value = true, .value = 3},
      {.key = topic ? *topic : IRPC_STR("none")}};
  Demo_Dict_string_Opt_int32 d = {2, e};
  Demo_Feed_stats_reply(sd, f->n, &d);
}

static const Demo_Feed_ops feed_ops = {
    .subscribe = f_subscribe, .publish = f_publish, .stats = f_stats};

/* Listener, on the client. */
typedef struct listener_impl {
  int events;
  int64_t id;
  char kind[32], source[32], detail[32];
  int has_source, has_detail;
} listener_impl;

static void l_on_event(void *impl, irpc_slice_dispatch *sd,
                       const Demo_Event *e) {
  listener_impl *l = impl;
  l->events++;
  l->id = e->id;
  snprintf(l->kind, sizeof l->kind, "%.*s", (int)e->kind.len, e->kind.ptr);
  l->has_source = e->has_source;
  l->has_detail = e->has_detail;
  if (e->has_source)
    snprintf(l->source, sizeof l->source, "%.*s", (int)e->source.len,
             e->source.ptr);
  if (e->has_detail)
    snprintf(l->detail, sizeof l->detail, "%.*s", (int)e->detail.len,
             e->detail.ptr);
  Demo_Listener_onEvent_reply(sd);
}

static const Demo_Listener_ops listener_ops = {.onEvent = l_on_event};

/* A middleware recording what reached the server. */
typedef struct seen {
  int requests;
  int idempotent, compressed, oneway;
  uint8_t payload[64];
  size_t len;
} seen;

static void rec_dispatch(irpc_dispatcher *self, irpc_dispatch *d) {
  seen *s = *(seen **)irpc_dispatcher_data(self);
  irpc_incoming_request *req = irpc_dispatch_request(d);
  irpc_fields *f = irpc_incoming_request_fields(req);
  irpc_buf *p = irpc_incoming_request_payload(req);
  s->requests++;
  s->idempotent = irpc_fields_has(f, IRPC_REQUEST_FIELD_IDEMPOTENT);
  s->compressed = irpc_fields_has(f, IRPC_REQUEST_FIELD_COMPRESSION_FORMAT);
  s->oneway = irpc_incoming_request_oneway(req);
  s->len = irpc_buf_len(p) < sizeof s->payload ? irpc_buf_len(p) : 0;
  irpc_buf_copyout(p, 0, s->payload, s->len);
  irpc_dispatch_next(d);
}

static int rec_init(irpc_dispatcher *self, const void *cfg) {
  *(const void **)irpc_dispatcher_data(self) = cfg;
  return 0;
}

static const irpc_dispatcher_ops rec_ops = {.struct_size =
                                                sizeof(irpc_dispatcher_ops),
                                            .name = "rec",
                                            .data_size = sizeof(void *),
                                            .init = rec_init,
                                            .dispatch = rec_dispatch};

/* ---- Fixture: a server with Greeter and Feed, and a client ---- */

typedef struct greeter_fx {
  net_rig rig;
  int kind;
  irpc_invoker *client;
  greeter_impl greeter;
  feed_impl feed;
  seen seen;
} greeter_fx;

static void greeter_fx_init(greeter_fx *f, int kind) {
  memset(f, 0, sizeof *f);
  f->kind = kind;
  net_rig_init(&f->rig, kind == KIND_COLOC ? NET_MEMORY : kind);
  uv_timer_init(&f->rig.loop, &f->greeter.timer);
  f->greeter.timer.data = &f->greeter;
  irpc_dispatcher *mw;
  assert_irpc_ok(irpc_dispatcher_new(&mw, &f->rig.loop, &rec_ops, &f->seen));
  assert_irpc_ok(irpc_router_use(f->rig.router, mw));
  irpc_dispatcher **d = &f->rig.disps[f->rig.ndisps];
  assert_irpc_ok(
      Demo_Greeter_map(f->rig.router, NULL, &greeter_ops, &f->greeter, &d[0]));
  assert_irpc_ok(
      Demo_Feed_map(f->rig.router, NULL, &feed_ops, &f->feed, &d[1]));
  assert_irpc_ok(
      Demo_LoudGreeter_map(f->rig.router, NULL, &loud_ops, &f->greeter, &d[2]));
  f->rig.ndisps += 3;
}

static void greeter_fx_start(greeter_fx *f) {
  if (f->kind == KIND_COLOC) {
    assert_irpc_ok(irpc_coloc_new(&f->client, &f->rig.loop,
                                  irpc_router_dispatcher(f->rig.router)));
    return;
  }
  net_rig_start(&f->rig);
  f->client = net_client(&f->rig);
}

static void on_coloc_down(int status, void *ud) {
  (void)status;
  *(int *)ud = 1;
}

static void greeter_fx_fini(greeter_fx *f) {
  for (int i = 0; i < f->feed.n; i++)
    irpc_slice_proxy_release(&f->feed.listeners[i].p);
  if (f->kind == KIND_COLOC) {
    int down = 0;
    assert_irpc_ok(irpc_coloc_shutdown(f->client, 1000, on_coloc_down, &down));
    kit_run_until(&f->rig.loop, &down);
    irpc_invoker_free(f->client);
  } else if (f->client) {
    net_client_close(&f->rig, f->client);
  }
  uv_close((uv_handle_t *)&f->greeter.timer, NULL);
  net_rig_fini(&f->rig);
}

/* ---- Typed results ---- */

typedef struct res {
  int done;
  int err;
  uint64_t status;
  char msg[256];
  char str[128];
  int ok;
  int32_t i32;
  Demo_LookupError failure;
  char user[32], reason[32];
} res;

static void res_common(res *o, irpc_slice_reply *r, int err) {
  o->done++;
  o->err = err;
  o->status = irpc_slice_reply_status(r);
  snprintf(o->msg, sizeof o->msg, "%s", irpc_slice_reply_message(r));
}

static void on_str(irpc_slice_reply *r, int err, const irpc_str *ret,
                   void *ud) {
  res *o = ud;
  res_common(o, r, err);
  if (ret)
    snprintf(o->str, sizeof o->str, "%.*s", (int)ret->len, ret->ptr);
}

static void on_void(irpc_slice_reply *r, int err, void *ud) {
  res_common(ud, r, err);
}

static void on_i32(irpc_slice_reply *r, int err, const int32_t *ret, void *ud) {
  res *o = ud;
  res_common(o, r, err);
  if (ret)
    o->i32 = *ret;
}

static void on_lookup(irpc_slice_reply *r, int err,
                      const Demo_Result_string_LookupError *ret, void *ud) {
  res *o = ud;
  res_common(o, r, err);
  if (!ret)
    return;
  o->ok = ret->ok;
  if (ret->ok) {
    snprintf(o->str, sizeof o->str, "%.*s", (int)ret->u.success.len,
             ret->u.success.ptr);
    return;
  }
  o->failure = ret->u.failure;
  if (ret->u.failure.tag == Demo_LookupError_Forbidden) {
    irpc_str u = ret->u.failure.u.Forbidden.user;
    irpc_str why = ret->u.failure.u.Forbidden.reason;
    snprintf(o->user, sizeof o->user, "%.*s", (int)u.len, u.ptr);
    snprintf(o->reason, sizeof o->reason, "%.*s", (int)why.len, why.ptr);
  }
}

static void on_bytes(irpc_slice_reply *r, int err, const irpc_bytes *ret,
                     void *ud);

static void greet_sync(greeter_fx *f, const Demo_GreeterProxy *g,
                       const char *name, res *o) {
  memset(o, 0, sizeof *o);
  assert_irpc_ok(Demo_Greeter_greet(g, irpc_str_c(name), NULL, on_str, o));
  kit_run_until(&f->rig.loop, &o->done);
  assert_int_equal(o->done, 1);
}

static void lookup_sync(greeter_fx *f, const Demo_GreeterProxy *g, int32_t id,
                        res *o) {
  memset(o, 0, sizeof *o);
  assert_irpc_ok(Demo_Greeter_lookup(g, id, NULL, on_lookup, o));
  kit_run_until(&f->rig.loop, &o->done);
  assert_int_equal(o->done, 1);
}

static const int kinds[] = {KIND_COLOC, NET_TCP, NET_UDS, NET_MEMORY};

/* Keeps the reply: the decoded value outlives the callback. */
typedef struct kept {
  int done;
  irpc_slice_reply *reply;
  const irpc_str *ret;
} kept;

static void on_keep(irpc_slice_reply *r, int err, const irpc_str *ret,
                    void *ud) {
  kept *k = ud;
  k->done++;
  assert_irpc_ok(err);
  irpc_slice_reply_keep(r);
  k->reply = r;
  k->ret = ret;
}

/* Keeps, then changes its mind, then starts another call: the reply goes
 * once the callback returns, and the new call is not disturbed. */
static void on_keep_free(irpc_slice_reply *r, int err, const irpc_str *ret,
                         void *ud);

typedef struct keep_free {
  int done;
  Demo_GreeterProxy g;
  res next;
} keep_free;

static void on_str(irpc_slice_reply *r, int err, const irpc_str *ret, void *ud);

static void on_keep_free(irpc_slice_reply *r, int err, const irpc_str *ret,
                         void *ud) {
  keep_free *k = ud;
  (void)ret;
  assert_irpc_ok(err);
  irpc_slice_reply_keep(r);
  irpc_slice_reply_free(r);
  irpc_slice_reply_free(r); /* not kept any more: nothing */
  assert_irpc_ok(
      Demo_Greeter_greet(&k->g, IRPC_STR("Next"), NULL, on_str, &k->next));
  k->done++;
}

/* ---- Typed calls ---- */

static void typed_calls(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    greeter_fx f;
    greeter_fx_init(&f, kinds[k]);
    greeter_fx_start(&f);
    Demo_GreeterProxy g = Demo_GreeterProxy_from(f.client, NULL);
    res o;

    greet_sync(&f, &g, "Bob", &o);
    assert_irpc_ok(o.err);
    assert_string_equal(o.str, "Hello, Bob!");
    assert_string_equal(o.msg, "");
    /* The Slice2 request payload, byte for byte: a segment of 5 bytes in a
     * 4-byte size, the string, the tag end marker. */
    static const uint8_t bob[] = {0x16, 0, 0, 0, 0x0C, 'B', 'o', 'b', 0xFC};
    assert_int_equal(f.seen.len, sizeof bob);
    assert_memory_equal(f.seen.payload, bob, sizeof bob);
    assert_false(f.seen.idempotent);
    assert_false(f.seen.oneway);

    greet_sync(&f, &g, "later", &o); /* answered from a timer */
    assert_irpc_ok(o.err);
    assert_string_equal(o.str, "Hello, later!");

    kept kp = {0};
    assert_irpc_ok(Demo_Greeter_greet(&g, IRPC_STR("Kim"), NULL, on_keep, &kp));
    kit_run_until(&f.rig.loop, &kp.done);
    greet_sync(&f, &g, "Lee", &o); /* another call meanwhile */
    assert_true(irpc_str_eq(*kp.ret, "Hello, Kim!"));
    irpc_slice_reply_free(kp.reply);
    keep_free kf = {.g = g};
    assert_irpc_ok(
        Demo_Greeter_greet(&g, IRPC_STR("Kim"), NULL, on_keep_free, &kf));
    kit_run_until(&f.rig.loop, &kf.done);
    kit_run_until(&f.rig.loop, &kf.next.done);
    assert_string_equal(kf.next.str, "Hello, Next!");

    lookup_sync(&f, &g, 1, &o); /* idempotent: the field is on the wire */
    assert_irpc_ok(o.err);
    assert_true(f.seen.idempotent);
    assert_true(o.ok);
    assert_string_equal(o.str, "one");

    lookup_sync(&f, &g, 2, &o); /* Result failure: still err 0 */
    assert_irpc_ok(o.err);
    assert_false(o.ok);
    assert_int_equal(o.failure.tag, Demo_LookupError_Forbidden);
    assert_string_equal(o.user, "bob");
    assert_string_equal(o.reason, "not on the list");

    /* Decoded into the arena the last reply used: an absent optional is
     * zero, never the earlier reply's value. */
    lookup_sync(&f, &g, 5, &o);
    assert_int_equal(o.failure.tag, Demo_LookupError_Forbidden);
    assert_string_equal(o.user, "eve");
    assert_false(o.failure.u.Forbidden.has_reason);
    assert_null(o.failure.u.Forbidden.reason.ptr);
    assert_int_equal(o.failure.u.Forbidden.reason.len, 0);

    lookup_sync(&f, &g, 3, &o);
    assert_false(o.ok);
    assert_int_equal(o.failure.tag, Demo_LookupError_Busy);
    lookup_sync(&f, &g, 7, &o);
    assert_int_equal(o.failure.tag, Demo_LookupError_NotFound);
    assert_int_equal(o.failure.u.NotFound.id, 7);

    lookup_sync(&f, &g, 4, &o); /* the service failed it with a status */
    assert_irpc_err(o.err, IRPC_ESTATUS);
    assert_int_equal(o.status, IRPC_STATUS_UNAUTHORIZED);
    assert_non_null(strstr(o.msg, "go away"));

    /* one-way: completes once sent; the service still runs it */
    memset(&o, 0, sizeof o);
    assert_irpc_ok(
        Demo_Greeter_notify(&g, IRPC_STR("psst"), NULL, on_void, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_ok(o.err);
    kit_run_until(&f.rig.loop, &f.greeter.notified);
    assert_string_equal(f.greeter.note, "psst");
    assert_true(f.seen.oneway);

    /* a derived interface: its own operation and inherited ones, on its
     * own default path */
    Demo_LoudGreeterProxy loud = Demo_LoudGreeterProxy_from(f.client, NULL);
    memset(&o, 0, sizeof o);
    assert_irpc_ok(
        Demo_LoudGreeter_shout(&loud, IRPC_STR("hey you"), NULL, on_str, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_ok(o.err);
    assert_string_equal(o.str, "HEY YOU");
    memset(&o, 0, sizeof o);
    assert_irpc_ok(
        Demo_LoudGreeter_greet(&loud, IRPC_STR("Dee"), NULL, on_str, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_ok(o.err);
    assert_string_equal(o.str, "Hello, Dee!");
    memset(&o, 0, sizeof o);
    assert_irpc_ok(Demo_LoudGreeter_lookup(&loud, 2, NULL, on_lookup, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_string_equal(o.user, "bob");
    memset(&o, 0, sizeof o); /* echo is not in loud_ops: NotImplemented */
    assert_irpc_ok(Demo_LoudGreeter_echo(
        &loud, (irpc_bytes){(const uint8_t *)"x", 1}, NULL, on_bytes, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_err(o.err, IRPC_ESTATUS);
    assert_int_equal(o.status, IRPC_STATUS_NOT_IMPLEMENTED);
    /* an operation of the second base, with no parameters and no return
     * value, idempotent: an empty payload and the field */
    memset(&o, 0, sizeof o);
    assert_irpc_ok(Demo_LoudGreeter_ping(&loud, NULL, on_void, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_ok(o.err);
    assert_int_equal(f.greeter.pings, 1);
    assert_int_equal(f.seen.len, 0);
    assert_true(f.seen.idempotent);
    /* the same service through a Greeter proxy */
    Demo_GreeterProxy as_base = Demo_LoudGreeterProxy_to_Greeter(&loud);
    greet_sync(&f, &as_base, "Eve", &o);
    assert_string_equal(o.str, "Hello, Eve!");
    /* shout sent to Greeter's own service: NotImplemented */
    Demo_LoudGreeterProxy wrong_path =
        Demo_LoudGreeterProxy_from(f.client, DEMO_GREETER_DEFAULT_PATH);
    memset(&o, 0, sizeof o);
    assert_irpc_ok(
        Demo_LoudGreeter_shout(&wrong_path, IRPC_STR("x"), NULL, on_str, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_err(o.err, IRPC_ESTATUS);
    assert_int_equal(o.status, IRPC_STATUS_NOT_IMPLEMENTED);

    /* a path that routes nowhere */
    Demo_GreeterProxy nowhere = Demo_GreeterProxy_from(f.client, "/nowhere");
    greet_sync(&f, &nowhere, "x", &o);
    assert_irpc_err(o.err, IRPC_ESTATUS);
    assert_int_equal(o.status, IRPC_STATUS_NOT_FOUND);
    greeter_fx_fini(&f);
  }
}

/* Through a connection cache and a pipeline in front of it. */
static void on_cache_down(irpc_invoker *cache, int status, void *ud) {
  (void)cache;
  (void)status;
  *(int *)ud = 1;
}

static void through_cache(void **state) {
  (void)state;
  const int nets[] = {NET_TCP, NET_UDS};
  for (size_t k = 0; k < 2; k++) {
    greeter_fx f;
    greeter_fx_init(&f, nets[k]);
    greeter_fx_start(&f);
    irpc_connection_cache_options co;
    irpc_connection_cache_options_init(&co);
    co.default_service_address = f.rig.bound;
    irpc_invoker *cache;
    irpc_pipeline *p;
    assert_irpc_ok(irpc_connection_cache_new(&cache, &f.rig.loop, &co));
    assert_irpc_ok(irpc_pipeline_new(&p, &f.rig.loop));
    assert_irpc_ok(irpc_pipeline_into(p, cache));
    Demo_GreeterProxy g =
        Demo_GreeterProxy_from(irpc_pipeline_invoker(p), NULL);
    res o;
    greet_sync(&f, &g, "Cache", &o);
    assert_irpc_ok(o.err);
    assert_string_equal(o.str, "Hello, Cache!");
    lookup_sync(&f, &g, 2, &o);
    assert_irpc_ok(o.err);
    assert_string_equal(o.reason, "not on the list");
    /* a proxy with an absolute address, through a cache with no default
     * target: the address is the request's service address */
    irpc_invoker *bare;
    assert_irpc_ok(irpc_connection_cache_new(&bare, &f.rig.loop, NULL));
    char uri[300]; /* the path goes before any query */
    const char *q = strchr(f.rig.bound, '?');
    if (q)
      snprintf(uri, sizeof uri, "%.*s/Demo.Greeter%s", (int)(q - f.rig.bound),
               f.rig.bound, q);
    else
      snprintf(uri, sizeof uri, "%s/Demo.Greeter", f.rig.bound);
    Demo_GreeterProxy abs = {
        {.invoker = bare, .path = DEMO_GREETER_DEFAULT_PATH, .address = uri}};
    greet_sync(&f, &abs, "Abs", &o);
    assert_irpc_ok(o.err);
    assert_string_equal(o.str, "Hello, Abs!");
    int bare_down = 0;
    assert_irpc_ok(
        irpc_connection_cache_shutdown(bare, on_cache_down, &bare_down));
    kit_run_until(&f.rig.loop, &bare_down);
    irpc_invoker_free(bare);
    int down = 0;
    assert_irpc_ok(irpc_connection_cache_shutdown(cache, on_cache_down, &down));
    kit_run_until(&f.rig.loop, &down);
    irpc_pipeline_free(p);
    irpc_invoker_free(cache);
    greeter_fx_fini(&f);
  }
}

/* An optional parameter, a tuple return and a dictionary with optional
 * values. */
typedef struct stats_res {
  int done, err;
  int32_t count;
  size_t n;
  char k0[16], k1[16];
  int has0, has1;
  int32_t v0;
} stats_res;

static void on_stats(irpc_slice_reply *r, int err,
                     const Demo_Feed_stats_ret *ret, void *ud) {
  (void)r;
  stats_res *o = ud;
  o->done++;
  o->err = err;
  if (!ret)
    return;
  o->count = ret->count;
  o->n = ret->byKind.n;
  if (o->n != 2)
    return;
  const Demo_Dict_string_Opt_int32_entry *e = ret->byKind.items;
  snprintf(o->k0, sizeof o->k0, "%.*s", (int)e[0].key.len, e[0].key.ptr);
  snprintf(o->k1, sizeof o->k1, "%.*s", (int)e[1].key.len, e[1].key.ptr);
  o->has0 = e[0].has_value;
  o->has1 = e[1].has_value;
  o->v0 = e[0].value;
}

static void optionals_tuples(void **state) {
  (void)state;
  greeter_fx f;
  greeter_fx_init(&f, NET_TCP);
  greeter_fx_start(&f);
  Demo_FeedProxy feed = Demo_FeedProxy_from(f.client, NULL);
  stats_res o = {0};
  assert_irpc_ok(Demo_Feed_stats(&feed, NULL, NULL, on_stats, &o));
  kit_run_until(&f.rig.loop, &o.done);
  assert_irpc_ok(o.err);
  assert_string_equal(f.feed.last_msg, "no topic");
  /* the bit sequence (topic absent), the end marker */
  static const uint8_t absent[] = {0x0A, 0, 0, 0, 0x00, 0xFC};
  assert_int_equal(f.seen.len, sizeof absent);
  assert_memory_equal(f.seen.payload, absent, sizeof absent);
  assert_true(f.seen.idempotent);
  assert_int_equal(o.count, 0);
  assert_int_equal(o.n, 2);
  assert_string_equal(o.k0, "alert");
  assert_true(o.has0);
  assert_int_equal(o.v0, 3);
  assert_string_equal(o.k1, "none");
  assert_false(o.has1);

  memset(&o, 0, sizeof o);
  irpc_str topic = IRPC_STR("x");
  assert_irpc_ok(Demo_Feed_stats(&feed, &topic, NULL, on_stats, &o));
  kit_run_until(&f.rig.loop, &o.done);
  assert_irpc_ok(o.err);
  assert_string_equal(f.feed.last_msg, "topic");
  static const uint8_t present[] = {0x12, 0, 0, 0, 0x01, 0x04, 'x', 0xFC};
  assert_int_equal(f.seen.len, sizeof present);
  assert_memory_equal(f.seen.payload, present, sizeof present);
  assert_string_equal(o.k1, "x");
  greeter_fx_fini(&f);
}

/* ---- Errors: unknown operation, undecodable payloads ---- */

static void raw_call(greeter_fx *f, const char *op, const void *payload,
                     size_t len, int idempotent, net_result *o) {
  irpc_outgoing_request *req;
  assert_irpc_ok(irpc_outgoing_request_new(&req, "/Demo.Greeter", op));
  if (len)
    assert_irpc_ok(
        irpc_buf_append(irpc_outgoing_request_payload(req), payload, len));
  if (idempotent)
    assert_irpc_ok(irpc_fields_set(irpc_outgoing_request_fields(req),
                                   IRPC_REQUEST_FIELD_IDEMPOTENT, NULL, 0));
  memset(o, 0, sizeof *o);
  net_call_sync(&f->rig.loop, f->client, req, o);
  irpc_outgoing_request_free(req);
  assert_irpc_ok(o->err);
}

static void dispatch_errors(void **state) {
  (void)state;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    greeter_fx f;
    greeter_fx_init(&f, kinds[k]);
    greeter_fx_start(&f);
    net_result o;
    /* unknown operation: a Listener proxy pointed at the Greeter */
    Demo_ListenerProxy wrong =
        Demo_ListenerProxy_from(f.client, DEMO_GREETER_DEFAULT_PATH);
    Demo_Event ev = {.id = 1, .kind = IRPC_STR("x")};
    res r = {0};
    assert_irpc_ok(Demo_Listener_onEvent(&wrong, &ev, NULL, on_void, &r));
    kit_run_until(&f.rig.loop, &r.done);
    assert_irpc_err(r.err, IRPC_ESTATUS);
    assert_int_equal(r.status, IRPC_STATUS_NOT_IMPLEMENTED);
    assert_non_null(strstr(r.msg, "no operation 'onEvent'"));

    static const uint8_t good[] = {0x14, 0x0C, 'B', 'o', 'b', 0xFC};
    raw_call(&f, "greet", good, sizeof good, 0, &o); /* minimal size: Ok */
    assert_int_equal(o.status, IRPC_STATUS_OK);
    static const uint8_t trailing[] = {0x14, 0x0C, 'B', 'o', 'b', 0xFC, 0};
    static const uint8_t inside[] = {0x18, 0x0C, 'B', 'o', 'b', 0x00, 0xFC};
    static const uint8_t cut[] = {0x14, 0x0C, 'B', 'o'};
    static const uint8_t utf8[] = {0x14, 0x0C, 'B', 0xC0, 'b', 0xFC};
    const struct {
      const uint8_t *p;
      size_t n;
    } bad[] = {{trailing, sizeof trailing},
               {inside, sizeof inside},
               {cut, sizeof cut},
               {utf8, sizeof utf8},
               {NULL, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      raw_call(&f, "greet", bad[i].p, bad[i].n, 0, &o);
      assert_int_equal(o.status, IRPC_STATUS_INVALID_DATA);
    }
    /* the Idempotent field on an operation that is not idempotent */
    raw_call(&f, "greet", good, sizeof good, 1, &o);
    assert_int_equal(o.status, IRPC_STATUS_INVALID_DATA);
    greeter_fx_fini(&f);
  }
}

/* A NULL function in the ops table answers NotImplemented. */
static void missing_function(void **state) {
  (void)state;
  greeter_fx f;
  greeter_fx_init(&f, KIND_COLOC);
  static const Demo_Greeter_ops partial = {.greet = g_greet};
  irpc_dispatcher *d;
  assert_irpc_ok(
      Demo_Greeter_map(f.rig.router, "/partial", &partial, &f.greeter, &d));
  f.rig.disps[f.rig.ndisps++] = d;
  greeter_fx_start(&f);
  Demo_GreeterProxy g = Demo_GreeterProxy_from(f.client, "/partial");
  res o;
  greet_sync(&f, &g, "Ann", &o);
  assert_string_equal(o.str, "Hello, Ann!");
  lookup_sync(&f, &g, 1, &o);
  assert_irpc_err(o.err, IRPC_ESTATUS);
  assert_int_equal(o.status, IRPC_STATUS_NOT_IMPLEMENTED);
  assert_non_null(strstr(o.msg, "does not implement 'lookup'"));
  /* a proxy without an invoker is refused at once */
  Demo_GreeterProxy none = Demo_GreeterProxy_from(NULL, NULL);
  assert_irpc_err(Demo_Greeter_greet(&none, IRPC_STR("x"), NULL, on_str, &o),
                  IRPC_ENOINVOKER);
  greeter_fx_fini(&f);
}

/* The prepare hook runs before the call: a negative return fails the
 * call with that error, a positive one with IRPC_ECALLBACK; either way
 * the callback never runs. Zero lets the call go. */
static int prepare_returns(irpc_outgoing_request *req, void *data) {
  (void)req;
  return *(int *)data;
}

static void prepare_hook(void **state) {
  (void)state;
  greeter_fx f;
  greeter_fx_init(&f, KIND_COLOC);
  greeter_fx_start(&f);
  Demo_GreeterProxy g = Demo_GreeterProxy_from(f.client, NULL);
  int verdict = IRPC_EDEADLINE;
  irpc_slice_call_opts opts = {.struct_size = sizeof(irpc_slice_call_opts),
                               .prepare = prepare_returns,
                               .prepare_data = &verdict};
  res o = {0};
  assert_irpc_err(Demo_Greeter_greet(&g, IRPC_STR("x"), &opts, on_str, &o),
                  IRPC_EDEADLINE);
  verdict = 7;
  assert_irpc_err(Demo_Greeter_greet(&g, IRPC_STR("x"), &opts, on_str, &o),
                  IRPC_ECALLBACK);
  uv_run(&f.rig.loop, UV_RUN_NOWAIT);
  assert_int_equal(o.done, 0);
  verdict = 0;
  assert_irpc_ok(Demo_Greeter_greet(&g, IRPC_STR("Kim"), &opts, on_str, &o));
  kit_run_until(&f.rig.loop, &o.done);
  assert_int_equal(o.done, 1);
  assert_irpc_ok(o.err);
  assert_string_equal(o.str, "Hello, Kim!");
  greeter_fx_fini(&f);
}

/* ---- Compression requested by the definition ---- */

typedef struct rec_icp {
  int compressed_response;
} rec_icp;

static int icp_on_complete(irpc_invoker *self, irpc_call *call) {
  rec_icp *r = *(rec_icp **)irpc_invoker_data(self);
  irpc_incoming_response *resp;
  irpc_call_result(call, NULL, &resp);
  if (resp)
    r->compressed_response =
        irpc_fields_has(irpc_incoming_response_fields(resp),
                        IRPC_RESPONSE_FIELD_COMPRESSION_FORMAT);
  return 0;
}

static int icp_init(irpc_invoker *self, const void *cfg) {
  *(const void **)irpc_invoker_data(self) = cfg;
  return 0;
}

static const irpc_invoker_ops rec_icp_ops = {.struct_size =
                                                 sizeof(irpc_invoker_ops),
                                             .name = "rec",
                                             .data_size = sizeof(void *),
                                             .init = icp_init,
                                             .on_complete = icp_on_complete};

static void on_bytes(irpc_slice_reply *r, int err, const irpc_bytes *ret,
                     void *ud) {
  res *o = ud;
  res_common(o, r, err);
  if (ret)
    o->i32 = (int32_t)ret->len;
  static uint8_t expect[8192];
  memset(expect, 'a', sizeof expect);
  o->ok = ret && ret->len == sizeof expect &&
          memcmp(ret->base, expect, sizeof expect) == 0;
}

static void compression(void **state) {
  (void)state;
  const int nets[] = {NET_TCP, NET_MEMORY};
  for (size_t k = 0; k < 2; k++) {
    greeter_fx f;
    greeter_fx_init(&f, nets[k]);
    irpc_dispatcher *mw;
    assert_irpc_ok(irpc_compress_middleware_new(&mw, &f.rig.loop, NULL));
    assert_irpc_ok(irpc_router_use(f.rig.router, mw));
    greeter_fx_start(&f);
    irpc_pipeline *p;
    irpc_invoker *icp, *rec;
    rec_icp seen_resp = {0};
    assert_irpc_ok(irpc_pipeline_new(&p, &f.rig.loop));
    assert_irpc_ok(irpc_compress_interceptor_new(&icp, &f.rig.loop, NULL));
    assert_irpc_ok(irpc_pipeline_use(p, icp));
    assert_irpc_ok(
        irpc_invoker_new(&rec, &f.rig.loop, &rec_icp_ops, &seen_resp));
    assert_irpc_ok(irpc_pipeline_use(p, rec));
    assert_irpc_ok(irpc_pipeline_into(p, f.client));
    Demo_GreeterProxy g =
        Demo_GreeterProxy_from(irpc_pipeline_invoker(p), NULL);
    static uint8_t data[8192];
    memset(data, 'a', sizeof data);
    res o = {0};
    assert_irpc_ok(Demo_Greeter_echo(&g, (irpc_bytes){data, sizeof data}, NULL,
                                     on_bytes, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_ok(o.err);
    assert_true(o.ok);
    assert_true(f.seen.compressed);             /* [compress(Args)] */
    assert_true(seen_resp.compressed_response); /* [compress(Return)] */
    /* greet has no compress attribute: nothing is compressed */
    Demo_GreeterProxy plain = g;
    char big[2048];
    memset(big, 'b', sizeof big);
    memset(&o, 0, sizeof o);
    assert_irpc_ok(Demo_Greeter_greet(&plain, (irpc_str){big, sizeof big}, NULL,
                                      on_str, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_ok(o.err);
    assert_false(f.seen.compressed);
    assert_false(seen_resp.compressed_response);
    irpc_pipeline_free(p);
    greeter_fx_fini(&f);
  }
}

/* ---- Callbacks: the server calls the client's own Listener ---- */

static void on_closed(irpc_connection *c, int err, void *ud) {
  (void)c;
  (void)err;
  *(int *)ud = 1;
}

static void callbacks(void **state) {
  (void)state;
  const int nets[] = {NET_TCP, NET_UDS, NET_MEMORY};
  for (size_t k = 0; k < 3; k++) {
    greeter_fx f;
    greeter_fx_init(&f, nets[k]);
    /* the client serves Listener on its own connection */
    irpc_router *mine;
    irpc_dispatcher *ld;
    listener_impl li = {0};
    assert_irpc_ok(irpc_router_new(&mine, &f.rig.loop));
    assert_irpc_ok(Demo_Listener_map(mine, NULL, &listener_ops, &li, &ld));
    f.rig.copts.dispatcher = irpc_router_dispatcher(mine);
    greeter_fx_start(&f);

    Demo_FeedProxy feed = Demo_FeedProxy_from(f.client, NULL);
    Demo_ListenerProxy me = Demo_ListenerProxy_from(NULL, NULL); /* relative */
    res o = {0};
    assert_irpc_ok(
        Demo_Feed_subscribe(&feed, &me, IRPC_STR("news"), NULL, on_i32, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_ok(o.err);
    assert_int_equal(o.i32, 1);
    /* the address went as the relative path, resolved on the server
     * against the connection the request came on */
    assert_string_equal(f.feed.listeners[0].p.path, DEMO_LISTENER_DEFAULT_PATH);
    assert_non_null(f.feed.listeners[0].p.conn);
    assert_non_null(f.feed.listeners[0].p.invoker);

    Demo_Event ev = {.id = 42,
                     .kind = IRPC_STR("alert"),
                     .severity = Demo_Severity_High,
                     .has_detail = true,
                     .detail = IRPC_STR("disk full")};
    memset(&o, 0, sizeof o);
    assert_irpc_ok(Demo_Feed_publish(&feed, &ev, NULL, on_i32, &o));
    kit_run_until(&f.rig.loop, &o.done);
    assert_irpc_ok(o.err);
    assert_int_equal(o.i32, 1); /* delivered to the one listener */
    assert_int_equal(li.events, 1);
    assert_int_equal(li.id, 42);
    assert_string_equal(li.kind, "alert");
    assert_false(li.has_source);
    assert_true(li.has_detail);
    assert_string_equal(li.detail, "disk full");

    /* the client goes away; the server's copy of its proxy gets a clear
     * error, through the same typed callback, exactly once */
    int closed = 0;
    irpc_connection_on_close(f.feed.listeners[0].p.conn, on_closed, &closed);
    net_client_close(&f.rig, f.client);
    f.client = NULL;
    kit_run_until(&f.rig.loop, &closed);
    res gone = {0};
    int rc =
        Demo_Listener_onEvent(&f.feed.listeners[0], &ev, NULL, on_void, &gone);
    if (rc == 0)
      kit_run_until(&f.rig.loop, &gone.done);
    else
      gone.err = rc;
    assert_true(gone.err < 0);
    assert_int_not_equal(gone.err, IRPC_ESTATUS);
    if (rc == 0) {
      assert_int_equal(gone.done, 1);
      assert_non_null(strstr(gone.msg, "onEvent on /Demo.Listener"));
      assert_non_null(strstr(gone.msg, irpc_strerror(gone.err)));
    }
    irpc_router_free(mine);
    irpc_dispatcher_free(ld);
    greeter_fx_fini(&f);
  }
}

/* ---- Codec: golden bytes, round trips, limits ---- */

static void codec(void **state) {
  (void)state;
  irpc_buf *b;
  assert_irpc_ok(irpc_buf_new(&b));
  irpc_slice_encoder e;
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2));
  Demo_Event ev = {.id = 5,
                   .kind = IRPC_STR("k"),
                   .severity = Demo_Severity_High,
                   .has_detail = true,
                   .detail = IRPC_STR("d")};
  assert_irpc_ok(Demo_Event_encode(&e, &ev));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  static const uint8_t golden[] = {0x00, 5, 0,    0,    0,    0,   0,
                                   0,    0, 0x04, 'k',  0x01, 4,   0x0A,
                                   0,    0, 0,    0x04, 'd',  0xFC};
  assert_true(irpc_buf_equals(b, golden, sizeof golden));
  irpc_slice_in in;
  Demo_Event back = {0};
  assert_irpc_ok(irpc_slice_in_init_buf(&in, b));
  assert_irpc_ok(Demo_Event_decode(&in, &back));
  assert_irpc_ok(irpc_slice_decoder_end(&in.dec));
  assert_true(back.has_detail && irpc_str_eq(back.detail, "d"));
  assert_false(back.has_source);
  irpc_slice_in_fini(&in);

  /* An Order with 200 line items: round trip, then the same bytes with a
   * collection allocation limit too small for them. */
  irpc_buf_clear(b);
  static Demo_LineItem items[200];
  for (int i = 0; i < 200; i++)
    items[i] = (Demo_LineItem){.sku = IRPC_STR("sku-123"),
                               .quantity = i,
                               .price = 1.5 * i,
                               .has_note = i % 2,
                               .note = IRPC_STR("n")};
  irpc_str tags[2] = {IRPC_STR("a"), IRPC_STR("bc")};
  Demo_Order order = {.id = 9,
                      .customer = IRPC_STR("Zoë"),
                      .shipTo = {3, -4},
                      .items = {200, items},
                      .tags = {2, tags},
                      .has_coupon = true,
                      .coupon = IRPC_STR("FREE")};
  assert_irpc_ok(irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2));
  assert_irpc_ok(Demo_Order_encode(&e, &order));
  assert_irpc_ok(irpc_slice_encoder_flush(&e));
  Demo_Order o2 = {0};
  assert_irpc_ok(irpc_slice_in_init_buf(&in, b));
  assert_irpc_ok(Demo_Order_decode(&in, &o2));
  assert_int_equal(o2.items.n, 200);
  assert_true(o2.items.items[199].price == 1.5 * 199);
  assert_true(o2.items.items[199].has_note);
  assert_true(irpc_str_eq(o2.customer, "Zoë"));
  assert_int_equal(o2.shipTo.y, -4);
  assert_true(irpc_str_eq(o2.tags.items[1], "bc"));
  assert_true(o2.has_coupon && irpc_str_eq(o2.coupon, "FREE"));
  irpc_slice_in_fini(&in);
  long before = test_alloc.allocs;
  assert_irpc_ok(irpc_slice_in_init_buf(&in, b));
  assert_irpc_ok(irpc_slice_decoder_set_limits(&in.dec, 0, 4096));
  assert_irpc_err(Demo_Order_decode(&in, &o2), IRPC_ELIMIT);
  irpc_slice_in_fini(&in);
  assert_int_equal(test_alloc.allocs, before); /* refused before allocating */

  /* Service addresses: relative ones take the decoding side's invoker and
   * connection, absolute ones keep their URI and get the invoker for
   * absolute addresses (none here). */
  static const struct {
    const char *uri, *path;
    int relative;
  } addrs[] = {
      {"/Demo.Listener", "/Demo.Listener", 1},
      {"icerpc://host:4062/Demo.Listener?transport=tcp", "/Demo.Listener", 0},
      {"icerpc:/a/b", "/a/b", 1}, /* no server address */
      {"icerpc://host", "/", 0}};
  irpc_invoker *fake = (irpc_invoker *)&in; /* never called */
  for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
    irpc_buf_clear(b);
    assert_irpc_ok(irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2));
    irpc_slice_encode_string(&e, addrs[i].uri, strlen(addrs[i].uri));
    assert_irpc_ok(irpc_slice_encoder_flush(&e));
    Demo_ListenerProxy lp;
    assert_irpc_ok(irpc_slice_in_init_buf(&in, b));
    in.proxy_invoker = fake;
    assert_irpc_ok(Demo_ListenerProxy_decode(&in, &lp));
    assert_string_equal(lp.p.path, addrs[i].path);
    assert_true(lp.p.invoker == (addrs[i].relative ? fake : NULL));
    if (addrs[i].uri[0] != '/')
      assert_string_equal(lp.p.address, addrs[i].uri);
    Demo_ListenerProxy copy;
    assert_irpc_ok(irpc_slice_proxy_copy(&copy.p, &lp.p));
    irpc_slice_in_fini(&in); /* the copy outlives the decoded values */
    assert_string_equal(copy.p.path, addrs[i].path);
    irpc_buf_clear(b);
    assert_irpc_ok(irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2));
    assert_irpc_ok(Demo_ListenerProxy_encode(&e, &copy));
    assert_irpc_ok(irpc_slice_encoder_flush(&e));
    irpc_slice_proxy_release(&copy.p);
    irpc_bytes seg = irpc_buf_segment(b, 0);
    assert_int_equal(seg.len, 1 + strlen(addrs[i].uri));
    assert_memory_equal(seg.base + 1, addrs[i].uri, strlen(addrs[i].uri));
  }
  static const char *bad_addrs[] = {"abc", "icerpc:/a/b#x", "/a b", "",
                                    "foo://host/x"};
  for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
    irpc_buf_clear(b);
    assert_irpc_ok(irpc_slice_encoder_init(&e, b, IRPC_SLICE_ENCODING_2));
    irpc_slice_encode_string(&e, bad_addrs[i], strlen(bad_addrs[i]));
    assert_irpc_ok(irpc_slice_encoder_flush(&e));
    Demo_ListenerProxy lp;
    assert_irpc_ok(irpc_slice_in_init_buf(&in, b));
    assert_irpc_err(Demo_ListenerProxy_decode(&in, &lp), IRPC_EDATA);
    irpc_slice_in_fini(&in);
  }

  /* An unknown variant discriminant */
  static const uint8_t unknown[] = {0x0C, 0xFC};
  Demo_LookupError le;
  assert_irpc_ok(irpc_slice_in_init_bytes(&in, unknown, sizeof unknown));
  assert_irpc_err(Demo_LookupError_decode(&in, &le), IRPC_EENUM);
  irpc_slice_in_fini(&in);
  irpc_buf_free(b);
}

/* ---- Every allocation of a typed call failing in turn ---- */

/* One typed call with the Nth allocation from now failing, on both sides
 * (client and server run here); 1 when no allocation failed. The
 * connection is up first: the sweep is about the call. */
static int greet_failing_at(greeter_fx *f, long n, int connect_first) {
  irpc_invoker *inv = net_client(&f->rig);
  if (connect_first) {
    int up = 0;
    assert_irpc_ok(irpc_client_connection_connect(inv, kit_status_cb, &up));
    kit_run_until(&f->rig.loop, &up);
    assert_int_equal(up, 1);
  }
  Demo_GreeterProxy g = Demo_GreeterProxy_from(inv, NULL);
  res o = {0};
  test_alloc.fail_at = n;
  int rc = Demo_Greeter_greet(&g, IRPC_STR("Bob"), NULL, on_str, &o);
  if (rc == 0)
    kit_run_until(&f->rig.loop, &o.done);
  int untouched = test_alloc.fail_at > 0;
  test_alloc.fail_at = 0;
  if (rc == 0) {
    assert_int_equal(o.done, 1);
    if (untouched) {
      assert_irpc_ok(o.err);
      assert_string_equal(o.str, "Hello, Bob!");
    } else if (o.err == 0) {
      assert_string_equal(o.str, "Hello, Bob!");
    } else {
      assert_string_not_equal(o.msg, "");
    }
  } else {
    assert_int_equal(rc, IRPC_ENOMEM);
  }
  irpc_invoker_free(inv);
  uv_run(&f->rig.loop, UV_RUN_NOWAIT);
  return untouched;
}

static void sweep(int connect_first) {
  greeter_fx f;
  greeter_fx_init(&f, NET_MEMORY);
  greeter_fx_start(&f);
  net_client_close(&f.rig, f.client);
  f.client = NULL;
  long n = 1;
  while (!greet_failing_at(&f, n, connect_first))
    assert_true(++n < 5000);
  print_message("%ld allocations of a typed call%s failed in turn\n", n - 1,
                connect_first ? "" : ", connecting too,");
  greeter_fx_fini(&f);
}

static void alloc_sweep(void **state) {
  (void)state;
  sweep(1);
}

/* The same with the connection made by the call itself. */
static void alloc_sweep_connecting(void **state) {
  (void)state;
  sweep(0);
}

int main(void) {
  test_alloc_install();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(typed_calls),
      cmocka_unit_test(dispatch_errors),
      cmocka_unit_test(missing_function),
      cmocka_unit_test(compression),
      cmocka_unit_test(callbacks),
      cmocka_unit_test(codec),
      cmocka_unit_test(prepare_hook),
      cmocka_unit_test(alloc_sweep),
      cmocka_unit_test(alloc_sweep_connecting),
      cmocka_unit_test(through_cache),
      cmocka_unit_test(optionals_tuples),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
