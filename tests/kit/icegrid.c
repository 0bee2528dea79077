#define _GNU_SOURCE
#include "kit/icegrid.h"

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- A free loopback port ---- */

static int free_port(uv_loop_t *loop) {
  uv_tcp_t t;
  struct sockaddr_in a;
  struct sockaddr_storage ss;
  int len = sizeof ss, port = -1;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_init(loop, &t);
  if (uv_tcp_bind(&t, (const struct sockaddr *)&a, 0) == 0 &&
      uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len) == 0)
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return port;
}

/* ---- Polling the client endpoint until the registry answers ---- */

static const unsigned char validate[14] = {0x49, 0x63, 0x65, 0x50, 1, 0, 1,
                                           0,    3,    0,    14,   0, 0, 0};

typedef struct probe {
  uv_loop_t *loop;
  int port;
  uv_timer_t timer;
  uv_tcp_t tcp;
  uv_connect_t creq;
  int tcp_open;
  unsigned char got[14];
  size_t ngot;
  char rbuf[64];
  int answered;
} probe;

static void probe_try(uv_timer_t *t);

static void probe_closed(uv_handle_t *h) {
  probe *p = h->data;
  p->tcp_open = 0;
  if (!p->answered)
    uv_timer_start(&p->timer, probe_try, 10, 0);
}

static void probe_alloc(uv_handle_t *h, size_t s, uv_buf_t *b) {
  (void)s;
  probe *p = h->data;
  b->base = p->rbuf;
  b->len = sizeof p->rbuf;
}

static void probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
  probe *p = s->data;
  for (ssize_t i = 0; i < n && p->ngot < sizeof p->got; i++)
    p->got[p->ngot++] = (unsigned char)b->base[i];
  if (n < 0 || p->ngot == sizeof p->got) {
    p->answered = n >= 0 && memcmp(p->got, validate, sizeof validate) == 0;
    uv_read_stop(s);
    uv_close((uv_handle_t *)s, probe_closed);
  }
}

static void probe_connected(uv_connect_t *req, int status) {
  probe *p = req->data;
  if (status == 0 &&
      uv_read_start((uv_stream_t *)&p->tcp, probe_alloc, probe_read) == 0)
    return;
  uv_close((uv_handle_t *)&p->tcp, probe_closed);
}

static void probe_try(uv_timer_t *t) {
  probe *p = t->data;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", p->port, &a);
  p->ngot = 0;
  uv_tcp_init(p->loop, &p->tcp);
  p->tcp.data = p;
  p->tcp_open = 1;
  p->creq.data = p;
  if (uv_tcp_connect(&p->creq, &p->tcp, (const struct sockaddr *)&a,
                     probe_connected) != 0)
    uv_close((uv_handle_t *)&p->tcp, probe_closed);
}

static void on_deadline(uv_timer_t *t) {
  *(int *)t->data = 1;
}

