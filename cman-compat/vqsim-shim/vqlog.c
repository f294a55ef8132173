/*
 * LD_PRELOAD helper for corosync-vqsim (written for cman-compat's differential tests).
 *
 * corosync-vqsim never initialises libqb logging and its forked node processes lose the
 * logging thread, so votequorum's debug messages are dropped. This shim replaces the two
 * libqb entry points every log_printf() goes through and prints votequorum's messages
 * synchronously to stderr as:   VQLOG <pid> <nodeid or 0> <message>
 * The node id is learnt from the simulator's own message header on the node's first
 * multicast (writev with message type 4 = exec message).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <qb/qblog.h>

static __thread struct qb_log_callsite slot;
static int my_node;

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
