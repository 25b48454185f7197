#!/usr/bin/env bash
# Start a throwaway Kubernetes control plane on the host's loopback: Debian's etcd and the
# kube-apiserver built by build.sh (called first; instant when cached). Nothing listens on any
# address but 127.0.0.1.
#
#   Tests/apiserver/start.sh          # state in $KUBE_IPVS_APISERVER_STATE (default /tmp/kube-ipvs-apiserver)
#   Tests/apiserver/stop.sh           # kill both, delete the state
#
# Environment:
#   KUBE_IPVS_APISERVER_STATE  state directory (default /tmp/kube-ipvs-apiserver)
#   KUBE_IPVS_APISERVER_PORT   the secure port (default 6443; when 6443 is taken and this is unset,
#                              a free port is used and the guest's forward must name it)
#
# What it writes into the state directory (all paths also in $STATE/env, a shell file):
#   kubeconfig              admin (system:masters), server https://127.0.0.1:PORT, for the host
#   kubeconfig-guest        the same for the QEMU guest: server https://10.0.2.100:6443
#   kubeconfig-proxy        user system:kube-proxy (kube-proxy's own RBAC: system:node-proxier)
#   kubeconfig-proxy-guest  the same for the guest
#   ca.crt  token  proxy-token   the CA that signed the serving cert; the bearer tokens
#   qemu-netdev             the QEMU -netdev value that forwards guest 10.0.2.100:6443 here
#   pki/ etcd/ logs/{etcd,kube-apiserver}.log  etcd.pid  kube-apiserver.pid
# The serving certificate is valid for 127.0.0.1, 10.0.2.100 (the guest's forward), 10.254.0.1
# (the `kubernetes` Service) and the kubernetes.default.svc names. The API server advertises
# 10.0.2.100, so Endpoints default/kubernetes is 10.0.2.100:PORT, which is the API server from
# inside the guest.
# Exit status: 0 running (or already running); 77 cannot run here (not root, no build); 1 failed.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${KUBE_IPVS_APISERVER_CACHE:-$repo/.cache/apiserver}
state=${KUBE_IPVS_APISERVER_STATE:-/tmp/kube-ipvs-apiserver}
guest_ip=10.0.2.100 guest_port=6443
service_range=10.254.0.0/16 service_ip=10.254.0.1
log() { echo "apiserver-start: $*" >&2; }
t0=$(date +%s.%N)

# A previous instance in the same state directory: reuse it if it answers, else clean it up.
if [ -f "$state/env" ]; then
    # shellcheck disable=SC1091
    . "$state/env"
    if kill -0 "$KUBE_IPVS_APISERVER_PID" 2>/dev/null &&
       curl -sf --max-time 5 --cacert "$state/ca.crt" -H "Authorization: Bearer $KUBE_IPVS_APISERVER_TOKEN" \
            -o /dev/null "$KUBE_IPVS_APISERVER_URL/api/v1/namespaces/default"; then
        log "already running: $KUBE_IPVS_APISERVER_URL (state $state)"
        exit 0
    fi
    log "stale state in $state: stopping what is left"
    KUBE_IPVS_APISERVER_STATE=$state bash "$here/stop.sh" >&2 || true
fi

set +e
bash "$here/build.sh"
rc=$?
set -e
[ "$rc" = 0 ] || exit "$rc"
# shellcheck disable=SC1091
. "$cache/env"   # KUBE_APISERVER_BIN KUBECTL_BIN KUBE_PROXY_BIN ETCD_BIN KUBE_APISERVER_VERSION
# build.sh keeps kube-proxy next to kube-apiserver (an env file from an older build.sh lacks it).
KUBE_PROXY_BIN=${KUBE_PROXY_BIN:-$(dirname "$KUBE_APISERVER_BIN")/kube-proxy}

