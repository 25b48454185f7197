#!/usr/bin/env bash
# Stop what Tests/apiserver/start.sh started (kube-apiserver, then etcd) and delete its state
# directory ($KUBE_IPVS_APISERVER_STATE, default /tmp/kube-ipvs-apiserver).
# Only the two recorded process ids are signalled, and only if they still run those programs.
#   KUBE_IPVS_APISERVER_KEEP=1  keep the state directory (logs) after stopping
set -uo pipefail
state=${KUBE_IPVS_APISERVER_STATE:-/tmp/kube-ipvs-apiserver}
log() { echo "apiserver-stop: $*" >&2; }
[ -d "$state" ] || { log "nothing to stop: no $state"; exit 0; }
[ -f "$state/.kube-ipvs-apiserver" ] || { log "$state was not made by start.sh: left alone"; exit 1; }

stop_pid() { # PIDFILE PROGRAM-NAME
    local f=$state/$1 pid
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    case $pid in ''|*[!0-9]*) return 0 ;; esac
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$2 ($pid) did not stop in 10 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        log "stopped $2 ($pid)"
    fi
    rm -f "$f"
}
stop_pid kube-apiserver.pid kube-apiserver
stop_pid etcd.pid etcd
if [ "${KUBE_IPVS_APISERVER_KEEP:-0}" = 1 ]; then
    rm -f "$state/env"
    log "state kept in $state"
else
    rm -rf "$state"
fi
