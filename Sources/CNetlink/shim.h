// libnl-3, libnl-genl-3 and libnl-route-3 (Debian: libnl-3-dev libnl-genl-3-dev libnl-route-3-dev).
#include <netlink/netlink.h>
#include <netlink/genl/genl.h>
#include <netlink/genl/ctrl.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>
#include <linux/ip_vs.h>
