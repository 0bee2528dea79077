/* Connect hooks (irpc_connect_hook): the list a client connection or a
 * connection cache keeps, safe against hooks that add or remove hooks
 * while they run. */
#ifndef IRPC_CORE_CONNECT_HOOKS_H
#define IRPC_CORE_CONNECT_HOOKS_H

#include "irpc/connection.h"
#include "base/list.h"

typedef struct irpc__hook irpc__hook;

typedef struct irpc__hooks {
  irpc__list list; /* irpc__hook, in the order added */
  long next_token;
  int firing;  /* nesting depth of irpc__hooks_fire */
  int removed; /* hooks marked removed while firing */
} irpc__hooks;

/* Appends a hook. Returns its token, or IRPC_EINVAL (cb NULL),
 * IRPC_ENOMEM. */
long irpc__hooks_add(irpc__hooks *h, irpc_connect_hook cb, void *ud);
void irpc__hooks_remove(irpc__hooks *h, long token);
/* Runs the hooks registered before this call, in order. */
void irpc__hooks_fire(irpc__hooks *h, irpc_invoker *inv,
                      const irpc_connect_event *ev);
/* Frees every hook (from the owner's destroy, never while firing). */
void irpc__hooks_fini(irpc__hooks *h);

#endif
