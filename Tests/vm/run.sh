#!/usr/bin/env bash
# The QEMU guest tier: boot a Debian cloud kernel (IPVS, ipset, iptables as modules) under
# TCG with a busybox initramfs, run guest test scripts inside, report PASS/FAIL/SKIP.
#
# Usage: Tests/vm/run.sh [options] [TEST...]
#   TEST                 file names or paths under Tests/vm/tests (default: all NN-*.sh)
#   --manifest FILE      manifest for tests that dry-run one (default examples/web-service.yaml;
#                        env KUBE_IPVS_VM_MANIFEST)
#   --guest-binary FILE  kube-ipvs to install in the guest as /usr/local/bin/kube-ipvs
#                        (env KUBE_IPVS_GUEST_BIN); built automatically (static Swift stdlib,
#                        release, scratch path ${KUBE_IPVS_SCRATCH}-guest) when a test
#                        declares `# vm: needs-binary` and none is given
#   --with-binary        install the guest binary even if no test asks for it
#   --keep               keep the run directory (initrd, console logs) even on success
#   -v, --verbose        stream the guest console while it runs
# Environment: KUBE_IPVS_SCRATCH (default .build) for the host binary
#   $KUBE_IPVS_SCRATCH/debug/kube-ipvs (override with KUBE_IPVS_BIN) that host hooks use;
#   KUBE_IPVS_VM_QEMU_ARGS extra QEMU arguments for every boot; KUBE_IPVS_VM_MEM (1024).
# Last line of output: "vm: N passed, N failed, N skipped". Exit status 1 on any failure.
# The conventions for test scripts are in Tests/vm/README.md.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
cache=${KUBE_IPVS_VM_CACHE:-$repo/.cache/vm}
scratch=${KUBE_IPVS_SCRATCH:-.build}
manifest=${KUBE_IPVS_VM_MANIFEST:-examples/web-service.yaml}
guest_bin=${KUBE_IPVS_GUEST_BIN:-}
with_binary=0 keep=0 verbose=0
tests=()
while [ $# -gt 0 ]; do
    case $1 in
        --manifest) manifest=$2; shift 2 ;;
        --guest-binary) guest_bin=$2; with_binary=1; shift 2 ;;
        --with-binary) with_binary=1; shift ;;
        --keep) keep=1; shift ;;
        -v|--verbose) verbose=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
        *) tests+=("$1"); shift ;;
    esac
done
case $scratch in /*) scratch_abs=$scratch ;; *) scratch_abs=$repo/$scratch ;; esac
export KUBE_IPVS_BIN=${KUBE_IPVS_BIN:-$scratch_abs/debug/kube-ipvs}
case $manifest in /*) ;; *) manifest=$repo/$manifest ;; esac
export KUBE_IPVS_VM_MANIFEST=$manifest

say() { echo "vm: $*"; }
npass=0 nfail=0 nskip=0
summary() {
    echo "vm: $npass passed, $nfail failed, $nskip skipped"
    [ "$nfail" = 0 ]
    exit $?
}
# record LINE: count and echo one result line.
record() {
    case $1 in
        PASS\ *) npass=$((npass + 1)) ;;
        FAIL\ *) nfail=$((nfail + 1)) ;;
        SKIP\ *) nskip=$((nskip + 1)) ;;
    esac
    echo "  $1"
}

# ---------------------------------------------------------------- which tests
if [ ${#tests[@]} = 0 ]; then
    for f in "$here"/tests/[0-9]*.sh; do
        case $f in *.host.sh) continue ;; esac
        [ -f "$f" ] && tests+=("$f")
    done
fi
files=()
for t in "${tests[@]}"; do
    f=$t
    [ -f "$f" ] || f=$here/tests/$t
    [ -f "$f" ] || f=$here/tests/$t.sh
    [ -f "$f" ] || { echo "run.sh: no such test: $t" >&2; exit 2; }
    files+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
done
if [ ${#files[@]} = 0 ]; then
    say "no guest tests"
    summary
fi

# header FILE KEY: value of KEY in "# vm: KEY[=VALUE] ..." lines among the first 30
# ("1" for a bare KEY, nothing when absent). qemu=... takes the rest of its line.
header() {
    local tok
    tok=$(head -n 30 "$1" | grep -E '^# vm:' | sed 's/^# vm://' | tr ' \t' '\n\n' |
        grep -E "^$2(=|\$)" | head -n1)
    [ -n "$tok" ] || return 0
    case $tok in *=*) echo "${tok#*=}" ;; *) echo 1 ;; esac
}

needs_bin=$with_binary
for f in "${files[@]}"; do
    [ -n "$(header "$f" needs-binary)" ] && needs_bin=1
done

# ---------------------------------------------------------------- image and binary
command -v qemu-system-x86_64 >/dev/null || { echo "run.sh: qemu-system-x86_64 missing (scripts/install-deps.sh)" >&2; exit 1; }
img=$(bash "$here/build-image.sh") || { echo "run.sh: building the guest image failed" >&2; exit 1; }
kernel=$(echo "$img" | sed -n 's/^KERNEL=//p')
base=$(echo "$img" | sed -n 's/^BASE_INITRD=//p')

if [ "$needs_bin" = 1 ] && [ -z "$guest_bin" ]; then
    gscratch=${scratch%/}-guest
    say "building the guest binary (release, static Swift stdlib, $gscratch)"
    swift build -c release --static-swift-stdlib --scratch-path "$gscratch" --product kube-ipvs >"$cache/guest-build-${gscratch##*/}.log" 2>&1 || {
        tail -n 40 "$cache/guest-build-${gscratch##*/}.log" >&2
        echo "run.sh: building the guest binary failed (log: $cache/guest-build-${gscratch##*/}.log)" >&2
        exit 1
    }
    guest_bin=${scratch_abs%/}-guest/release/kube-ipvs
