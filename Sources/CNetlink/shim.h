// libnl-3, libnl-genl-3 and libnl-route-3 (Debian: libnl-3-dev libnl-genl-3-dev libnl-route-3-dev).
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <linux/ip_vs.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

// recvmmsg(2) and struct mmsghdr are declared only under _GNU_SOURCE, which Swift's Glibc module
// does not define; this mirror of struct mmsghdr (same layout) and the raw syscall stand in.
struct kipvs_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

static inline int kipvs_recvmmsg(int fd, struct kipvs_mmsghdr *vec, unsigned int vlen, int flags) {
    return (int)syscall(SYS_recvmmsg, fd, vec, vlen, flags, (void *)0);
}

// MSG_WAITFORONE is also _GNU_SOURCE-only (linux/socket.h value).
static const int kipvs_MSG_WAITFORONE = 0x10000;
