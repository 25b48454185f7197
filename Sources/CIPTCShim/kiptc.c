// libiptc behind the narrow interface of include/kiptc.h (see there for why).
#include "kiptc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <libiptc/libiptc.h>
#include <libiptc/libip6tc.h>
#include <linux/netfilter/ipset/ip_set.h>

struct kiptc_handle {
	int family;
	struct xtc_handle *h;
	char err[256];
};

static int fail(struct kiptc_handle *k, const char *op)
{
	int e = errno;
	snprintf(k->err, sizeof(k->err), "%s: %s (errno %d)", op,
		 k->family == 6 ? ip6tc_strerror(e) : iptc_strerror(e), e);
	errno = e;
	return -1;
}

kiptc_handle *kiptc_open(int family, const char *table, char *err, size_t errlen)
{
	struct kiptc_handle *k = calloc(1, sizeof(*k));
	if (!k) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	k->family = family;
	k->h = family == 6 ? ip6tc_init(table) : iptc_init(table);
	if (!k->h) {
		int e = errno;
		snprintf(err, errlen, "%s_init(%s): %s (errno %d)", family == 6 ? "ip6tc" : "iptc", table,
			 family == 6 ? ip6tc_strerror(e) : iptc_strerror(e), e);
		free(k);
		errno = e;
		return NULL;
	}
	return k;
}

void kiptc_close(kiptc_handle *k)
{
	if (!k)
		return;
	if (k->h)
		k->family == 6 ? ip6tc_free(k->h) : iptc_free(k->h);
	free(k);
}

int kiptc_commit(kiptc_handle *k)
{
	int ok = k->family == 6 ? ip6tc_commit(k->h) : iptc_commit(k->h);
	return ok ? 0 : fail(k, "commit");
}

const char *kiptc_error(const kiptc_handle *k) { return k->err; }

const char *kiptc_first_chain(kiptc_handle *k)
{
	return k->family == 6 ? ip6tc_first_chain(k->h) : iptc_first_chain(k->h);
}

const char *kiptc_next_chain(kiptc_handle *k)
{
	return k->family == 6 ? ip6tc_next_chain(k->h) : iptc_next_chain(k->h);
}

int kiptc_is_chain(kiptc_handle *k, const char *chain)
{
	return k->family == 6 ? ip6tc_is_chain(chain, k->h) : iptc_is_chain(chain, k->h);
}

int kiptc_is_builtin(kiptc_handle *k, const char *chain)
{
	return k->family == 6 ? ip6tc_builtin(chain, k->h) : iptc_builtin(chain, k->h);
}

static const void *rule_out(kiptc_handle *k, const void *e, size_t *size, const char **target)
{
	if (!e)
		return NULL;
	if (k->family == 6) {
		const struct ip6t_entry *e6 = e;
		*size = e6->next_offset;
		*target = ip6tc_get_target(e6, k->h);
	} else {
		const struct ipt_entry *e4 = e;
		*size = e4->next_offset;
		*target = iptc_get_target(e4, k->h);
	}
	return e;
}

const void *kiptc_first_rule(kiptc_handle *k, const char *chain, size_t *size, const char **target)
{
	const void *e = k->family == 6 ? (const void *)ip6tc_first_rule(chain, k->h)
				       : (const void *)iptc_first_rule(chain, k->h);
	return rule_out(k, e, size, target);
}

const void *kiptc_next_rule(kiptc_handle *k, const void *prev, size_t *size, const char **target)
{
	const void *e = k->family == 6 ? (const void *)ip6tc_next_rule(prev, k->h)
				       : (const void *)iptc_next_rule(prev, k->h);
	return rule_out(k, e, size, target);
}

int kiptc_create_chain(kiptc_handle *k, const char *chain)
{
	int ok = k->family == 6 ? ip6tc_create_chain(chain, k->h) : iptc_create_chain(chain, k->h);
	return ok ? 0 : fail(k, "create chain");
}

int kiptc_flush_chain(kiptc_handle *k, const char *chain)
{
	int ok = k->family == 6 ? ip6tc_flush_entries(chain, k->h) : iptc_flush_entries(chain, k->h);
	return ok ? 0 : fail(k, "flush chain");
}

