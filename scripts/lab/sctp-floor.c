/*
 * sctp-floor: the least any ASAP registrar can do per request over kernel SCTP.
 *
 * A benchmark contender, not a registrar: it answers every Registration,
 * Deregistration and Handle Resolution with exactly one recv and one send and
 * keeps no handlespace. Its CPU per operation is (nearly all) the kernel's
 * transport work, the floor under any registrar's cost on the same machine.
 *
 *   sctp-floor [-t] ADDR:PORT      e.g. sctp-floor 10.255.255.6:3863
 *
 * Sockets are one-to-one SOCK_STREAM: kernel SCTP, or TCP with -t (for
 * machines without kernel SCTP). Single-threaded, one level-triggered epoll
 * loop; per association a small buffer that splits the byte stream into ASAP
 * messages by their length field (over SCTP one recv is one message).
 *   Registration       -> Registration Response: the request's Pool Handle
 *                         and the PE Identifier of its Pool Element;
 *   Deregistration     -> Deregistration Response: Pool Handle, PE Identifier;
 *   Handle Resolution  -> Handle Resolution Response: the Pool Handle and the
 *                         Pool Element parameters of the last 3 distinct PEs
 *                         registered (any pool; the benchmark uses one), copied
 *                         byte for byte; before any, an Unknown Pool Handle
 *                         Operation Error;
 *   anything else      -> ignored (e.g. Endpoint Keep-Alive Ack).
 * A malformed message or a failed send closes that association only. No
 * allocation, logging or clock reading per message.
 *
 * Build: gcc -O2 -Wall -Wextra -o sctp-floor sctp-floor.c (libc headers only;
 * no libsctp needed). Codes: /work/shared/rfc/CONSTANTS.md (RFC 5352, 5354).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Kernel SCTP, from <linux/sctp.h>, here so that no SCTP headers are needed. */
#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif
#define SOL_SCTP_ 132
#define SCTP_NODELAY_ 3
#define SCTP_DEFAULT_SEND_PARAM_ 10
#define MSG_NOTIFICATION_ 0x8000

/* struct sctp_sndrcvinfo: only the PPID matters (network byte order). */
struct sndrcvinfo {
	uint16_t stream;
	uint16_t ssn;
	uint16_t flags;
	uint32_t ppid;
	uint32_t context;
	uint32_t timetolive;
	uint32_t tsn;
	uint32_t cumtsn;
	int32_t assoc_id;
};

#define ASAP_PPID 11

/* ASAP message types (RFC 5352). */
enum {
	REGISTRATION = 0x01,
	DEREGISTRATION = 0x02,
	REGISTRATION_RESPONSE = 0x03,
	DEREGISTRATION_RESPONSE = 0x04,
	HANDLE_RESOLUTION = 0x05,
	HANDLE_RESOLUTION_RESPONSE = 0x06,
};

/* Parameter types (RFC 5354) and the one error cause used. */
enum {
	P_POOL_HANDLE = 0x0009,
	P_POOL_ELEMENT = 0x000a,
	P_OPERATION_ERROR = 0x000c,
	P_PE_IDENTIFIER = 0x000e,
	CAUSE_UNKNOWN_POOL_HANDLE = 0x0009,
};

#define HEADER 4         /* type:u8 flags:u8 length:u16 */
#define CONN_BUF 4096    /* per association; longer messages close it */
#define PE_MAX 512       /* longer Pool Element parameters are not kept */
#define RESOLVED 3       /* PEs per Handle Resolution Response */
#define EVENTS 256

struct conn {
	int fd;
	size_t start, end; /* unconsumed bytes: buf[start..end) */
	uint8_t buf[CONN_BUF];
};

/* The last RESOLVED distinct Pool Element parameters, padded. */
static struct {
	uint32_t pe_id;
	size_t len; /* 0: empty */
	uint8_t tlv[PE_MAX];
} ring[RESOLVED];
static unsigned ring_next;

static int sctp = 1;
static uint8_t out[HEADER + CONN_BUF + RESOLVED * PE_MAX + 16];

static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t pad4(size_t n) { return (n + 3) & ~(size_t)3; }

