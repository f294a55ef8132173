/*
 * cpgload.c - corosync (libcpg) side of totem-bench.
 *
 * The C twin of `totem-cpgload` (tests/src/bin/totem-cpgload.rs): same message layout,
 * same order hash, same RESULT line, all defined in tests/src/load.rs. totem-bench compiles
 * it with: gcc -O2 -o cpgload cpgload.c $(pkg-config --cflags --libs libcpg)
 *
 *   -g GROUP  group name (default "bench")      -S        send load
 *   -n N      data messages to send (0 = no limit, -t bounds it)
 *   -t SECS   seconds to send (0 = until -n)    -s BYTES  message size (>= 32, default 1024)
 *   -r RATE   messages/s (0 = flat out)         -w N      most own messages in flight (2048; 0 = none)
 *   -m N      group members to wait for before sending (1)
 *   -e N      end messages to wait for before exiting (1; 0 = run until -T)
 *   -T SECS   hard deadline (60)
 */
#define _GNU_SOURCE
#include <corosync/cpg.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { HDR = 32, KIND_DATA = 1, KIND_END = 2, MAX_PEERS = 256 };
#define LAT_CAP (8u << 20)

struct peer {
	uint32_t nodeid, pid;
	uint64_t next_seq;
	int ended;
};

static struct {
	uint32_t my_node, my_pid;
	size_t members;
	uint64_t recv, bytes, gaps, dups, own_back;
	struct peer peers[MAX_PEERS];
	size_t npeers, nended;
	int own_end_back;
	uint32_t *lat_us;
	size_t nlat;
	uint64_t order;
	uint64_t first_ns, last_ns;
} st = { .order = 0xcbf29ce484222325ULL };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void fnv_add(uint32_t nodeid, uint32_t pid, uint64_t seq)
{
	unsigned char b[16];
	put_le(b, nodeid, 4);
	put_le(b + 4, pid, 4);
	put_le(b + 8, seq, 8);
	for (int i = 0; i < 16; i++) {
		st.order ^= b[i];
		st.order *= 0x100000001b3ULL;
	}
}

static struct peer *peer_of(uint32_t nodeid, uint32_t pid)
{
	for (size_t i = 0; i < st.npeers; i++)
		if (st.peers[i].nodeid == nodeid && st.peers[i].pid == pid)
			return &st.peers[i];
	if (st.npeers == MAX_PEERS)
		return NULL;
	struct peer *p = &st.peers[st.npeers++];
	memset(p, 0, sizeof(*p));
	p->nodeid = nodeid;
	p->pid = pid;
	return p;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid, uint32_t pid,
		       void *msg, size_t len)
{
	(void)h;
	(void)g;
	const unsigned char *m = msg;
	if (len < HDR || memcmp(m, "TLD1", 4) != 0)
		return;
	uint32_t kind = (uint32_t)get_le(m + 4, 4);
	uint64_t seq = get_le(m + 8, 8);
	uint64_t t_send = get_le(m + 16, 8);
	struct peer *p = peer_of(nodeid, pid);
	if (kind == KIND_END) {
		if (p && !p->ended) {
			p->ended = 1;
			st.nended++;
		}
		if (nodeid == st.my_node && pid == st.my_pid)
			st.own_end_back = 1;
		return;
	}
	if (kind != KIND_DATA)
		return;
	uint64_t t = now_ns();
	if (!st.first_ns)
		st.first_ns = t;
	st.last_ns = t;
	st.recv++;
	st.bytes += len;
	fnv_add(nodeid, pid, seq);
	if (st.nlat < LAT_CAP)
		st.lat_us[st.nlat++] = (uint32_t)((t > t_send ? t - t_send : 0) / 1000);
	if (nodeid == st.my_node && pid == st.my_pid)
		st.own_back++;
	if (p) {
		if (seq < p->next_seq) {
			st.dups++;
		} else {
			st.gaps += seq - p->next_seq;
			p->next_seq = seq + 1;
		}
	}
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *g, const struct cpg_address *m,
		       size_t nm, const struct cpg_address *l, size_t nl,
		       const struct cpg_address *j, size_t nj)
{
	(void)h; (void)g; (void)m; (void)l; (void)nl; (void)j; (void)nj;
	st.members = nm;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static uint32_t quantile(double q)
{
	if (!st.nlat)
		return 0;
	size_t rank = (size_t)(q * (double)st.nlat + 0.999999999);
	if (rank < 1)
		rank = 1;
	if (rank > st.nlat)
		rank = st.nlat;
	return st.lat_us[rank - 1];
}

static int mcast(cpg_handle_t h, unsigned char *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	return cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1);
}