fi

mkdir -p "$cache/runs"
run=$(mktemp -d "$cache/runs/$(date +%Y%m%d-%H%M%S).XXXX")
# Forget failed or --keep runs after a day (others may be running right now: never touch
# recent ones).
find "$cache/runs" -mindepth 1 -maxdepth 1 -type d -mmin +1440 -exec rm -rf {} + 2>/dev/null

# ---------------------------------------------------------------- boots
# Consecutive tests share a boot; a test with "fresh-boot" or "qemu=" gets its own.
boots=() cur=""
for f in "${files[@]}"; do
    if [ -n "$(header "$f" fresh-boot)$(header "$f" qemu)" ]; then
        [ -n "$cur" ] && boots+=("$cur")
        boots+=("$f")
        cur=""
    else
        cur="${cur:+$cur }$f"
    fi
done
[ -n "$cur" ] && boots+=("$cur")

# overlay_add_bin SRC DEST ROOT: a binary plus the libraries ldd lists.
overlay_add_bin() {
    local src=$1 dst=$2 root=$3 lib
    mkdir -p "$root$(dirname "$dst")"
    cp "$src" "$root$dst"
    # Debug info is most of a static-stdlib Swift binary; the guest does not need it.
    strip "$root$dst" 2>/dev/null || true
    ldd "$src" 2>/dev/null | awk '/=> \// {print $3} /^[[:space:]]*\/lib/ {print $1}' | while read -r lib; do
        lib=${lib/#\/lib\//\/usr\/lib\/}; lib=${lib/#\/lib64\//\/usr\/lib64\/}
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

bootno=0
any_fail=0
for group in "${boots[@]}"; do
    bootno=$((bootno + 1))
    root=$run/boot-$bootno.root
    log=$run/boot-$bootno.log
    mkdir -p "$root/vm/tests" "$root/vm/lib" "$root/vm/data"
    cp "$here/guest/init" "$root/init"
    chmod +x "$root/init"
    cp "$here"/guest/lib/*.sh "$root/vm/lib/"
    [ -d examples ] && cp -r examples "$root/vm/examples"
    [ -f "$manifest" ] && cp "$manifest" "$root/vm/manifest.yaml"
    if [ -n "$guest_bin" ]; then
        [ -x "$guest_bin" ] || { echo "run.sh: guest binary $guest_bin missing" >&2; exit 1; }
        overlay_add_bin "$guest_bin" /usr/local/bin/kube-ipvs "$root"
    fi
    {
        echo "export KUBE_IPVS_VM_MANIFEST=/vm/manifest.yaml"
        echo "export KUBE_IPVS_VM_BOOT=$bootno"
    } >"$root/vm/env"
    : >"$root/vm/plan"
    total_tmo=0 planned=() qemu_extra=()
    for f in $group; do
        b=$(basename "$f")
        name=${b%.sh}
        tmo=$(header "$f" timeout); tmo=${tmo:-300}
        hook=${f%.sh}.host.sh
        mkdir -p "$root/vm/data/$name"
        if [ -f "$hook" ]; then
            if ! OUT=$root/vm/data/$name REPO=$repo bash "$hook" >"$run/$name.host.log" 2>&1; then
                rc=$?
                reason=$(grep -v '^[[:space:]]*$' "$run/$name.host.log" | tail -n 3 | tr '\n' ' ')
                if [ $rc = 77 ]; then
                    record "SKIP $name: ${reason:-host hook skipped}"
                else
                    record "FAIL $name: host preparation ($(basename "$hook")) failed: ${reason:-exit $rc}"
                    any_fail=1
                fi
                continue
            fi
        fi
        cp "$f" "$root/vm/tests/$b"
        echo "$b $tmo" >>"$root/vm/plan"
        planned+=("$name")
        total_tmo=$((total_tmo + tmo))
        # qemu=ARGS: the rest of the line, split like shell words (quotes allowed).
        q=$(head -n 30 "$f" | sed -n 's/^# vm:.*\bqemu=\(.*\)$/\1/p' | head -n1)
        [ -n "$q" ] && eval "qemu_extra+=($q)"
    done
    [ ${#planned[@]} = 0 ] && continue

    initrd=$run/boot-$bootno.initrd
    cp "$base" "$initrd"
    truncate -s %512 "$initrd"   # the next archive starts aligned; the kernel skips the zeros
    (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >>"$initrd"  # uncompressed: faster to unpack under TCG

    # shellcheck disable=SC2206
    extra=(${KUBE_IPVS_VM_QEMU_ARGS:-} "${qemu_extra[@]}")
    net=(-nic none)
    printf '%s\n' "${extra[@]}" | grep -Eq '^-(netdev|nic|net)$' && net=()
    limit=$((total_tmo + 180))
    say "boot $bootno: ${planned[*]}"
    start=$(date +%s)
    cmd=(qemu-system-x86_64 -accel tcg -cpu max -m "${KUBE_IPVS_VM_MEM:-1024}" -smp 1
        -kernel "$kernel" -initrd "$initrd"
        -append "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic"
        -display none -monitor none -serial "file:$log" -no-reboot "${net[@]}" "${extra[@]}")
    if [ "$verbose" = 1 ]; then
        : >"$log"
        tail -n +1 -f "$log" & tailpid=$!
        timeout "$limit" "${cmd[@]}" </dev/null 2>"$run/boot-$bootno.qemu.err"
        qrc=$?
        sleep 0.3; kill "$tailpid" 2>/dev/null; wait "$tailpid" 2>/dev/null
    else
        timeout "$limit" "${cmd[@]}" </dev/null 2>"$run/boot-$bootno.qemu.err"
        qrc=$?
    fi
    secs=$(( $(date +%s) - start ))
    tr -d '\r' <"$log" >"$log.txt" && mv "$log.txt" "$log"

    while IFS= read -r line; do record "$line"; done < <(grep -E '^(PASS|FAIL|SKIP) ' "$log")
    done_marker=0
    grep -q '^KUBE-IPVS-VM: DONE' "$log" && done_marker=1
    if grep -q '^FAIL ' "$log"; then any_fail=1; fi
    for name in "${planned[@]}"; do
        if ! grep -q "^KUBE-IPVS-VM: END $name " "$log"; then
            if [ $qrc = 124 ]; then
                record "FAIL $name: did not finish (QEMU killed after ${limit}s)"
            else
                record "FAIL $name: did not finish (guest stopped early, QEMU exit $qrc)"
            fi
            any_fail=1
        fi
    done
    if [ $done_marker = 0 ]; then
        say "boot $bootno: no completion marker after ${secs}s; last console lines:"
        tail -n 40 "$log" | sed 's/^/    | /'
        grep -v 'TCG doesn.t support' "$run/boot-$bootno.qemu.err" | sed 's/^/    qemu: /'
        any_fail=1
    fi
    # The guest's log for each failed test.
    for name in "${planned[@]}"; do
        if grep -Eq "^FAIL ($name|$name/.*)(:|$)" "$log"; then
            say "guest log of $name:"
            sed -n "/^KUBE-IPVS-VM: BEGIN $name\$/,/^KUBE-IPVS-VM: END $name /p" "$log" | sed 's/^/    | /'
        fi
    done
    say "boot $bootno: ${secs}s"
done

if [ "$any_fail" = 1 ] || [ "$keep" = 1 ]; then
    say "run directory (initrd, console logs): ${run#"$repo"/}"
else
    rm -rf "$run"
fi
summary
