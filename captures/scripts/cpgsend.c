/*
 * cpgsend - small CPG client used to put known application traffic on a
 * corosync 3 ring while it is being captured.
 *
 * It joins one CPG group, optionally waits until the group has a given number
 * of members, multicasts a list of messages (AGREED order) at a fixed rate,
 * optionally waits until a given number of messages (from any member,
 * including itself) have been delivered, and exits.  Every delivery is checked
 * against the fill pattern below, so a corrupted reassembly shows up as "bad".
 *
 * Message layout (all integers little-endian, 24-byte header):
 *   0  u32 magic  0x50433347 ("G3CP" in memory)
 *   4  u32 nodeid of the sender
 *   8  u32 pid of the sender
 *  12  u32 seq, 1..N per sender
 *  16  u32 total message length in bytes (header included)
 *  20  u32 reserved, 0
 *  24  ... fill: byte at offset i is (uint8_t)(seq * 7 + i)
 * The fill makes every byte of a fragmented message predictable, so a codec
 * test can check reassembled payloads against an independent formula.
 *
 * Build: cc -O2 -Wall -o cpgsend cpgsend.c -lcpg
 *
 * Usage: cpgsend [-g NAME] [-s LIST] [-r RATE] [-m N] [-w M] [-T SEC] [-v]
 *   -g NAME  CPG group name (default "g3cap")
 *   -s LIST  messages to send: comma-separated items BYTES or BYTES*COUNT;
 *            BYTES may end in k (KiB); each item >= 24 and <= 1 MiB.
 *            Example: 200*10,64k,300k  (default: send nothing)
 *   -r RATE  messages per second (default 10; 0 = no pacing)
 *   -m N     wait until the group has N members before sending (default 1)
 *   -w M     after sending, wait until M deliveries were seen (default 0)
 *   -T SEC   hard deadline for the whole run (default 30)
 *   -v       print each delivery and membership change (with the left and joined
 *            processes: nodeid, pid, reason 1 join 2 leave 3 nodedown 4 nodeup 5 procdown)
 * Exit status: 0 success, 1 error or deadline, 2 usage.
 * Last line on stdout: RESULT nodeid=.. sent=.. delivered=.. bytes=.. bad=..
 */
#define _GNU_SOURCE
#include <corosync/cpg.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define HDR_LEN 24u
#define MAGIC 0x50433347u
#define MAX_MSG (1024u * 1024u)
#define MAX_ITEMS 4096u

static size_t sizes[MAX_ITEMS];
static size_t n_sizes;
static unsigned long delivered, delivered_bytes, bad;
static size_t members;
static int verbose;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Parse "200*10,64k,300k" into sizes[]; returns 0 on success. */
static int parse_sizes(const char *arg)
{
	char *copy = strdup(arg), *save = NULL, *item;
	int rc = 0;

	if (!copy)
		return -1;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long bytes = strtoul(item, &end, 10), count = 1;

		if (end == item) { rc = -1; break; }
		if (*end == 'k' || *end == 'K') {
			bytes *= 1024u;
			end++;
		}
		if (*end == '*') {
			char *e2;
			count = strtoul(end + 1, &e2, 10);
			if (e2 == end + 1 || *e2 != '\0') { rc = -1; break; }
		} else if (*end != '\0') {
			rc = -1;
			break;
		}
		if (bytes < HDR_LEN || bytes > MAX_MSG || count > MAX_ITEMS - n_sizes) { rc = -1; break; }
		while (count--)
			sizes[n_sizes++] = bytes;
	}
	free(copy);
	return rc;
}

static void fill(uint8_t *buf, size_t len, uint32_t nodeid, uint32_t seq)
{
	size_t i;

	put32(buf, MAGIC);
	put32(buf + 4, nodeid);
	put32(buf + 8, (uint32_t)getpid());
	put32(buf + 12, seq);
	put32(buf + 16, (uint32_t)len);
	put32(buf + 20, 0);
	for (i = HDR_LEN; i < len; i++)
		buf[i] = (uint8_t)(seq * 7u + i);
}

static int check(const uint8_t *buf, size_t len, uint32_t nodeid)
{
	uint32_t seq;
	size_t i;

	if (len < HDR_LEN || get32(buf) != MAGIC || get32(buf + 4) != nodeid || get32(buf + 16) != len)
		return 0;
	seq = get32(buf + 12);
	for (i = HDR_LEN; i < len; i++)
		if (buf[i] != (uint8_t)(seq * 7u + i))
			return 0;
	return 1;
}

static void deliver_cb(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid,
		       uint32_t pid, void *msg, size_t len)
{
	int ok = check(msg, len, nodeid);

	(void)h;
	(void)g;
	delivered++;
	delivered_bytes += len;
	if (!ok)
		bad++;
	if (verbose)
		printf("deliver from=%" PRIu32 " pid=%" PRIu32 " seq=%" PRIu32 " len=%zu %s\n",
		       nodeid, pid, len >= HDR_LEN ? get32((uint8_t *)msg + 12) : 0, len,
		       ok ? "ok" : "BAD");
}

static void confchg_cb(cpg_handle_t h, const struct cpg_name *g,
		       const struct cpg_address *mem, size_t nmem,
		       const struct cpg_address *left, size_t nleft,
		       const struct cpg_address *joined, size_t njoined)
{
	(void)h;
	(void)g;
	(void)mem;
	members = nmem;
	if (verbose) {
		size_t k;

		printf("confchg members=%zu left=%zu joined=%zu\n", nmem, nleft, njoined);
		for (k = 0; k < nleft; k++)
			printf("  left nodeid=%" PRIu32 " pid=%" PRIu32 " reason=%" PRIu32 "\n",
			       left[k].nodeid, left[k].pid, left[k].reason);
		for (k = 0; k < njoined; k++)
			printf("  joined nodeid=%" PRIu32 " pid=%" PRIu32 " reason=%" PRIu32 "\n",
			       joined[k].nodeid, joined[k].pid, joined[k].reason);
		fflush(stdout);
	}
}