/* Offset of the first parameter of `type` in message m (len bytes), its TLV
 * length (padding excluded) in *plen; 0 if there is none. */
static size_t find_param(const uint8_t *m, size_t len, unsigned type, size_t *plen)
{
	size_t at = HEADER;
	while (at + 4 <= len) {
		size_t l = get16(m + at + 2);
		if (l < 4 || at + l > len)
			return 0;
		if (get16(m + at) == type) {
			*plen = l;
			return at;
		}
		at += pad4(l);
	}
	return 0;
}

/* Copies a TLV of length l to o, zero-padded; returns the padded length. */
static size_t copy_tlv(uint8_t *o, const uint8_t *tlv, size_t l)
{
	memcpy(o, tlv, l);
	memset(o + l, 0, pad4(l) - l);
	return pad4(l);
}

/* Keeps the Pool Element parameter of a registration for resolutions: the
 * slot of the same PE if it has one, else the oldest. */
static void remember(const uint8_t *tlv, size_t l, uint32_t pe_id)
{
	unsigned i, slot = ring_next;
	if (l > PE_MAX)
		return;
	for (i = 0; i < RESOLVED; i++)
		if (ring[i].len && ring[i].pe_id == pe_id)
			break;
	if (i < RESOLVED)
		slot = i;
	else
		ring_next = (ring_next + 1) % RESOLVED;
	ring[slot].pe_id = pe_id;
	ring[slot].len = copy_tlv(ring[slot].tlv, tlv, l);
}

static void forget(uint32_t pe_id)
{
	for (unsigned i = 0; i < RESOLVED; i++)
		if (ring[i].len && ring[i].pe_id == pe_id)
			ring[i].len = 0;
}

/* Answers message m (len bytes): 0 if done or ignored, -1 to close. */
static int answer(int fd, const uint8_t *m, size_t len)
{
	size_t ph, phl, p, pl, n = HEADER;
	uint32_t pe_id;

	switch (m[0]) {
	case REGISTRATION:
	case DEREGISTRATION:
		ph = find_param(m, len, P_POOL_HANDLE, &phl);
		if (m[0] == REGISTRATION) {
			p = find_param(m, len, P_POOL_ELEMENT, &pl);
			if (!p || pl < 8)
				return -1;
		} else {
			p = find_param(m, len, P_PE_IDENTIFIER, &pl);
			if (!p || pl != 8)
				return -1;
		}
		if (!ph)
			return -1;
		pe_id = get32(m + p + 4); /* first u32 of either value */
		if (m[0] == REGISTRATION)
			remember(m + p, pl, pe_id);
		else
			forget(pe_id);
		out[0] = m[0] == REGISTRATION ? REGISTRATION_RESPONSE : DEREGISTRATION_RESPONSE;
		n += copy_tlv(out + n, m + ph, phl);
		put16(out + n, P_PE_IDENTIFIER);
		put16(out + n + 2, 8);
		memcpy(out + n + 4, m + p + 4, 4);
		n += 8;
		break;
	case HANDLE_RESOLUTION:
		ph = find_param(m, len, P_POOL_HANDLE, &phl);
		if (!ph)
			return -1;
		out[0] = HANDLE_RESOLUTION_RESPONSE;
		n += copy_tlv(out + n, m + ph, phl);
		for (unsigned i = 0; i < RESOLVED; i++) {
			if (ring[i].len) {
				memcpy(out + n, ring[i].tlv, ring[i].len);
				n += ring[i].len;
			}
		}
		if (n == HEADER + pad4(phl)) { /* no PE yet */
			put16(out + n, P_OPERATION_ERROR);
			put16(out + n + 2, 8);
			put16(out + n + 4, CAUSE_UNKNOWN_POOL_HANDLE);
			put16(out + n + 6, 4);
			n += 8;
		}
		break;
	default:
		return 0;
	}
	out[1] = 0;
	put16(out + 2, (unsigned)n);
	return send(fd, out, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static void drop(struct conn *c)
{
	close(c->fd);
	free(c);
}

/* One recv, then every whole message it completed. */
static void serve(struct conn *c)
{
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t r;

	if (c->start) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	iov.iov_base = c->buf + c->end;
	iov.iov_len = sizeof c->buf - c->end;
	r = recvmsg(c->fd, &mh, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		drop(c);
		return;
	}
	if (mh.msg_flags & MSG_NOTIFICATION_) /* SCTP event (none subscribed) */
		return;
	c->end += (size_t)r;
	while (c->end - c->start >= HEADER) {
		const uint8_t *m = c->buf + c->start;
		size_t len = get16(m + 2);
		if (len < HEADER || len > CONN_BUF) {
			drop(c);
			return;
		}
		if (c->end - c->start < len)
			break;
		if (answer(c->fd, m, len) < 0) {
			drop(c);
			return;
		}
		c->start += len;
	}
	/* At an SCTP message's end, what is left is padding the length left out. */
	if (c->start == c->end || (sctp && (mh.msg_flags & MSG_EOR)))
		c->start = c->end = 0;
}

static void accept_all(int lfd, int ep)
{
	const int one = 1;
	const struct sndrcvinfo send_param = {.ppid = htonl(ASAP_PPID)};

	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN: all taken; else retried on the next wake-up */
		}
		if (sctp) {
			setsockopt(fd, SOL_SCTP_, SCTP_NODELAY_, &one, sizeof one);
			setsockopt(fd, SOL_SCTP_, SCTP_DEFAULT_SEND_PARAM_, &send_param,
				   sizeof send_param);
		} else {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		}
		struct conn *c = malloc(sizeof *c);
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->start = c->end = 0;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			drop(c);
	}
}

