# Helpers for guest test scripts (POSIX sh, busybox). Source with: . /vm/lib/testlib.sh
#
# Result protocol (read by Tests/vm/run.sh): a line starting with
#   PASS <name>            FAIL <name>: <reason>            SKIP <name>: <reason>
# A script may print several results (e.g. one per case); <name> is usually $VM_TEST or
# "$VM_TEST/<case>". Set by /init: VM_TEST (script name without .sh), VM_DATA (the
# directory holding what the script's host hook prepared; also the working directory).

VM_TEST=${VM_TEST:-$(basename "$0" .sh)}
VM_DATA=${VM_DATA:-.}
_vm_failures=""

vm_pass() { echo "PASS ${1:-$VM_TEST}"; }
vm_fail() { echo "FAIL ${2:-$VM_TEST}: $1"; }
vm_skip() { echo "SKIP ${2:-$VM_TEST}: $1"; }

# note_fail MESSAGE: record a failed check and keep going, so that one run reports all.
note_fail() {
    echo "  check failed: $1"
    if [ -z "$_vm_failures" ]; then _vm_failures=$1; else _vm_failures="$_vm_failures; $1"; fi
}

# finish [NAME]: print PASS, or FAIL with every recorded failure; exit accordingly.
finish() {
    if [ -z "$_vm_failures" ]; then vm_pass "$1"; exit 0; fi
    vm_fail "$_vm_failures" "$1"
    exit 1
}

# die MESSAGE: fail now (setup errors).
die() { vm_fail "$1"; exit 1; }

# expect_line FILE LINE WHAT: FILE must contain LINE exactly (as a whole line).
expect_line() {
    if grep -qxF -- "$2" "$1"; then
        echo "  ok: $3"
    else
        note_fail "$3: no line '$2'"
    fi
}

# expect_match FILE REGEX WHAT: some line of FILE matches the extended REGEX.
expect_match() {
    if grep -qE -- "$2" "$1"; then
        echo "  ok: $3"
    else
        note_fail "$3: nothing matches /$2/"
    fi
}

# show TITLE FILE: print a file indented, for the log.
show() {
    echo "  --- $1"
    sed 's/^/  | /' "$2"
}

# fetch URL [SECONDS]: body of an HTTP GET, empty on error (default limit 5 s).
# (Debian's static busybox wget crashes on its own -T option, hence timeout(1).)
fetch() { timeout "${2:-5}" wget -q -O - "$1" 2>/dev/null; }

# user_net_up: the guest's link to QEMU's user network (a test whose qemu= line adds a
# virtio-net device): eth0 up with 10.0.2.15/24, so that 10.0.2.100 (guestfwd) is reachable.
# virtio_pci is the transport: without it virtio_net finds no device.
user_net_up() {
    modprobe virtio_pci 2>/dev/null
    modprobe virtio_net 2>/dev/null
    _i=0
    while ! ip link show eth0 >/dev/null 2>&1 && [ $_i -lt 50 ]; do sleep 0.2; _i=$((_i + 1)); done
    ip link set eth0 up || die "no eth0 after modprobe virtio_pci virtio_net: $(ip -o link | cut -d: -f2 | tr '\n' ' ')"
    ip addr add 10.0.2.15/24 dev eth0 || die "ip addr add 10.0.2.15/24 dev eth0 failed"
}