port_free() { ! ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -q .; }
free_port() { # first free port from $1 on, skipping those given after it
    local p=$1; shift
    while :; do
        local taken=0 q
        for q in "$@"; do [ "$p" = "$q" ] && taken=1; done
        [ "$taken" = 0 ] && port_free "$p" && { echo "$p"; return; }
        p=$((p + 1))
    done
}
if [ -n "${KUBE_IPVS_APISERVER_PORT:-}" ]; then
    port=$KUBE_IPVS_APISERVER_PORT
    port_free "$port" || { log "port $port is already in use"; exit 1; }
else
    port=$(free_port 6443)
    [ "$port" = 6443 ] || log "note: 6443 is in use; using $port (a guest test's forward must name TCP:127.0.0.1:$port)"
fi
etcd_port=$(free_port 23790 "$port")
peer_port=$(free_port $((etcd_port + 1)) "$port" "$etcd_port")

if [ -d "$state" ] && [ -n "$(ls -A "$state")" ] && [ ! -f "$state/.kube-ipvs-apiserver" ]; then
    log "refusing to use $state: not empty and not made by start.sh"; exit 1
fi
rm -rf "$state"
mkdir -p "$state/pki" "$state/logs" "$state/etcd"
chmod 700 "$state"
touch "$state/.kube-ipvs-apiserver"
cd "$state"

# --- PKI: a CA, a serving cert for every address a client uses, service-account keys ---------
(
    cd pki
    openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 -keyout ca.key -out ca.crt \
        -subj "/CN=kube-ipvs-test-ca" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -nodes -newkey rsa:2048 -keyout apiserver.key -out apiserver.csr \
        -subj "/CN=kube-apiserver" 2>/dev/null
    cat >apiserver.ext <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$guest_ip,IP:$service_ip,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
        -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)