/* Listening socket at "ADDR:PORT" ("[v6]:PORT" too), non-blocking. */
static int listen_at(const char *where)
{
	char host[256];
	const char *colon = strrchr(where, ':');
	struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai;
	const int one = 1;
	const struct sndrcvinfo send_param = {.ppid = htonl(ASAP_PPID)};
	size_t hl;
	int fd, e;

	if (!colon || (hl = (size_t)(colon - where)) >= sizeof host) {
		fprintf(stderr, "sctp-floor: expected ADDR:PORT, got %s\n", where);
		return -1;
	}
	memcpy(host, where, hl);
	host[hl] = 0;
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = 0;
	}
	if ((e = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		fprintf(stderr, "sctp-floor: %s: %s\n", where, gai_strerror(e));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    sctp ? IPPROTO_SCTP : IPPROTO_TCP);
	if (fd < 0) {
		perror(sctp ? "sctp-floor: SCTP socket" : "sctp-floor: TCP socket");
		freeaddrinfo(ai);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (sctp) { /* inherited by accepted sockets; set on them again anyway */
		setsockopt(fd, SOL_SCTP_, SCTP_NODELAY_, &one, sizeof one);
		setsockopt(fd, SOL_SCTP_, SCTP_DEFAULT_SEND_PARAM_, &send_param, sizeof send_param);
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		fprintf(stderr, "sctp-floor: %s: %s\n", where, strerror(errno));
		freeaddrinfo(ai);
		close(fd);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int main(int argc, char **argv)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[EVENTS];
	int lfd, ep, i = 1;

	if (argc == 3 && strcmp(argv[1], "-t") == 0) {
		sctp = 0;
		i = 2;
	}
	if (argc != i + 1 || argv[i][0] == '-') {
		fprintf(stderr, "usage: sctp-floor [-t] ADDR:PORT   (-t: TCP instead of SCTP)\n");
		return 2;
	}
	if ((lfd = listen_at(argv[i])) < 0)
		return 1;
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("sctp-floor: epoll");
		return 1;
	}
	fprintf(stderr, "sctp-floor: ASAP over %s at %s\n", sctp ? "SCTP" : "TCP", argv[i]);
	for (;;) {
		int n = epoll_wait(ep, evs, EVENTS, -1);
		if (n < 0 && errno != EINTR) {
			perror("sctp-floor: epoll_wait");
			return 1;
		}
		for (int k = 0; k < n; k++) {
			if (evs[k].data.ptr)
				serve(evs[k].data.ptr);
			else
				accept_all(lfd, ep);
		}
	}
}