/* Runs the loop until the registry answered, exited, or 20 s passed. */
static int wait_answer(kit_icegrid *g, uv_loop_t *loop) {
  probe p;
  memset(&p, 0, sizeof p);
  p.loop = loop;
  p.port = g->port;
  uv_timer_init(loop, &p.timer);
  p.timer.data = &p;
  int expired = 0;
  uv_timer_t deadline;
  uv_timer_init(loop, &deadline);
  deadline.data = &expired;
  uv_timer_start(&deadline, on_deadline, 20000, 0);
  probe_try(&p.timer);
  while (!p.answered && !expired && g->peer.running)
    uv_run(loop, UV_RUN_ONCE);
  uv_timer_stop(&p.timer);
  while (p.tcp_open) /* a probe in progress finishes (or fails) first */
    uv_run(loop, UV_RUN_ONCE);
  uv_timer_stop(&p.timer);
  uv_close((uv_handle_t *)&p.timer, NULL);
  uv_close((uv_handle_t *)&deadline, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  if (p.answered)
    return 0;
  return expired ? UV_ETIMEDOUT : UV_ECONNREFUSED;
}

/* ---- Start and stop ---- */

static int write_config(const kit_icegrid *g) {
  char path[128];
  snprintf(path, sizeof path, "%s/db", g->dir);
  if (mkdir(path, 0700) != 0)
    return -1;
  snprintf(path, sizeof path, "%s/registry.cfg", g->dir);
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f,
          "IceGrid.InstanceName=%s\n"
          "IceGrid.Registry.Client.Endpoints=tcp -h 127.0.0.1 -p %d\n"
          "IceGrid.Registry.Server.Endpoints=tcp -h 127.0.0.1\n"
          "IceGrid.Registry.Internal.Endpoints=tcp -h 127.0.0.1\n"
          "IceGrid.Registry.LMDB.Path=%s/db\n"
          "IceGrid.Registry.DynamicRegistration=1\n"
          "IceGrid.Registry.AdminPermissionsVerifier=%s/"
          "NullPermissionsVerifier\n"
          "IceGrid.Registry.PermissionsVerifier=%s/NullPermissionsVerifier\n"
          "IceGrid.Registry.Discovery.Enabled=0\n",
          g->instance, g->port, g->dir, g->instance, g->instance);
  return fclose(f) == 0 ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void remove_dir(kit_icegrid *g) {
  if (g->dir[0])
    nftw(g->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  g->dir[0] = '\0';
}

int kit_icegrid_start(kit_icegrid *g, uv_loop_t *loop, const char *instance) {
  memset(g, 0, sizeof(*g));
  snprintf(g->instance, sizeof g->instance, "%s", instance);
  int rc = UV_EADDRINUSE;
  /* A free port may be taken between the probe and the registry's bind: a
   * registry that exits at once is tried again on another port. */
  for (int attempt = 0; attempt < 3 && rc != 0; attempt++) {
    snprintf(g->dir, sizeof g->dir, "/tmp/irpc-icegrid-XXXXXX");
    if (!mkdtemp(g->dir)) {
      g->dir[0] = '\0';
      return UV_EIO;
    }
    if ((g->port = free_port(loop)) <= 0 || write_config(g) != 0) {
      remove_dir(g);
      return UV_EIO;
    }
    snprintf(g->locator, sizeof g->locator, "%s/Locator:tcp -h 127.0.0.1 -p %d",
             g->instance, g->port);
    snprintf(g->locator_arg, sizeof g->locator_arg, "--Ice.Default.Locator=%s",
             g->locator);
    char config[128];
    snprintf(config, sizeof config, "--Ice.Config=%s/registry.cfg", g->dir);
    const char *argv[] = {"icegridregistry", config, NULL};
    rc = kit_peer_start(&g->peer, loop, argv, g->dir);
    if (rc == UV_ENOENT) {
      remove_dir(g);
      return rc;
    }
    if (rc == 0 && (rc = wait_answer(g, loop)) != 0) {
      fprintf(stderr, "kit_icegrid: icegridregistry on port %d: %s\n", g->port,
              uv_strerror(rc));
      kit_peer_stop(&g->peer, SIGKILL, 5000);
      remove_dir(g);
      if (rc == UV_ETIMEDOUT)
        return rc;
    }
  }
  return rc;
}

int kit_icegrid_stop(kit_icegrid *g) {
  int rc = kit_peer_stop(&g->peer, SIGTERM, 10000);
  remove_dir(g);
  return rc;
}

/* ---- An irpc client of the registry ---- */

void kit_icegrid_client_init(kit_icegrid_client *k, uv_loop_t *loop,
                             const kit_icegrid *g) {
  memset(k, 0, sizeof(*k));
  assert_irpc_ok(irpc_service_address_parse_ice_proxy(&k->locator_address,
                                                      g->locator, NULL));
  irpc_connection_cache_options co;
  irpc_connection_cache_options_init(&co);
  assert_irpc_ok(irpc_connection_cache_new(&k->cache, loop, &co));
  irpc_locator_options lo;
  irpc_locator_options_init(&lo);
  lo.locator = k->cache;
  lo.locator_address = k->locator_address;
  assert_irpc_ok(irpc_locator_new(&k->locator, loop, &lo));
  assert_irpc_ok(irpc_pipeline_new(&k->pipeline, loop));
  assert_irpc_ok(irpc_pipeline_use(k->pipeline, k->locator));
  assert_irpc_ok(irpc_pipeline_into(k->pipeline, k->cache));
  k->invoker = irpc_pipeline_invoker(k->pipeline);
}

void kit_icegrid_client_fini(kit_icegrid_client *k) {
  irpc_pipeline_free(k->pipeline); /* and the locator interceptor */
  irpc_invoker_free(k->cache);
  irpc_service_address_free(k->locator_address);
  memset(k, 0, sizeof(*k));
}