cp pki/ca.crt ca.crt
token=$(openssl rand -hex 24)
proxy_token=$(openssl rand -hex 24)
echo "$token" >token
echo "$proxy_token" >proxy-token
cat >pki/tokens.csv <<EOF
$token,admin,admin,"system:masters"
$proxy_token,system:kube-proxy,kube-proxy
EOF
chmod 600 token proxy-token pki/*.key pki/tokens.csv

# --- etcd ----------------------------------------------------------------------------------------
setsid "$ETCD_BIN" --name kube-ipvs-test --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "kube-ipvs-test=http://127.0.0.1:$peer_port" \
    </dev/null >logs/etcd.log 2>&1 &
echo $! >etcd.pid

fail() {
    log "FAILED: $*"
    for f in logs/etcd.log logs/kube-apiserver.log; do
        [ -f "$f" ] && { echo "--- last lines of $state/$f" >&2; tail -n 25 "$f" >&2; }
    done
    KUBE_IPVS_APISERVER_STATE=$state KUBE_IPVS_APISERVER_KEEP=1 bash "$here/stop.sh" >&2 || true
    exit 1
}
for _ in $(seq 1 120); do
    curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health" 2>/dev/null | grep -q '"health":"true"' && break
    kill -0 "$(cat etcd.pid)" 2>/dev/null || fail "etcd exited"
    sleep 0.5
done
curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"' || fail "etcd not healthy after 60 s"
t_etcd=$(date +%s.%N)

# --- kube-apiserver ----------------------------------------------------------------------------
# --allow-privileged: as on every cluster that runs kube-proxy (kubeadm sets it); deploy/'s
# DaemonSet has a privileged init container, which the server refuses otherwise.
setsid "$KUBE_APISERVER_BIN" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --secure-port="$port" --insecure-port=0 \
    --advertise-address="$guest_ip" \
    --tls-cert-file="$state/pki/apiserver.crt" --tls-private-key-file="$state/pki/apiserver.key" \
    --client-ca-file="$state/pki/ca.crt" --cert-dir="$state/pki/generated" \
    --service-cluster-ip-range="$service_range" \
    --service-account-key-file="$state/pki/sa.pub" \
    --service-account-signing-key-file="$state/pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc \
    --authorization-mode=RBAC --token-auth-file="$state/pki/tokens.csv" \
    --allow-privileged=true \
    --profiling=false \
    </dev/null >logs/kube-apiserver.log 2>&1 &
echo $! >kube-apiserver.pid

get() { # PATH -> HTTP status with the admin token
    curl -s --max-time 5 -o /dev/null -w '%{http_code}' --cacert ca.crt \
        -H "Authorization: Bearer $token" "https://127.0.0.1:$port$1" 2>/dev/null || true
}
ready=0
for _ in $(seq 1 360); do
    if [ "$(get /readyz)" = 200 ] && [ "$(get /api/v1/namespaces/default)" = 200 ]; then ready=1; break; fi
    kill -0 "$(cat kube-apiserver.pid)" 2>/dev/null || fail "kube-apiserver exited"
    sleep 0.5
done
[ "$ready" = 1 ] || fail "kube-apiserver not ready after 180 s"
t_ready=$(date +%s.%N)

# --- kubeconfigs and the env file --------------------------------------------------------------
ca_data=$(base64 -w0 ca.crt)
kubeconfig() { # FILE SERVER USER TOKEN
    cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kube-ipvs-test
  cluster:
    server: $2
    certificate-authority-data: $ca_data
users:
- name: $3
  user:
    token: $4
contexts:
- name: $3@kube-ipvs-test
  context:
    cluster: kube-ipvs-test
    user: $3
current-context: $3@kube-ipvs-test
preferences: {}
EOF
    chmod 600 "$1"
}
url=https://127.0.0.1:$port
guest_url=https://$guest_ip:$guest_port
kubeconfig kubeconfig "$url" admin "$token"
kubeconfig kubeconfig-guest "$guest_url" admin "$token"
kubeconfig kubeconfig-proxy "$url" system:kube-proxy "$proxy_token"
kubeconfig kubeconfig-proxy-guest "$guest_url" system:kube-proxy "$proxy_token"
netdev="user,id=n0,restrict=on,guestfwd=tcp:$guest_ip:$guest_port-cmd:socat - TCP:127.0.0.1:$port"
echo "$netdev" >qemu-netdev

cat >env.tmp <<EOF
# Written by Tests/apiserver/start.sh: source it (. $state/env).
KUBE_IPVS_APISERVER_STATE='$state'
KUBE_IPVS_APISERVER_URL='$url'
KUBE_IPVS_APISERVER_PORT='$port'
KUBE_IPVS_APISERVER_GUEST_URL='$guest_url'
KUBE_IPVS_APISERVER_CA='$state/ca.crt'
KUBE_IPVS_APISERVER_TOKEN='$token'
KUBE_IPVS_APISERVER_PROXY_TOKEN='$proxy_token'
KUBE_IPVS_KUBECONFIG='$state/kubeconfig'
KUBE_IPVS_GUEST_KUBECONFIG='$state/kubeconfig-guest'
KUBE_IPVS_PROXY_KUBECONFIG='$state/kubeconfig-proxy'
KUBE_IPVS_PROXY_GUEST_KUBECONFIG='$state/kubeconfig-proxy-guest'
KUBE_IPVS_QEMU_NETDEV='$netdev'
KUBE_IPVS_ETCD_URL='http://127.0.0.1:$etcd_port'
KUBE_IPVS_APISERVER_VERSION='$KUBE_APISERVER_VERSION'
KUBE_IPVS_APISERVER_PID='$(cat kube-apiserver.pid)'
KUBE_IPVS_ETCD_PID='$(cat etcd.pid)'
KUBECTL='$KUBECTL_BIN'
KUBE_PROXY_BIN='$KUBE_PROXY_BIN'
EOF
mv env.tmp env

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
log "etcd ready in $(secs "$t0" "$t_etcd") s, kube-apiserver ready in $(secs "$t_etcd" "$t_ready") s"
log "running: $url (guest: $guest_url); . $state/env; KUBECONFIG=$state/kubeconfig"
