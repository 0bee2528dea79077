/* Connect hooks: see connect_hooks.h. A hook removed while the list is
 * being walked is only marked (cb NULL) and unlinked once the outermost
 * walk is over, so the walk never follows a freed node. */
#include "connect_hooks.h"

#include "irpc/alloc.h"
#include "irpc/error.h"

struct irpc__hook {
  irpc__hook *next;
  long token;
  irpc_connect_hook cb;
  void *ud;
};

long irpc__hooks_add(irpc__hooks *h, irpc_connect_hook cb, void *ud) {
  if (!cb)
    return IRPC_EINVAL;
  irpc__hook *k = irpc_malloc(sizeof(*k));
  if (!k)
    return IRPC_ENOMEM;
  k->next = NULL;
  k->token = ++h->next_token;
  k->cb = cb;
  k->ud = ud;
  if (h->tail)
    h->tail->next = k;
  else
    h->head = k;
  h->tail = k;
  return k->token;
}

/* Unlinks and frees the hooks marked removed. */
static void sweep(irpc__hooks *h) {
  irpc__hook **pp = &h->head;
  h->tail = NULL;
  while (*pp) {
    irpc__hook *k = *pp;
    if (k->cb) {
      h->tail = k;
      pp = &k->next;
      continue;
    }
    *pp = k->next;
    irpc_free(k);
  }
  h->removed = 0;
}

void irpc__hooks_remove(irpc__hooks *h, long token) {
  for (irpc__hook *k = h->head; k; k = k->next) {
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
  irpc__hook *last = h->tail;
  if (!last)
    return;
  h->firing++;
  for (irpc__hook *k = h->head;; k = k->next) {
    if (k->cb)
      k->cb(inv, ev, k->ud);
    if (k == last)
      break;
  }
  if (--h->firing == 0 && h->removed)
    sweep(h);
}

void irpc__hooks_fini(irpc__hooks *h) {
  while (h->head) {
    irpc__hook *k = h->head;
    h->head = k->next;
    irpc_free(k);
  }
  h->tail = NULL;
}
