// libipset (Debian: libipset-dev).
#include <libipset/ipset.h>
