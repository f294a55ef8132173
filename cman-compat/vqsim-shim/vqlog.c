/*
 * LD_PRELOAD helper for corosync-vqsim (written for cman-compat's differential tests).
 *
 * corosync-vqsim never initialises libqb logging and its forked node processes lose the
 * logging thread, so votequorum's debug messages are dropped. This shim replaces the two
 * libqb entry points every log_printf() goes through and prints votequorum's messages
 * synchronously to stderr as:   VQLOG <pid> <nodeid or 0> <message>
 * The node id is learnt from the simulator's own message header on the node's first
 * multicast (writev with message type 4 = exec message).
 *
 * With VQSIM_SYNC_STAGGER_MS=N (N > 0) it also makes a sync's message order deterministic:
 * when a node reads a membership (VQMSG_SYNC) from the controller, its next 10 ms sync timer
 * is delayed by N ms times the node's position in that membership, so members send their
 * nodeinfo (and activate) one after another in membership order, each having received the
 * nodeinfo of every member before it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <qb/qblog.h>
#include <qb/qbloop.h>

static __thread struct qb_log_callsite slot;
static int my_node;
static int stagger_pos = -1;

/* vqsim's sync timer: 10 ms (vqsim_vq_engine.c start_sync_timer). */
#define VQSIM_SYNC_TIMER_NS 10000000ULL
/* struct vqsim_sync_msg: 12-byte header, packed 12-byte memb_ring_id, size_t count, ids. */
#define SYNC_COUNT_OFFSET 24
#define SYNC_LIST_OFFSET 32

static long stagger_ms(void)
{
    const char *s = getenv("VQSIM_SYNC_STAGGER_MS");
    long v = s ? strtol(s, NULL, 10) : 0;
    return v > 0 && v < 10000 ? v : 0;
}

ssize_t read(int fd, void *buf, size_t count)
{
    static ssize_t (*real_read)(int, void *, size_t);
    ssize_t res;

    if (real_read == NULL) {
        real_read = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    }
    res = real_read(fd, buf, count);
    if (res >= SYNC_LIST_OFFSET && my_node != 0 && stagger_ms() > 0) {
        const unsigned char *b = buf;
        int type;
        size_t n, i;
        memcpy(&type, b, sizeof(type));
        if (type == 2) {
            memcpy(&n, b + SYNC_COUNT_OFFSET, sizeof(n));
            if (n <= 1024 && SYNC_LIST_OFFSET + n * sizeof(unsigned int) <= (size_t)res) {
                for (i = 0; i < n; i++) {
                    unsigned int id;
                    memcpy(&id, b + SYNC_LIST_OFFSET + i * sizeof(id), sizeof(id));
                    if ((int)id == my_node) {
                        stagger_pos = (int)i;
                    }
                }
            }
        }
    }
    return res;
}

int32_t qb_loop_timer_add(qb_loop_t *l, enum qb_loop_priority p, uint64_t nsec_duration,
    void *data, qb_loop_timer_dispatch_fn dispatch_fn, qb_loop_timer_handle *timer_handle_out)
{
    static int32_t (*real_add)(qb_loop_t *, enum qb_loop_priority, uint64_t, void *,
        qb_loop_timer_dispatch_fn, qb_loop_timer_handle *);

    if (real_add == NULL) {
        real_add = (int32_t (*)(qb_loop_t *, enum qb_loop_priority, uint64_t, void *,
            qb_loop_timer_dispatch_fn, qb_loop_timer_handle *))dlsym(RTLD_NEXT, "qb_loop_timer_add");
    }
    if (nsec_duration == VQSIM_SYNC_TIMER_NS && stagger_pos >= 0) {
        nsec_duration += (uint64_t)stagger_pos * (uint64_t)stagger_ms() * 1000000ULL;
        stagger_pos = -1;
    }
    return real_add(l, p, nsec_duration, data, dispatch_fn, timer_handle_out);
}

struct qb_log_callsite *qb_log_callsite_get2(const char *message_id, const char *function,
    const char *filename, const char *format, uint8_t priority, uint32_t lineno, uint32_t tags)
{
    slot.function = function;
    slot.filename = filename;
    slot.format = format;
    slot.priority = priority;
    slot.lineno = lineno;
    slot.tags = tags;
    slot.message_id = message_id;
    return &slot;
}

void qb_log_real_(struct qb_log_callsite *cs, ...)
{
    char buf[1024];
    va_list ap;

    if (cs == NULL || cs->filename == NULL || cs->format == NULL ||
        strstr(cs->filename, "votequorum") == NULL) {
        return;
    }
    va_start(ap, cs);
    vsnprintf(buf, sizeof(buf), cs->format, ap);
    va_end(ap);
    buf[strcspn(buf, "\n")] = '\0';
    fprintf(stderr, "VQLOG %d %d %s\n", (int)getpid(), my_node, buf);
    fflush(stderr);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    static ssize_t (*real_writev)(int, const struct iovec *, int);

    if (iovcnt > 0 && iov[0].iov_len >= 2 * sizeof(int)) {
        const int *hdr = iov[0].iov_base;
        if (hdr[0] == 4) {
            my_node = hdr[1];
        }
    }
    if (real_writev == NULL) {
        real_writev = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    }
    return real_writev(fd, iov, iovcnt);
}
