/* ipc: a greeter between two processes over a Unix domain socket, with
 * the Greeter interface of greeter.slice.
 *
 * The same API as over TCP; only the address changes:
 *   "unix:/path/to.sock"  (or icerpc://localhost?transport=uds&path=...)
 *
 * Run it: ./irpc-ipc [name]
 * It forks: the child serves Greeter on a socket in a fresh temporary
 * directory, the parent calls it once and shuts the child down. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <irpc/irpc.h>

#include "greeter.slice.h"

/* ---- Server (child process) ---- */

static void greet(void *impl, irpc_slice_dispatch *sd, irpc_str name) {
  (void)impl;
  char text[128];
  int n = snprintf(text, sizeof text, "Hello, %.*s! (from process %d)",
                   (int)name.len, name.ptr, (int)getpid());
  if (n >= (int)sizeof text) /* a long name: the greeting is cut */
    n = (int)sizeof text - 1;
  VisitorCenter_Greeter_greet_reply(sd, (irpc_str){text, (size_t)n});
}

static const VisitorCenter_Greeter_ops greeter_ops = {.greet = greet};

static irpc_server *server;

static void on_sigterm(uv_signal_t *s, int sig) {
  (void)sig;
  uv_close((uv_handle_t *)s, NULL);
  irpc_server_shutdown(server, NULL, NULL);
}

static int serve(const char *address, int ready_fd) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_router *router;
  irpc_dispatcher *greeter;
  uv_signal_t sig;
  int rc = irpc_router_new(&router, &loop);
  if (rc == 0)
    rc = VisitorCenter_Greeter_map(router, NULL, &greeter_ops, NULL, &greeter);
  if (rc == 0)
    rc = irpc_server_new(&server, &loop, irpc_router_dispatcher(router), NULL);
  if (rc == 0)
    rc = irpc_server_listen(server, address, NULL, 0);
  if (rc) {
    fprintf(stderr, "server: %s\n", irpc_strerror(rc));
    return 1;
  }
  uv_signal_init(&loop, &sig);
  uv_signal_start(&sig, on_sigterm, SIGTERM);
  if (write(ready_fd, "r", 1) != 1)
    return 1;
  close(ready_fd);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_router_free(router);
  irpc_dispatcher_free(greeter);
  uv_loop_close(&loop);
  return 0;
}

/* ---- Client (parent process) ---- */

static void on_greeting(irpc_slice_reply *reply, int err,
                        const irpc_str *greeting, void *ud) {
  int *status = ud;
  if (err) {
    fprintf(stderr, "%s\n", irpc_slice_reply_message(reply));
    *status = 1;
    return;
  }
  printf("client (process %d) got: %.*s\n", (int)getpid(), (int)greeting->len,
         greeting->ptr);
  *status = 0;
}

static void on_shutdown(irpc_invoker *inv, int status, void *ud) {
  (void)inv;
  (void)status;
  *(int *)ud = 1;
}

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "world";
  char dir[] = "/tmp/irpc-ipc-XXXXXX";
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  char address[160], path[128];
  snprintf(path, sizeof path, "%s/greeter.sock", dir);
  snprintf(address, sizeof address, "unix:%s", path);
  int ready[2];
  if (pipe(ready))
    return 1;
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    _exit(serve(address, ready[1]));
  }
  close(ready[1]);
  char c;
  if (read(ready[0], &c, 1) != 1) {
    fprintf(stderr, "the server did not start\n");
    return 1;
  }
  printf("server (process %d) listening on %s\n", (int)pid, address);

  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_invoker *conn;
  int status = -1;
  int rc = irpc_client_connection_new(&conn, &loop, address, NULL);
  if (rc == 0) {
    VisitorCenter_GreeterProxy greeter =
        VisitorCenter_GreeterProxy_from(conn, NULL);
    rc = VisitorCenter_Greeter_greet(&greeter, irpc_str_c(name), NULL,
                                     on_greeting, &status);
  }
  if (rc) {
    fprintf(stderr, "client: %s\n", irpc_strerror(rc));
    return 1;
  }
  while (status == -1)
    uv_run(&loop, UV_RUN_ONCE);
  int down = 0;
  irpc_client_connection_shutdown(conn, on_shutdown, &down);
  while (!down)
    uv_run(&loop, UV_RUN_ONCE);
  irpc_invoker_free(conn);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);

  kill(pid, SIGTERM);
  int wstatus;
  waitpid(pid, &wstatus, 0);
  unlink(path);
  rmdir(dir);
  return status == 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : 1;
}
