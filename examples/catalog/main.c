/* catalog: an operation that returns a value or an error the caller is
 * meant to handle, as Slice says it: find returns
 * Result<Item, LookupError>, where LookupError is an enum with fields
 * (catalog.slice):
 *
 *   NotFound(id)                  no such item
 *   Forbidden(user, reason?)      the item exists but not for this user,
 *                                 maybe with a reason
 *
 * A failure of this kind is data: the call succeeded (err == 0, status Ok)
 * and `ret->ok` is false. err != 0 is for everything else: the connection
 * failed, the server answered NotFound or InternalError for the request
 * itself, the response did not decode.
 *
 * Run it: ./irpc-catalog
 * A server and a client over TCP on the loopback, in one process to keep
 * the example short: over two processes the code is the same. */
#include <inttypes.h>
#include <stdio.h>

#include <irpc/irpc.h>

#include "catalog.slice.h"

/* ---- Server ---- */

typedef struct stock_item {
  int32_t id;
  const char *name;
  int64_t cents;
  int staff_only;
} stock_item;

static const stock_item stock[] = {{1, "Tea", 450, 0},
                                   {2, "Coffee", 380, 0},
                                   {3, "Espresso machine", 99900, 1}};

static void find(void *impl, irpc_slice_dispatch *sd, int32_t id,
                 irpc_str user) {
  (void)impl;
  Shop_Result_Item_LookupError r = {.ok = false};
  const stock_item *s = NULL;
  for (size_t i = 0; i < sizeof stock / sizeof stock[0]; i++)
    if (stock[i].id == id)
      s = &stock[i];
  if (irpc_str_eq(user, "mallory")) { /* banned: no reason given */
    r.u.failure.tag = Shop_LookupError_Forbidden;
    r.u.failure.u.Forbidden.user = user;
  } else if (!s) {
    r.u.failure.tag = Shop_LookupError_NotFound;
    r.u.failure.u.NotFound.id = id;
  } else if (s->staff_only && !irpc_str_eq(user, "staff")) {
    r.u.failure.tag = Shop_LookupError_Forbidden;
    r.u.failure.u.Forbidden.user = user;
    r.u.failure.u.Forbidden.has_reason = true;
    r.u.failure.u.Forbidden.reason = IRPC_STR("staff only");
  } else {
    r.ok = true;
    r.u.success = (Shop_Item){s->id, irpc_str_c(s->name), s->cents};
  }
  Shop_Catalog_find_reply(sd, &r); /* encodes r: it may live on the stack */
}

static const Shop_Catalog_ops catalog_ops = {.find = find};

/* ---- Client ---- */

typedef struct lookup {
  int32_t id;
  const char *user;
  int done, failed;
} lookup;

static void on_find(irpc_slice_reply *reply, int err,
                    const Shop_Result_Item_LookupError *ret, void *ud) {
  lookup *l = ud;
  l->done = 1;
  printf("find(%d) as %s: ", (int)l->id, l->user);
  if (err) { /* not an answer of find: the call itself failed */
    printf("call failed: %s\n", irpc_slice_reply_message(reply));
    l->failed = 1;
  } else if (ret->ok) {
    const Shop_Item *it = &ret->u.success;
    printf("%.*s, %" PRId64 ".%02d\n", (int)it->name.len, it->name.ptr,
           it->priceCents / 100, (int)(it->priceCents % 100));
  } else {
    const Shop_LookupError *e = &ret->u.failure;
    switch (e->tag) { /* a checked enum: no other tag gets this far */
    case Shop_LookupError_NotFound:
      printf("NotFound: no item %d\n", (int)e->u.NotFound.id);
      break;
    case Shop_LookupError_Forbidden: /* reason: only when has_reason */
      printf("Forbidden: not for %.*s", (int)e->u.Forbidden.user.len,
             e->u.Forbidden.user.ptr);
      if (e->u.Forbidden.has_reason)
        printf(", %.*s", (int)e->u.Forbidden.reason.len,
               e->u.Forbidden.reason.ptr);
      printf("\n");
      break;
    }
  }
}

int main(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  irpc_router *router = NULL;
  irpc_dispatcher *catalog = NULL;
  irpc_server *server = NULL;
  irpc_invoker *conn = NULL;
  char address[256];
  int rc = irpc_router_new(&router, &loop);
  if (rc == 0) /* NULL path: the default one, /Shop.Catalog */
    rc = Shop_Catalog_map(router, NULL, &catalog_ops, NULL, &catalog);
  if (rc == 0)
    rc = irpc_server_new(&server, &loop, irpc_router_dispatcher(router), NULL);
  if (rc == 0)
    rc = irpc_server_listen(server, "icerpc://127.0.0.1:0", address,
                            sizeof address);
  if (rc == 0)
    rc = irpc_client_connection_new(&conn, &loop, address, NULL);
  if (rc) {
    fprintf(stderr, "catalog: %s\n", irpc_strerror(rc));
    return 1;
  }

  Shop_CatalogProxy shop = Shop_CatalogProxy_from(conn, NULL);
  lookup lookups[] = {{.id = 1, .user = "alice"},
                      {.id = 7, .user = "alice"},
                      {.id = 3, .user = "alice"},
                      {.id = 3, .user = "staff"},
                      {.id = 2, .user = "mallory"}};
  int failed = 0;
  for (size_t i = 0; i < sizeof lookups / sizeof lookups[0]; i++) {
    lookup *l = &lookups[i];
    rc = Shop_Catalog_find(&shop, l->id, irpc_str_c(l->user), NULL, on_find, l);
    if (rc) {
      fprintf(stderr, "find: %s\n", irpc_strerror(rc));
      failed = 1;
      break;
    }
    while (!l->done)
      uv_run(&loop, UV_RUN_ONCE);
    failed |= l->failed;
  }

  irpc_client_connection_shutdown(conn, NULL, NULL);
  irpc_server_shutdown(server, NULL, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_invoker_free(conn);
  irpc_server_free(server);
  uv_run(&loop, UV_RUN_DEFAULT);
  irpc_router_free(router);
  irpc_dispatcher_free(catalog);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    failed = 1;
  if (!failed)
    printf("each case of Result<Item, LookupError> handled\n");
  return failed;
}
