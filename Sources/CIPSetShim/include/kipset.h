// Narrow C interface over libipset for the Kernel module.
//
// Why a shim: libipset's headers (libipset/nf_inet_addr.h) and libiptc's (linux/netfilter.h)
// both define `union nf_inet_addr`; a Swift module that imports both system libraries fails
// with "'nf_inet_addr' has different definitions in different modules". Only this header, which
// includes nothing but <stddef.h>/<stdint.h>, reaches Swift; libipset stays inside kipset.c.
#ifndef KUBE_IPVS_KIPSET_H
#define KUBE_IPVS_KIPSET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One libipset session (one netlink socket), with -exist semantics always on.
typedef struct kipset_handle kipset_handle;

/// Opens a session; NULL on failure (message in `err`).
kipset_handle *kipset_open(char *err, size_t errlen);
void kipset_close(kipset_handle *h);

/// Runs one ipset command line (`create ...`, `destroy NAME`, `flush NAME`), immediately.
/// Any queued entries are committed first. Returns 0, or -1 with kipset_error() set.
int kipset_run(kipset_handle *h, const char *line);

/// Appends the names of all sets (`ipset list -n`) to the output buffer, one per line.
int kipset_list_names(kipset_handle *h);
/// Appends `ipset save NAME` text to the output buffer.
int kipset_save(kipset_handle *h, const char *name);
/// 1 when the set exists, 0 when it does not, -1 on another error.
int kipset_exists(kipset_handle *h, const char *name);

/// Queues an add (del == 0) or delete (del != 0) of `elem` (ipset member text) in `setname`.
/// Consecutive calls with the same set and command are aggregated into shared netlink messages
/// (restore mode); `seq` (>= 1) is the number echoed in error messages ("Error in line N").
int kipset_adt(kipset_handle *h, int del, const char *setname, const char *elem, uint32_t seq);
/// Sends whatever kipset_adt queued. Returns 0, or -1 with kipset_error() set.
int kipset_commit(kipset_handle *h);

/// Output of list/save calls since the last reset (NUL-terminated).
const char *kipset_output(const kipset_handle *h, size_t *len);
void kipset_output_reset(kipset_handle *h);
/// The last error message ("" when none).
const char *kipset_error(const kipset_handle *h);

#ifdef __cplusplus
}
#endif
#endif
