// libipset behind the narrow interface of include/kipset.h (see there for why).
//
// Batching: libipset aggregates consecutive ADD (or DEL) commands on one set into one netlink
// message (filled up to a page, then sent) when the session's line number is non-zero, which is
// how `ipset restore` works (lib/session.c, may_aggregate_ad). kipset_adt drives that path with
// ipset_cmd(session, cmd, seq) directly, so a batch of N entries costs about N/100 messages on
// one socket, never one process or one round trip per entry (kubernetes/kubernetes#133773).
#include "kipset.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libipset/ipset.h>

struct kipset_handle {
	struct ipset *ipset;
	char *out;
	size_t outlen, outcap;
	char err[1024];
	/* Type of the set the current batch writes to, resolved once per batch (one HEADER query). */
	char cur_set[IPSET_MAXNAMELEN];
	const struct ipset_type *cur_type;
	uint8_t cur_family;
};

static void append_out(struct kipset_handle *h, const char *s, size_t n)
{
	if (h->outlen + n + 1 > h->outcap) {
		size_t cap = h->outcap ? h->outcap : 8192;
		while (h->outlen + n + 1 > cap)
			cap *= 2;
		char *p = realloc(h->out, cap);
		if (!p)
			return;
		h->out = p;
		h->outcap = cap;
	}
	memcpy(h->out + h->outlen, s, n);
	h->outlen += n;
	h->out[h->outlen] = '\0';
}

static int print_out(struct ipset_session *session, void *p, const char *fmt, ...)
{
	struct kipset_handle *h = p;
	va_list ap;
	char small[512];
	(void)session;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return n;
	if ((size_t)n < sizeof(small)) {
		append_out(h, small, (size_t)n);
		return n;
	}
	char *big = malloc((size_t)n + 1);
	if (!big)
		return -1;
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	append_out(h, big, (size_t)n);
	free(big);
	return n;
}

/* The library's defaults print to stderr and call exit(); these only record the message. */
static int custom_error(struct ipset *ipset, void *p, int status, const char *msg, ...)
{
	struct kipset_handle *h = p;
	struct ipset_session *session = ipset_session(ipset);

	if (status && msg) {
		va_list ap;
		va_start(ap, msg);
		vsnprintf(h->err, sizeof(h->err), msg, ap);
		va_end(ap);
	}
	if (session)
		ipset_session_report_reset(session);
	return status ? -1 : 0;
}

static int standard_error(struct ipset *ipset, void *p)
{
	struct kipset_handle *h = p;
	struct ipset_session *session = ipset_session(ipset);

	if (ipset_session_report_type(session) == IPSET_ERROR)
		snprintf(h->err, sizeof(h->err), "%s", ipset_session_report_msg(session));
	ipset_session_report_reset(session);
	return -1;
}

/* Records a session-level error (from ipset_cmd/ipset_commit) and clears it. */
static int session_error(struct kipset_handle *h)
{
	struct ipset_session *session = ipset_session(h->ipset);
	const char *msg = ipset_session_report_msg(session);
	if (ipset_session_report_type(session) == IPSET_ERROR || h->err[0] == '\0')
		snprintf(h->err, sizeof(h->err), "%s", msg && msg[0] ? msg : "ipset: unknown error");
	ipset_session_report_reset(session);
	/* Strip the trailing newline libipset appends. */
	size_t n = strlen(h->err);
	while (n > 0 && (h->err[n - 1] == '\n' || h->err[n - 1] == ' '))
		h->err[--n] = '\0';
	return -1;
}

kipset_handle *kipset_open(char *err, size_t errlen)
{
	static int types_loaded;
	if (!types_loaded) {
		ipset_load_types();
		types_loaded = 1;
	}
	struct kipset_handle *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->ipset = ipset_init();
	if (!h->ipset) {
		snprintf(err, errlen, "ipset_init failed");
		free(h);
		return NULL;
	}
	ipset_custom_printf(h->ipset, custom_error, standard_error, print_out, h);
	struct ipset_session *session = ipset_session(h->ipset);
	/* -exist: adding a present entry, deleting a missing one, creating an identical set are no errors. */
	ipset_envopt_set(session, IPSET_ENV_EXIST);
	/* Check the protocol once now, so that a missing ip_set module is reported at open. */
	if (ipset_cmd(session, IPSET_CMD_NONE, 0) < 0) {
		session_error(h);
		snprintf(err, errlen, "%s", h->err);
		kipset_close(h);
		return NULL;
	}
	return h;
}

void kipset_close(kipset_handle *h)
{
	if (!h)
		return;
	if (h->ipset)
		ipset_fini(h->ipset);
	free(h->out);
	free(h);
}

