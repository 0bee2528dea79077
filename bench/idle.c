/* Memory per idle connection: a child process runs `irpc-bench serve`,
 * this process opens N connections to it; the RSS growth of each side
 * divided by N. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_rpc.h"

static long rss_kib(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
  FILE *f = fopen(path, "r");
  long pages = 0, resident = 0;
  if (!f)
    return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
    resident = -1;
  fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

typedef struct idle_run {
  int connected;
  int failed;
} idle_run;

static void on_connect(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  idle_run *r = ud;
  if (status)
    r->failed++;
  else
    r->connected++;
}

void bench_idle(const char *self, int n, bench_json *j) {
  char dir[] = "/tmp/irpc-idle-XXXXXX";
  if (!mkdtemp(dir))
    return;
  char addr[128];
  snprintf(addr, sizeof addr, "unix:%s/s.sock", dir);
  int fds[2];
  if (pipe(fds))
    return;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    execl("/proc/self/exe", self, "serve", addr, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  char bound[256] = {0};
  FILE *in = fdopen(fds[0], "r");
  if (!fgets(bound, sizeof bound, in)) {
    fprintf(stderr, "idle: the server did not start\n");
    return;
  }
  bound[strcspn(bound, "\n")] = 0;

  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_connection_options o;
  irpc_connection_options_init(&o);
  o.inactivity_timeout_ms = 0;
  irpc_invoker **invs = calloc((size_t)n, sizeof(*invs));
  idle_run r = {0};
  long c0 = rss_kib(getpid()), s0 = rss_kib(pid);
  for (int i = 0; i < n; i++) {
    irpc_client_connection_new(&invs[i], &loop, bound, &o);
    irpc_client_connection_connect(invs[i], on_connect, &r);
    if (i % 256 == 255)
      while (r.connected + r.failed < i + 1)
        uv_run(&loop, UV_RUN_ONCE);
  }
  while (r.connected + r.failed < n)
    uv_run(&loop, UV_RUN_ONCE);
  for (int i = 0; i < 50; i++)
    uv_run(&loop, UV_RUN_NOWAIT);
  long c1 = rss_kib(getpid()), s1 = rss_kib(pid);
  double cper = (double)(c1 - c0) * 1024.0 / n;
  double sper = (double)(s1 - s0) * 1024.0 / n;
  printf("idle %d connections (%d failed): client %.0f B/conn, server %.0f "
         "B/conn (RSS growth / N)\n",
         r.connected, r.failed, cper, sper);
  bench_json_begin(j);
  bench_json_str(j, "transport", "uds");
  bench_json_str(j, "case", "idle_connections");
  bench_json_num(j, "connections", r.connected);
  bench_json_num(j, "client_bytes_per_conn", cper);
  bench_json_num(j, "server_bytes_per_conn", sper);
  bench_json_end(j);
  for (int i = 0; i < n; i++)
    irpc_invoker_free(invs[i]);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  free(invs);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  fclose(in);
  char p[160];
  snprintf(p, sizeof p, "%s/s.sock", dir);
  unlink(p);
  rmdir(dir);
}
