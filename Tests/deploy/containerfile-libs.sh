#!/usr/bin/env bash
# Checks deploy/Containerfile against a real release build of kube-ipvs, on this Debian 12 host
# (the image's own release), without building the image (this machine has no container daemon):
#
#   1. every shared library `ldd` lists for the binary (built like the image builds it:
#      `swift build -c release --static-swift-stdlib`) belongs to a Debian package that the
#      runtime stage's `apt-get install` names (`dpkg -S` on the host), or is copied in by a COPY;
#   2. no library comes from the Swift toolchain (/opt/swift, usr/lib/swift): the static stdlib
#      must have linked them in;
#   3. every program kube-ipvs runs (modprobe, the iptables save/restore tools of both flavours)
#      and every file it reads from the image (/etc/protocols, for libipset) belongs to a package
#      the runtime stage installs; and the exec sites in Sources/Kernel are still the ones this
#      list was made from;
#   4. the files the Containerfile COPYs from the repository exist.
#
#   Tests/deploy/containerfile-libs.sh [BINARY]     (default: $KUBE_IPVS_RELEASE_BIN, $KUBE_IPVS_GUEST_BIN, else
#        ${KUBE_IPVS_SCRATCH:-.build}-guest/release/kube-ipvs, built if missing, as Tests/vm does)
# Exit 0 pass, 1 fail, 77 skip (no dpkg: not a Debian host).
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
cf=deploy/Containerfile
command -v dpkg >/dev/null || { echo "no dpkg: the check needs a Debian host"; exit 77; }
bin=${1:-${KUBE_IPVS_RELEASE_BIN:-${KUBE_IPVS_GUEST_BIN:-${KUBE_IPVS_SCRATCH:-.build}-guest/release/kube-ipvs}}}
if [ ! -x "$bin" ]; then
    scratch=${KUBE_IPVS_SCRATCH:-.build}-guest
    echo "building $bin (swift build -c release --static-swift-stdlib --scratch-path $scratch)"
    swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product kube-ipvs >/tmp/kube-ipvs-containerfile-build.log 2>&1 ||
        { tail -n 30 /tmp/kube-ipvs-containerfile-build.log; echo "build failed"; exit 1; }
fi
nfail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; nfail=$((nfail + 1)); }

# The runtime stage: everything after the last FROM.
runtime=$(awk '/^FROM /{buf=""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$cf")
# Package names of its apt-get install commands (continuation lines joined; options skipped).
packages=$(printf '%s\n' "$runtime" | sed -e ':a' -e '/\\$/N; s/\\\n/ /; ta' | grep 'apt-get install' |
    sed 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -v '^-' | grep -v '^$' | sort -u)
echo "runtime packages: $(echo $packages)"
[ -n "$packages" ] || bad "no apt-get install in the runtime stage of $cf"
installs() { printf '%s\n' "$packages" | grep -qx "$1"; }
copied_to=$(printf '%s\n' "$runtime" | awk '/^COPY /{print $NF}')

# owner PATH: the Debian package holding PATH (merged /usr: try the other spelling too).
owner() {
    local p=$1 cands=("$1") r
    r=$(readlink -f "$p" 2>/dev/null) && cands+=("$r")
    for c in "${cands[@]}"; do
        case $c in /usr/*) cands+=("${c#/usr}") ;; *) cands+=("/usr$c") ;; esac
    done
    for c in "${cands[@]}"; do
        r=$(dpkg -S "$c" 2>/dev/null | grep -v '^diversion' | head -n 1 | cut -d: -f1) && [ -n "$r" ] && { echo "$r"; return 0; }
    done
    return 1
}

# 1 + 2. Libraries.
echo "binary: $bin"
lddout=$(ldd "$bin" 2>&1) || { bad "ldd $bin: $lddout"; }
nlibs=0
while read -r line; do
    case $line in *linux-vdso*|'') continue ;; esac
    case $line in *"not found"*) bad "ldd: $line"; continue ;; esac
    if [[ $line == *"=>"* ]]; then path=$(echo "$line" | awk '{print $3}'); name=$(echo "$line" | awk '{print $1}')
    else path=$(echo "$line" | awk '{print $1}'); name=$(basename "$path"); fi
    nlibs=$((nlibs + 1))
    case $path in */swift/*|/opt/*)
        bad "$name comes from the Swift toolchain ($path): build with --static-swift-stdlib"; continue ;; esac
    if pkg=$(owner "$path"); then
        if installs "$pkg"; then ok "$name ($path) from $pkg, installed"
        else bad "$name ($path) is in package $pkg, which the runtime stage does not install"; fi
    elif printf '%s\n' "$copied_to" | grep -qx "$path"; then ok "$name copied in by COPY"
    else bad "$name ($path) belongs to no Debian package and is not copied in"; fi
done <<<"$lddout"
[ "$nlibs" -ge 5 ] || bad "ldd listed only $nlibs libraries: $lddout"

# 3. Programs and files used at run time. The exec sites: if this count changes, a program was
#    added or removed; update the list below and the Containerfile.
sites=$(grep -rn 'ExternalCommand.run(' Sources --include=*.swift | grep -v 'static func run' | wc -l)
[ "$sites" = 5 ] && ok "5 exec sites in Sources (Prerequisites: modprobe; IPTablesFlavor: *-save; IPTablesBackend: save, restore, restore --noflush for cleanup)" ||
    bad "Sources has $sites ExternalCommand.run sites, this check knows 5: review the programs below and deploy/Containerfile"
for tool in modprobe iptables-nft-save iptables-nft-restore ip6tables-nft-save ip6tables-nft-restore \
            iptables-legacy-save iptables-legacy-restore ip6tables-legacy-save ip6tables-legacy-restore; do
    p=$(command -v "$tool" || ls /usr/sbin/"$tool" /sbin/"$tool" 2>/dev/null | head -n 1)
    [ -n "$p" ] || { bad "$tool is not installed on this host: cannot tell its package"; continue; }
    if pkg=$(owner "$p"); then
        installs "$pkg" && ok "$tool ($p) from $pkg, installed" || bad "$tool ($p) is in $pkg, which the runtime stage does not install"
    else bad "$tool ($p): no owning package"; fi
done
for f in /etc/protocols; do
    if pkg=$(owner "$f"); then
        installs "$pkg" && ok "$f from $pkg, installed" || bad "$f is in $pkg, which the runtime stage does not install"
    else bad "$f: no owning package"; fi
done

# 4. What the Containerfile copies from the repository exists.
while read -r src; do
    [ -e "$src" ] && ok "COPY source $src exists" || bad "COPY source $src does not exist"
done < <(grep '^COPY ' "$cf" | grep -v -- '--from=' | awk '{for (i = 2; i < NF; i++) print $i}' | grep -v '\*')
grep -q -- '--static-swift-stdlib' "$cf" && ok "the build stage uses --static-swift-stdlib" || bad "the build stage does not use --static-swift-stdlib"
grep -q '^FROM debian:bookworm-slim' "$cf" && ok "runtime base debian:bookworm-slim" || bad "the runtime stage is not debian:bookworm-slim"

[ "$nfail" = 0 ] || { echo "$nfail check(s) failed"; exit 1; }
echo "deploy/Containerfile installs every library and program the binary needs (the image itself was not built)"