int main(int argc, char **argv)
{
	const char *group = "bench";
	int send = 0, opt;
	uint64_t count = 0, rate = 0, window = 2048, burst = 64;
	double secs = 0, deadline_s = 60;
	size_t size = 1024, want_members = 1, want_ends = 1;
	while ((opt = getopt(argc, argv, "g:Sn:t:s:r:w:b:m:e:T:")) != -1) {
		switch (opt) {
		case 'g': group = optarg; break;
		case 'S': send = 1; break;
		case 'n': count = strtoull(optarg, NULL, 10); break;
		case 't': secs = atof(optarg); break;
		case 's': size = strtoul(optarg, NULL, 10); break;
		case 'r': rate = strtoull(optarg, NULL, 10); break;
		case 'w': window = strtoull(optarg, NULL, 10); break;
		case 'b': burst = strtoull(optarg, NULL, 10); break;
		case 'm': want_members = strtoul(optarg, NULL, 10); break;
		case 'e': want_ends = strtoul(optarg, NULL, 10); break;
		case 'T': deadline_s = atof(optarg); break;
		default: fprintf(stderr, "cpgload: unknown option\n"); return 2;
		}
	}
	if (size < HDR || strlen(group) >= CPG_MAX_NAME_LENGTH) {
		fprintf(stderr, "cpgload: size below %d bytes or group name too long\n", HDR);
		return 2;
	}
	if (send && !count && secs <= 0) {
		fprintf(stderr, "cpgload: a sender needs -n or -t\n");
		return 2;
	}
	if (!count)
		count = UINT64_MAX;
	st.lat_us = malloc(LAT_CAP * sizeof(uint32_t));
	unsigned char *buf = calloc(1, size);
	if (!st.lat_us || !buf)
		return 1;

	cpg_callbacks_t cb = { .cpg_deliver_fn = on_deliver, .cpg_confchg_fn = on_confchg };
	cpg_handle_t h;
	struct cpg_name name;
	name.length = (uint32_t)strlen(group);
	memcpy(name.value, group, name.length);
	uint64_t start = now_ns();
	uint64_t deadline = start + (uint64_t)(deadline_s * 1e9);
	cs_error_t rc;
	while ((rc = cpg_initialize(&h, &cb)) == CS_ERR_TRY_AGAIN && now_ns() < deadline)
		usleep(10000);
	if (rc != CS_OK) {
		fprintf(stderr, "cpgload: cpg_initialize: error %d\n", rc);
		return 1;
	}
	while ((rc = cpg_join(h, &name)) == CS_ERR_TRY_AGAIN && now_ns() < deadline)
		usleep(10000);
	if (rc != CS_OK) {
		fprintf(stderr, "cpgload: cpg_join: error %d\n", rc);
		return 1;
	}
	unsigned int nodeid = 0;
	cpg_local_get(h, &nodeid);
	st.my_node = nodeid;
	st.my_pid = (uint32_t)getpid();
	int fd;
	cpg_fd_get(h, &fd);

	uint64_t sent = 0, try_again = 0, tx_start = 0, tx_end = 0;
	int end_sent = !send, timed_out = 0;
	for (;;) {
		int done_rx = want_ends > 0 && st.nended >= want_ends;
		if (end_sent && done_rx && (!send || st.own_end_back))
			break;
		uint64_t t = now_ns();
		if (t >= deadline) {
			timed_out = 1;
			break;
		}
		int wait_ms = 100;
		/* -m gates the start only: members leaving later do not stop the load. */
		int sending = send && !end_sent && (tx_start || st.members >= want_members);
		if (sending) {
			if (!tx_start)
				tx_start = t;
			if (sent >= count || (secs > 0 && t >= tx_start + (uint64_t)(secs * 1e9))) {
				memset(buf, 0, HDR);
				memcpy(buf, "TLD1", 4);
				put_le(buf + 4, KIND_END, 4);
				put_le(buf + 8, sent, 8);
				put_le(buf + 16, now_ns(), 8);
				rc = mcast(h, buf, HDR);
				if (rc == CS_OK) {
					end_sent = 1;
					tx_end = now_ns();
				} else if (rc == CS_ERR_TRY_AGAIN) {
					try_again++;
					wait_ms = 1;
				} else {
					fprintf(stderr, "cpgload: cpg_mcast_joined: error %d\n", rc);
					return 1;
				}
			} else {
				/* Send what the rate and the window allow now, at most -b per turn. */
				for (uint64_t k = 0; k < burst && sent < count; k++) {
					if (window && sent - st.own_back >= window) {
						wait_ms = 1;
						break;
					}
					uint64_t due = rate ? tx_start + sent * 1000000000ULL / rate : 0;
					uint64_t now = now_ns();
					if (due > now) {
						uint64_t ms = (due - now) / 1000000;
						wait_ms = ms < 100 ? (int)ms : 100;
						break;
					}
					memcpy(buf, "TLD1", 4);
					put_le(buf + 4, KIND_DATA, 4);
					put_le(buf + 8, sent, 8);
					put_le(buf + 16, now, 8);
					put_le(buf + 24, 0, 8);
					for (size_t i = HDR; i < size; i++)
						buf[i] = (unsigned char)(i ^ sent);
					rc = mcast(h, buf, size);
					if (rc == CS_ERR_TRY_AGAIN) {
						try_again++;
						wait_ms = 1;
						break;
					}
					if (rc != CS_OK) {
						fprintf(stderr, "cpgload: cpg_mcast_joined: error %d\n", rc);
						return 1;
					}
					sent++;
					wait_ms = 0;
				}
			}
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, wait_ms) > 0) {
			rc = cpg_dispatch(h, CS_DISPATCH_ALL);
			if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
				fprintf(stderr, "cpgload: cpg_dispatch: error %d\n", rc);
				break;
			}
		}
	}
	double tx_s = tx_end > tx_start ? (double)(tx_end - tx_start) / 1e9 : 0;
	double rx_s = st.last_ns > st.first_ns ? (double)(st.last_ns - st.first_ns) / 1e9 : 0;
	qsort(st.lat_us, st.nlat, sizeof(uint32_t), cmp_u32);
	printf("RESULT node=%u pid=%u size=%zu sent=%" PRIu64 " tx_s=%.3f tx_msgs_s=%.0f recv=%" PRIu64
	       " rx_s=%.3f rx_msgs_s=%.0f rx_MBps=%.2f gaps=%" PRIu64 " dups=%" PRIu64
	       " lat_us_p50=%u lat_us_p99=%u lat_us_max=%u order=%016" PRIx64 " ended=%zu/%zu"
	       " try_again=%" PRIu64 "%s\n",
	       st.my_node, st.my_pid, size, sent, tx_s, tx_s > 0 ? (double)sent / tx_s : 0,
	       st.recv, rx_s, rx_s > 0 ? (double)st.recv / rx_s : 0,
	       rx_s > 0 ? (double)st.bytes / rx_s / 1e6 : 0, st.gaps, st.dups, quantile(0.5),
	       quantile(0.99), st.nlat ? st.lat_us[st.nlat - 1] : 0, st.order, st.nended,
	       want_ends, try_again, timed_out ? " timeout=1" : "");
	fflush(stdout);
	cpg_leave(h, &name);
	cpg_finalize(h);
	return timed_out ? 3 : 0;
}
