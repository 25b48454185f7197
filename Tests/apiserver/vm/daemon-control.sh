#!/usr/bin/env bash
# The host side of the daemon end-to-end test's control channel. QEMU's guestfwd runs this script
# for each connection the guest makes to 10.0.2.100:7000, with the connection as stdin/stdout: the
# guest sends one line (a verb and arguments), this script does it on the host and answers one
# line, "ok ..." or "error ...". It lets the guest test drive the API server while it watches
# its own kernel. Everything it does is logged to $D/control.log.
#   seed                 the seed's Service + Endpoints (pod-a, pod-b) and Node node1
#   endpoints IP...      the seed's Endpoints with these addresses
#   delete-service       delete Service default/web-service (and its Endpoints)
#   apiserver-stop       stop the API server the guest uses (etcd and the second API server stay)
#   via-second endpoints IP...   the same as endpoints, through the second API server
#   apiserver-start      start the guest's API server again with its own command line; wait ready
# D (this test's directory) and STATE (the API server's state directory) are written into the
# copy of this script that 03-daemon-e2e.sh makes.
D=@D@
STATE=@STATE@
set -uo pipefail
. "$STATE/env"
exec 2>>"$D/control.log"
read -r verb rest || exit 0
echo "$(date +%T.%N) <- $verb $rest" >&2
KC=("$KUBECTL" --kubeconfig "$KUBE_IPVS_KUBECONFIG")
answer() { echo "$(date +%T.%N) -> $*" >&2; echo "$*"; }

endpoints_yaml() {
    printf 'apiVersion: v1\nkind: Endpoints\nmetadata: {name: web-service, namespace: default}\nsubsets:\n- ports: [{port: 8080, protocol: TCP}]\n  addresses:\n'
    for ip in "$@"; do echo "  - ip: $ip"; done
}
wait_ready() { # URL-PORT
    for _ in $(seq 1 240); do
        code=$(curl -s --max-time 3 -o /dev/null -w '%{http_code}' --cacert "$STATE/ca.crt" \
            -H "Authorization: Bearer $(cat "$STATE/token")" "https://127.0.0.1:$1/readyz" 2>/dev/null || true)
        [ "$code" = 200 ] && return 0
        sleep 0.25
    done
    return 1
}

case $verb in
    seed)
        if "${KC[@]}" apply -f "$D/seed.yaml" >&2; then answer ok; else answer error kubectl apply seed; fi ;;
    endpoints)
        # shellcheck disable=SC2086
        if endpoints_yaml $rest | "${KC[@]}" apply -f - >&2; then answer ok; else answer error kubectl apply endpoints; fi ;;
    delete-service)
        # Answer as soon as the Service is gone (the guest times from the answer), then delete its
        # Endpoints as the endpoints controller would.
        if "${KC[@]}" delete service web-service >&2; then answer ok; else answer error kubectl delete; fi
        exec >&-
        "${KC[@]}" delete endpoints web-service --ignore-not-found >&2 ;;
    apiserver-stop)
        # SIGTERM, then SIGKILL after 3 s: kube-apiserver's graceful shutdown waits for its
        # long-running requests (the daemon's watches), which can take a minute.
        pid=$(cat "$STATE/kube-apiserver.pid")
        kill -TERM "$pid"
        for _ in $(seq 1 12); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        kill -KILL "$pid" 2>/dev/null
        for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        if kill -0 "$pid" 2>/dev/null; then answer error "kube-apiserver $pid still running"; else answer ok stopped "$pid"; fi ;;
    via-second)
        set -- $rest
        shift  # "endpoints"
        if endpoints_yaml "$@" | "$KUBECTL" --kubeconfig "$D/kubeconfig-second" apply -f - >&2; then
            answer ok
        else
            answer error kubectl apply through the second API server
        fi ;;
    apiserver-start)
        mapfile -d '' args <"$D/apiserver.cmdline"
        cd "$STATE" || exit 1
        setsid "${args[@]}" </dev/null >>"$STATE/logs/kube-apiserver.log" 2>&1 &
        echo $! >"$STATE/kube-apiserver.pid"
        sleep 0.2
        if wait_ready "$KUBE_IPVS_APISERVER_PORT"; then answer ok started "$(cat "$STATE/kube-apiserver.pid")"; else answer error not ready; fi ;;
    *)
        answer error unknown verb "$verb" ;;
esac
