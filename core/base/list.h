/* An intrusive doubly linked list with head and tail, and container_of:
 * O(1) insertion at either end and O(1) removal of any element, no
 * allocation (the link lives in the element). Never installed. */
#ifndef IRPC_LIST_H
#define IRPC_LIST_H

#include <stddef.h>

/* The structure of type `type` whose member `member` is at `ptr`. */
#define IRPC__CONTAINER_OF(ptr, type, member)                                  \
  ((type *)((char *)(ptr)-offsetof(type, member)))

typedef struct irpc__link {
  struct irpc__link *next, *prev;
} irpc__link;

typedef struct irpc__list {
  irpc__link *head, *tail;
  size_t len;
} irpc__list;

static inline void irpc__list_push_back(irpc__list *l, irpc__link *n) {
  n->next = NULL;
  n->prev = l->tail;
  if (l->tail)
    l->tail->next = n;
  else
    l->head = n;
  l->tail = n;
  l->len++;
}

static inline void irpc__list_push_front(irpc__list *l, irpc__link *n) {
  n->prev = NULL;
  n->next = l->head;
  if (l->head)
    l->head->prev = n;
  else
    l->tail = n;
  l->head = n;
  l->len++;
}

/* Removes `n`, an element of `l`; its links are cleared. */
static inline void irpc__list_remove(irpc__list *l, irpc__link *n) {
  if (n->prev)
    n->prev->next = n->next;
  else
    l->head = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    l->tail = n->prev;
  n->next = n->prev = NULL;
  l->len--;
}

/* Removes and returns the first element, or NULL when `l` is empty. */
static inline irpc__link *irpc__list_pop_front(irpc__list *l) {
  irpc__link *n = l->head;
  if (n)
    irpc__list_remove(l, n);
  return n;
}

/* Moves every element of `from` to `to` (empty before). */
static inline void irpc__list_take(irpc__list *to, irpc__list *from) {
  *to = *from;
  from->head = from->tail = NULL;
  from->len = 0;
}

#endif