/* Dispatch callbacks for at most timeout_ms; returns -1 on a fatal error. */
static int pump(cpg_handle_t h, int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, timeout_ms);

	if (r < 0 && errno != EINTR)
		return -1;
	if (r > 0) {
		cs_error_t e = cpg_dispatch(h, CS_DISPATCH_ALL);
		if (e != CS_OK && e != CS_ERR_TRY_AGAIN) {
			fprintf(stderr, "cpgsend: cpg_dispatch error %d\n", e);
			return -1;
		}
	}
	return 0;
}

static int remaining(uint64_t deadline)
{
	uint64_t t = now_ms();
	return t >= deadline ? 0 : (int)(deadline - t);
}

static void usage(void)
{
	fprintf(stderr, "usage: cpgsend [-g NAME] [-s LIST] [-r RATE] [-m N] [-w M] [-T SEC] [-v]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *group = "g3cap";
	unsigned long rate = 10, want_members = 1, want_deliv = 0, tmo = 30;
	cpg_model_v1_data_t model;
	struct cpg_name name;
	cpg_handle_t h;
	unsigned int nodeid = 0;
	uint64_t deadline, next;
	uint8_t *buf = NULL;
	size_t i, sent = 0;
	int fd, c, rc = 0;
	cs_error_t e;

	while ((c = getopt(argc, argv, "g:s:r:m:w:T:v")) != -1) {
		switch (c) {
		case 'g': group = optarg; break;
		case 's': if (parse_sizes(optarg)) usage(); break;
		case 'r': rate = strtoul(optarg, NULL, 10); break;
		case 'm': want_members = strtoul(optarg, NULL, 10); break;
		case 'w': want_deliv = strtoul(optarg, NULL, 10); break;
		case 'T': tmo = strtoul(optarg, NULL, 10); break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (strlen(group) >= CPG_MAX_NAME_LENGTH || tmo == 0 || tmo > 3600)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	deadline = now_ms() + tmo * 1000u;

	memset(&model, 0, sizeof(model));
	model.model = CPG_MODEL_V1;
	model.cpg_deliver_fn = deliver_cb;
	model.cpg_confchg_fn = confchg_cb;
	e = cpg_model_initialize(&h, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL);
	if (e != CS_OK) {
		fprintf(stderr, "cpgsend: cpg_model_initialize error %d (no corosync in this netns?)\n", e);
		return 1;
	}
	cpg_local_get(h, &nodeid);
	if (cpg_fd_get(h, &fd) != CS_OK) {
		fprintf(stderr, "cpgsend: cpg_fd_get failed\n");
		return 1;
	}
	memset(&name, 0, sizeof(name));
	name.length = (uint32_t)strlen(group);
	memcpy(name.value, group, name.length);
	do {
		e = cpg_join(h, &name);
		if (e == CS_ERR_TRY_AGAIN)
			usleep(100000);
	} while (e == CS_ERR_TRY_AGAIN && remaining(deadline) > 0);
	if (e != CS_OK) {
		fprintf(stderr, "cpgsend: cpg_join error %d\n", e);
		return 1;
	}

	while (members < want_members && remaining(deadline) > 0)
		if (pump(h, fd, remaining(deadline) < 100 ? remaining(deadline) : 100) < 0)
			goto fail;
	if (members < want_members) {
		fprintf(stderr, "cpgsend: group has %zu members, wanted %lu\n", members, want_members);
		goto fail;
	}

	buf = malloc(MAX_MSG);
	if (!buf)
		goto fail;
	next = now_ms();
	for (i = 0; i < n_sizes; i++) {
		struct iovec iov;

		while (rate && now_ms() < next && remaining(deadline) > 0)
			if (pump(h, fd, (int)(next - now_ms())) < 0)
				goto fail;
		fill(buf, sizes[i], nodeid, (uint32_t)(i + 1));
		iov.iov_base = buf;
		iov.iov_len = sizes[i];
		for (;;) {
			e = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1);
			if (e != CS_ERR_TRY_AGAIN || remaining(deadline) == 0)
				break;
			if (pump(h, fd, 10) < 0)
				goto fail;
		}
		if (e != CS_OK) {
			fprintf(stderr, "cpgsend: cpg_mcast_joined(%zu bytes) error %d\n", sizes[i], e);
			goto fail;
		}
		sent++;
		if (verbose)
			printf("sent seq=%zu len=%zu\n", i + 1, sizes[i]);
		if (rate)
			next += 1000u / rate;
	}

	while (delivered < want_deliv && remaining(deadline) > 0)
		if (pump(h, fd, remaining(deadline) < 100 ? remaining(deadline) : 100) < 0)
			goto fail;
	if (delivered < want_deliv) {
		fprintf(stderr, "cpgsend: %lu deliveries, wanted %lu (deadline)\n", delivered, want_deliv);
		rc = 1;
	}
	goto out;
fail:
	rc = 1;
out:
	if (bad)
		rc = 1;
	printf("RESULT nodeid=%u sent=%zu delivered=%lu bytes=%lu bad=%lu\n",
	       nodeid, sent, delivered, delivered_bytes, bad);
	free(buf);
	cpg_leave(h, &name);
	cpg_finalize(h);
	return rc;
}