static int run_line(struct kipset_handle *h, const char *line)
{
	char buf[1024];
	if (strlen(line) >= sizeof(buf)) {
		snprintf(h->err, sizeof(h->err), "ipset command too long");
		return -1;
	}
	strcpy(buf, line);
	h->err[0] = '\0';
	int ret = ipset_parse_line(h->ipset, buf);
	if (ret < 0 || h->err[0] != '\0') {
		if (h->err[0] == '\0')
			return session_error(h);
		return -1;
	}
	return 0;
}

int kipset_run(kipset_handle *h, const char *line)
{
	if (kipset_commit(h) < 0)
		return -1;
	/* Any create/destroy may change a set's type: resolve it again in the next batch. */
	h->cur_set[0] = '\0';
	h->cur_type = NULL;
	return run_line(h, line);
}

int kipset_list_names(kipset_handle *h)
{
	if (kipset_commit(h) < 0)
		return -1;
	struct ipset_session *session = ipset_session(h->ipset);
	ipset_session_output(session, IPSET_LIST_PLAIN);
	ipset_envopt_set(session, IPSET_ENV_LIST_SETNAME);
	int ret = run_line(h, "list");
	ipset_envopt_unset(session, IPSET_ENV_LIST_SETNAME);
	ipset_session_output(session, IPSET_LIST_NONE);
	return ret;
}

int kipset_save(kipset_handle *h, const char *name)
{
	char line[IPSET_MAXNAMELEN + 8];
	if (strlen(name) >= IPSET_MAXNAMELEN || strchr(name, ' ')) {
		snprintf(h->err, sizeof(h->err), "invalid set name");
		return -1;
	}
	if (kipset_commit(h) < 0)
		return -1;
	struct ipset_session *session = ipset_session(h->ipset);
	ipset_session_output(session, IPSET_LIST_SAVE);
	snprintf(line, sizeof(line), "save %s", name);
	int ret = run_line(h, line);
	ipset_session_output(session, IPSET_LIST_NONE);
	return ret;
}

int kipset_exists(kipset_handle *h, const char *name)
{
	if (kipset_commit(h) < 0)
		return -1;
	struct ipset_session *session = ipset_session(h->ipset);
	h->err[0] = '\0';
	if (ipset_session_data_set(session, IPSET_SETNAME, name) < 0)
		return session_error(h);
	int ret = ipset_cmd(session, IPSET_CMD_HEADER, 0);
	ipset_data_reset(ipset_session_data(session));
	if (ret == 0)
		return 1;
	session_error(h);
	if (strstr(h->err, "does not exist")) {
		h->err[0] = '\0';
		return 0;
	}
	return -1;
}

int kipset_adt(kipset_handle *h, int del, const char *setname, const char *elem, uint32_t seq)
{
	struct ipset_session *session = ipset_session(h->ipset);
	struct ipset_data *data = ipset_session_data(session);
	enum ipset_cmd cmd = del ? IPSET_CMD_DEL : IPSET_CMD_ADD;

	h->err[0] = '\0';
	if (seq == 0)
		seq = 1; /* 0 would turn aggregation off */
	if (ipset_parse_setname(session, IPSET_SETNAME, setname) < 0)
		return session_error(h);
	if (h->cur_type == NULL || strcmp(h->cur_set, setname) != 0) {
		/* Ask the kernel (HEADER), not the process-wide cache, which may be stale. */
		ipset_cache_del(setname);
		const struct ipset_type *type = ipset_type_get(session, cmd);
		if (!type)
			return session_error(h);
		h->cur_type = type;
		h->cur_family = ipset_data_family(data);
		snprintf(h->cur_set, sizeof(h->cur_set), "%s", setname);
	} else {
		ipset_data_set(data, IPSET_OPT_FAMILY, &h->cur_family);
		ipset_data_set(data, IPSET_OPT_TYPE, h->cur_type);
	}
	if (ipset_parse_elem(session, h->cur_type->last_elem_optional, elem) < 0) {
		session_error(h);
		ipset_data_reset(data);
		return -1;
	}
	if (ipset_cmd(session, cmd, seq) < 0)
		return session_error(h);
	return 0;
}

int kipset_commit(kipset_handle *h)
{
	struct ipset_session *session = ipset_session(h->ipset);
	h->err[0] = '\0';
	if (ipset_commit(session) < 0)
		return session_error(h);
	return 0;
}

const char *kipset_output(const kipset_handle *h, size_t *len)
{
	if (len)
		*len = h->outlen;
	return h->out ? h->out : "";
}

void kipset_output_reset(kipset_handle *h)
{
	h->outlen = 0;
	if (h->out)
		h->out[0] = '\0';
}

const char *kipset_error(const kipset_handle *h)
{
	return h->err;
}
