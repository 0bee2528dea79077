/* ipc: a greeter between two processes over a Unix domain socket.
 *
 * The same API as over TCP; only the address changes:
 *   "unix:/path/to.sock"  (or icerpc://localhost?transport=uds&path=...)
 *
 * Run it: ./irpc-ipc [name]
 * It forks: the child serves /greeter on a socket in a fresh temporary
 * directory, the parent calls it once and shuts the child down. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <irpc/irpc.h>

/* ---- Server (child process) ---- */

static void greet(irpc_dispatcher *self, irpc_dispatch *d) {
  (void)self;
  irpc_incoming_request *req = irpc_dispatch_request(d);
  char name[64] = {0};
  irpc_buf *in = irpc_incoming_request_payload(req);
  size_t n = irpc_buf_len(in) < 63 ? irpc_buf_len(in) : 63;
  irpc_buf_copyout(in, 0, name, n);
  char text[128];
  int len = snprintf(text, sizeof text, "Hello, %s! (from process %d)", name,
                     (int)getpid());
  irpc_outgoing_response *resp;
  if (irpc_outgoing_response_new(&resp, IRPC_STATUS_OK, NULL) != 0) {
    irpc_dispatch_reply(d, IRPC_STATUS_INTERNAL_ERROR, NULL);
    return;
  }
  irpc_buf_append(irpc_outgoing_response_payload(resp), text, (size_t)len);
  irpc_dispatch_complete(d, resp);
}

static const irpc_dispatcher_ops greeter_ops = {.name = "greeter",
                                                .dispatch = greet};

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
    rc = irpc_dispatcher_new(&greeter, &loop, &greeter_ops, NULL);
  if (rc == 0)
    rc = irpc_router_map(router, "/greeter", greeter);
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

static void on_reply(irpc_call *call, int err, irpc_incoming_response *resp,
                     void *ud) {
  (void)call;
  int *status = ud;
  if (err) {
    fprintf(stderr, "call failed: %s\n", irpc_strerror(err));
    *status = 1;
    return;
  }
  char text[160] = {0};
  irpc_buf *p = irpc_incoming_response_payload(resp);
  size_t n = irpc_buf_len(p) < 159 ? irpc_buf_len(p) : 159;
  irpc_buf_copyout(p, 0, text, n);
  printf("client (process %d) got: %s\n", (int)getpid(), text);
  irpc_incoming_response_free(resp);
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
  irpc_outgoing_request *req;
  int status = -1;
  int rc = irpc_client_connection_new(&conn, &loop, address, NULL);
  if (rc == 0)
    rc = irpc_outgoing_request_new(&req, "/greeter", "greet");
  if (rc == 0)
    rc =
        irpc_buf_append(irpc_outgoing_request_payload(req), name, strlen(name));
  if (rc == 0)
    rc = irpc_invoke(conn, req, on_reply, &status, NULL);
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
  irpc_outgoing_request_free(req);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);

  kill(pid, SIGTERM);
  int wstatus;
  waitpid(pid, &wstatus, 0);
  unlink(path);
  rmdir(dir);
  return status == 0 && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 ? 0 : 1;
}
