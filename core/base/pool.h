/* Pools of small objects for what every call makes and frees (frames,
 * buffer blocks and segment arrays, dispatch records, Slic streams, write
 * requests and their buffer lists, the chains' arena chunks, request
 * contexts), so that calls in steady state allocate nothing.
 *
 * Objects of up to IRPC__POOL_MAX bytes come in five size classes (512
 * bytes to 8 KiB, doubling); a larger one is allocated and freed as is. The
 * pools belong to a thread and live while at least one scheduler (one
 * loop with irpc objects) of that thread does: irpc__sched_acquire
 * attaches the thread, the scheduler's end detaches it, and the last
 * detach gives every pooled object back to the allocator. With one loop a
 * thread, as irpc runs, the pools are that loop's; no lock is taken. An
 * object may be freed on any thread: it goes to that thread's pool, or
 * back to the allocator when that thread has none (no loop) or the class
 * holds its bound of free objects already (pool.c).
 *
 * Every pooled object was allocated with irpc_malloc once: the installed
 * allocator sees the pool grow, never an object taken from it. Under
 * AddressSanitizer a free object is poisoned (but its first pointer, which
 * links it), so a use after its put is reported. */
#ifndef IRPC_CORE_POOL_H
#define IRPC_CORE_POOL_H

#include <stddef.h>

#define IRPC__POOL_MAX 8192
/* Objects of exactly this size (the loops' read blocks, buf_internal.h)
 * have a class of their own, of at most IRPC__POOL_BIG_BOUND free ones. */
#define IRPC__POOL_BIG (256u * 1024u)
#define IRPC__POOL_BIG_BOUND 8

/* An object of `size` bytes: from the thread's pool when `size` is at most
 * IRPC__POOL_MAX (its class's size is then available) or is
 * IRPC__POOL_BIG, else from irpc_malloc; NULL when out of memory. */
void *irpc__pool_get(size_t size);
/* Gives back an object of irpc__pool_get with the same `size` (NULL:
 * nothing). */
void irpc__pool_put(void *obj, size_t size);
/* The bytes an object of `size` really has (its class's size, or `size`
 * beyond IRPC__POOL_MAX). */
size_t irpc__pool_size(size_t size);

/* A scheduler of this thread starts (scheduler.c only): returns what its
 * end passes to irpc__pool_detach, on the same thread (a detach on another
 * thread does nothing: that thread's pool is then given back when it
 * ends). */
void *irpc__pool_attach(void);
void irpc__pool_detach(void *attached);

/* AddressSanitizer's manual poisoning, or nothing. */
#if defined(__SANITIZE_ADDRESS__)
#define IRPC__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define IRPC__ASAN 1
#endif
#endif
#ifdef IRPC__ASAN
#include <sanitizer/asan_interface.h>
#define IRPC__POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define IRPC__UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define IRPC__POISON(p, n) ((void)(p), (void)(n))
#define IRPC__UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#endif
