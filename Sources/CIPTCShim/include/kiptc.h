// Narrow C interface over libiptc (libip4tc, libip6tc) and the ipset set-index socket option.
//
// Only <stddef.h>/<stdint.h> reach Swift: libiptc's headers pull in linux/netfilter.h, whose
// `union nf_inet_addr` clashes with libipset's copy when both are imported into one Swift module.
// Rules cross this boundary as raw `struct ipt_entry` / `struct ip6t_entry` bytes (matches and
// target included); Sources/Kernel/IPTablesEntryCodec.swift encodes and decodes them.
#ifndef KUBE_IPVS_KIPTC_H
#define KUBE_IPVS_KIPTC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One libiptc handle: a snapshot of one table of one family, changed in memory, then committed.
typedef struct kiptc_handle kiptc_handle;

/// Reads `table` of `family` (4 or 6) from the kernel; NULL on failure (message in `err`).
kiptc_handle *kiptc_open(int family, const char *table, char *err, size_t errlen);
void kiptc_close(kiptc_handle *h);
/// Replaces the whole table in the kernel with the handle's (one setsockopt). 0 or -1.
int kiptc_commit(kiptc_handle *h);
/// Message of the last failed call ("" when none).
const char *kiptc_error(const kiptc_handle *h);

const char *kiptc_first_chain(kiptc_handle *h);
const char *kiptc_next_chain(kiptc_handle *h);
int kiptc_is_chain(kiptc_handle *h, const char *chain);
int kiptc_is_builtin(kiptc_handle *h, const char *chain);

/// First rule of `chain`: entry bytes (`*size` = next_offset) and its target label as
/// iptc_get_target names it (a chain, ACCEPT/DROP/RETURN, an extension name, or "").
const void *kiptc_first_rule(kiptc_handle *h, const char *chain, size_t *size, const char **target);
const void *kiptc_next_rule(kiptc_handle *h, const void *prev, size_t *size, const char **target);

int kiptc_create_chain(kiptc_handle *h, const char *chain);
int kiptc_flush_chain(kiptc_handle *h, const char *chain);
/// Appends an entry built by the codec (a jump names its chain in the target's name field).
int kiptc_append(kiptc_handle *h, const char *chain, const void *entry, size_t size);
/// Inserts at 0-based position `pos`.
int kiptc_insert(kiptc_handle *h, const char *chain, const void *entry, size_t size, unsigned pos);
/// Deletes the rule at 0-based position `pos`.
int kiptc_delete_num(kiptc_handle *h, const char *chain, unsigned pos);
/// Deletes an empty, unreferenced user chain. Returns 0, or -1 with kiptc_error() set.
int kiptc_delete_chain(kiptc_handle *h, const char *chain);

/// sizeof(struct ipt_entry) (family 4) or sizeof(struct ip6t_entry) (family 6), for codec checks.
size_t kiptc_entry_size(int family);
/// offsetof(.., target_offset) in the entry of `family`, for codec checks.
size_t kiptc_target_offset_field(int family);

/// Looks up the kernel index of ipset `name` (SO_IP_SET, IP_SET_OP_GET_BYNAME), as xt_set needs.
/// Returns 0, or -1 with a message in `err` (e.g. the set does not exist).
int kiptc_set_index(const char *name, uint16_t *index, char *err, size_t errlen);
/// The name of the ipset with kernel index `index` (IP_SET_OP_GET_BYINDEX) into `name` (>= 32 bytes).
int kiptc_set_name(uint16_t index, char *name, size_t namelen);

#ifdef __cplusplus
}
#endif
#endif