/* libiptc may rewrite the target of the entry it is given (jump mapping): pass a copy. */
static void *copy_entry(const void *entry, size_t size)
{
	void *c = malloc(size);
	if (c)
		memcpy(c, entry, size);
	return c;
}

int kiptc_append(kiptc_handle *k, const char *chain, const void *entry, size_t size)
{
	void *c = copy_entry(entry, size);
	if (!c)
		return -1;
	int ok = k->family == 6 ? ip6tc_append_entry(chain, c, k->h) : iptc_append_entry(chain, c, k->h);
	int e = errno;
	free(c);
	errno = e;
	return ok ? 0 : fail(k, "append rule");
}

int kiptc_insert(kiptc_handle *k, const char *chain, const void *entry, size_t size, unsigned pos)
{
	void *c = copy_entry(entry, size);
	if (!c)
		return -1;
	int ok = k->family == 6 ? ip6tc_insert_entry(chain, c, pos, k->h)
				: iptc_insert_entry(chain, c, pos, k->h);
	int e = errno;
	free(c);
	errno = e;
	return ok ? 0 : fail(k, "insert rule");
}

int kiptc_delete_num(kiptc_handle *k, const char *chain, unsigned pos)
{
	int ok = k->family == 6 ? ip6tc_delete_num_entry(chain, pos, k->h)
				: iptc_delete_num_entry(chain, pos, k->h);
	return ok ? 0 : fail(k, "delete rule");
}

int kiptc_delete_chain(kiptc_handle *k, const char *chain)
{
	int ok = k->family == 6 ? ip6tc_delete_chain(chain, k->h) : iptc_delete_chain(chain, k->h);
	return ok ? 0 : fail(k, "delete chain");
}

size_t kiptc_entry_size(int family)
{
	return family == 6 ? sizeof(struct ip6t_entry) : sizeof(struct ipt_entry);
}

size_t kiptc_target_offset_field(int family)
{
	return family == 6 ? offsetof(struct ip6t_entry, target_offset) : offsetof(struct ipt_entry, target_offset);
}

/* --- ipset indexes for xt_set (as libxt_set does: get_version then GET_BYNAME/BYINDEX) --- */

static int set_sockopt(void *req, socklen_t *len)
{
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		return -1;
	struct ip_set_req_version v = { .op = IP_SET_OP_VERSION };
	socklen_t vl = sizeof(v);
	if (getsockopt(fd, SOL_IP, SO_IP_SET, &v, &vl) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	((struct ip_set_req_get_set *)req)->version = v.version;
	int r = getsockopt(fd, SOL_IP, SO_IP_SET, req, len);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

int kiptc_set_index(const char *name, uint16_t *index, char *err, size_t errlen)
{
	struct ip_set_req_get_set req;
	memset(&req, 0, sizeof(req));
	if (strlen(name) >= IPSET_MAXNAMELEN) {
		snprintf(err, errlen, "set name too long: %s", name);
		return -1;
	}
	req.op = IP_SET_OP_GET_BYNAME;
	strcpy(req.set.name, name);
	socklen_t len = sizeof(req);
	if (set_sockopt(&req, &len) < 0) {
		snprintf(err, errlen, "ipset index of %s: %s (errno %d)", name, strerror(errno), errno);
		return -1;
	}
	if (req.set.index == IPSET_INVALID_ID) {
		snprintf(err, errlen, "set %s does not exist", name);
		errno = ENOENT;
		return -1;
	}
	*index = req.set.index;
	return 0;
}

int kiptc_set_name(uint16_t index, char *name, size_t namelen)
{
	struct ip_set_req_get_set req;
	memset(&req, 0, sizeof(req));
	req.op = IP_SET_OP_GET_BYINDEX;
	req.set.index = index;
	socklen_t len = sizeof(req);
	if (set_sockopt(&req, &len) < 0)
		return -1;
	if (req.set.name[0] == '\0') {
		errno = ENOENT;
		return -1;
	}
	snprintf(name, namelen, "%s", req.set.name);
	return 0;
}
