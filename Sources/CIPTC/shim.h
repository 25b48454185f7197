// libiptc: libip4tc / libip6tc (Debian: libiptc-dev).
#include <libiptc/libiptc.h>
#include <libiptc/libip6tc.h>
