#!/bin/sh
# Regenerates iptables-legacy-entries.txt: rules written by iptables-legacy-restore (v1.8.9), read
# back through libiptc (Sources/CIPTCShim/kiptc.c), one line per rule:
#   family <TAB> table <TAB> chain <TAB> target label <TAB> entry hex <TAB> iptables-legacy-save text
# Run as root from the repository root; everything happens in a throwaway network namespace.
# Needs gcc and libiptc-dev. The set indexes in the entries follow the creation order below.
set -eu
here=Tests/KernelTests/Fixtures
tmp=$(mktemp -d)
cat > "$tmp/dump.c" <<'C'
#include "kiptc.h"
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
	int fam = atoi(argv[1]); char err[256];
	kiptc_handle *h = kiptc_open(fam, argv[2], err, sizeof err);
	if (!h) { fprintf(stderr, "%s\n", err); return 1; }
	for (const char *c = kiptc_first_chain(h); c; c = kiptc_next_chain(h)) {
		size_t sz; const char *t;
		for (const void *e = kiptc_first_rule(h, c, &sz, &t); e; e = kiptc_next_rule(h, e, &sz, &t)) {
			printf("%d\t%s\t%s\t%s\t", fam, argv[2], c, t);
			for (size_t i = 0; i < sz; i++) printf("%02x", ((const unsigned char *)e)[i]);
			printf("\n");
		}
	}
	kiptc_close(h); return 0;
}
C
gcc -I Sources/CIPTCShim/include "$tmp/dump.c" Sources/CIPTCShim/kiptc.c -lip4tc -lip6tc -o "$tmp/dump"
unshare -n sh -c "
set -e
ipset restore < $here/capture-sets.txt
iptables-legacy-restore < $here/capture-rules-v4.txt
ip6tables-legacy-restore < $here/capture-rules-v6.txt
for t in filter nat; do
  $tmp/dump 4 \$t > $tmp/e4.\$t; iptables-legacy-save -t \$t | grep '^-A ' | sed 's/^-A [^ ]* //' > $tmp/s4.\$t
  paste $tmp/e4.\$t $tmp/s4.\$t
  $tmp/dump 6 \$t > $tmp/e6.\$t; ip6tables-legacy-save -t \$t | grep '^-A ' | sed 's/^-A [^ ]* //' > $tmp/s6.\$t
  paste $tmp/e6.\$t $tmp/s6.\$t
done" > "$here/iptables-legacy-entries.txt"
rm -rf "$tmp"
