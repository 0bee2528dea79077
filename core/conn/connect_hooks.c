/* Connect hooks: see connect_hooks.h. A hook removed while the list is
 * being walked is only marked (cb NULL) and unlinked once the outermost
 * walk is over, so the walk never follows a freed node. */
#include "connect_hooks.h"

#include "irpc/alloc.h"
#include "irpc/error.h"

struct irpc__hook {
  irpc__link link;
  long token;
  irpc_connect_hook cb;
  void *ud;
};

#define HOOK_OF(k) IRPC__CONTAINER_OF(k, irpc__hook, link)

long irpc__hooks_add(irpc__hooks *h, irpc_connect_hook cb, void *ud) {
  if (!cb)
    return IRPC_EINVAL;
  irpc__hook *k = irpc_malloc(sizeof(*k));
  if (!k)
    return IRPC_ENOMEM;
  k->token = ++h->next_token;
  k->cb = cb;
  k->ud = ud;
  irpc__list_push_back(&h->list, &k->link);
  return k->token;
}

/* Unlinks and frees the hooks marked removed. */
static void sweep(irpc__hooks *h) {
  irpc__link *l = h->list.head;
  while (l) {
    irpc__link *next = l->next;
    if (!HOOK_OF(l)->cb) {
      irpc__list_remove(&h->list, l);
      irpc_free(HOOK_OF(l));
    }
    l = next;
  }
  h->removed = 0;
}

void irpc__hooks_remove(irpc__hooks *h, long token) {
  for (irpc__link *l = h->list.head; l; l = l->next) {
    irpc__hook *k = HOOK_OF(l);
    if (k->token == token && k->cb) {
      k->cb = NULL;
      h->removed = 1;
      break;
    }
  }
  if (h->removed && !h->firing)
    sweep(h);
}

void irpc__hooks_fire(irpc__hooks *h, irpc_invoker *inv,
                      const irpc_connect_event *ev) {
  irpc__link *last = h->list.tail;
  if (!last)
    return;
  h->firing++;
  for (irpc__link *l = h->list.head;; l = l->next) {
    irpc__hook *k = HOOK_OF(l);
    if (k->cb)
      k->cb(inv, ev, k->ud);
    if (l == last)
      break;
  }
  if (--h->firing == 0 && h->removed)
    sweep(h);
}

void irpc__hooks_fini(irpc__hooks *h) {
  irpc__link *l;
  while ((l = irpc__list_pop_front(&h->list)))
    irpc_free(HOOK_OF(l));
}
