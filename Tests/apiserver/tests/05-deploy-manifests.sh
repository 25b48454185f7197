#!/usr/bin/env bash
# deploy/ against a real kube-apiserver (1.20) and against kube-ipvs itself:
#   1. every manifest, and the kustomization, accepted by `kubectl apply --dry-run=server`;
#   2. the ServiceAccount, ClusterRole and ClusterRoleBinding created for real, and the account's
#      rights checked with `kubectl auth can-i --as=system:serviceaccount:kube-system:kube-ipvs`:
#      what the daemon needs is allowed, the rest (secrets, writes to Services and Nodes) denied;
#   3. the ConfigMap's KubeProxyConfiguration, as the server returned it, accepted by
#      `kube-ipvs sync --dry-run --config` (nothing on stderr: an unknown field would be a warning there);
#   4. the DaemonSet's command, as the server returned it ($(NODE_NAME) expanded), run with
#      --dry-run against this API server with a token of the kube-ipvs service account (so with
#      deploy/'s ClusterRole only, EndpointSlices found through discovery): it must start and sync;
#      the init container's command (`kube-ipvs run --init-only`) run with --dry-run: it prepares
#      exactly the modules and sysctls of the daemon's plan, plus the conntrack tuning;
#   5. deploy/Containerfile against `ldd` of the release build (Tests/deploy/containerfile-libs.sh),
#      when a release build is at hand (the guest tier's; the image itself is never built here).
set -uo pipefail
: "${KUBECTL:?run me through Tests/apiserver/run.sh}" "${KUBE_IPVS_APISERVER_URL:?}"
cd "${REPO:-.}"
. Tests/apiserver/lib/checks.sh
host_kube_ipvs
d=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    k delete -f deploy/clusterrolebinding.yaml -f deploy/clusterrole.yaml -f deploy/serviceaccount.yaml --ignore-not-found >/dev/null 2>&1
    k delete service web-service --ignore-not-found >/dev/null 2>&1
    k delete endpointslices.v1beta1.discovery.k8s.io -l kubernetes.io/service-name=web-service >/dev/null 2>&1
    rm -rf "$d"
}
trap cleanup EXIT

# 1. Server-side dry runs: schema, defaulting and admission of the real API server.
for f in deploy/serviceaccount.yaml deploy/clusterrole.yaml deploy/clusterrolebinding.yaml deploy/configmap.yaml deploy/daemonset.yaml; do
    if out=$(k apply --dry-run=server -f "$f" 2>&1); then ok "apply --dry-run=server -f $f: $out"
    else bad "apply --dry-run=server -f $f: $out"; fi
done
if out=$(k apply --dry-run=server -k deploy 2>&1); then
    expect "apply --dry-run=server -k deploy: objects" 5 "$(printf '%s\n' "$out" | grep -c '(server dry run)')"
else bad "apply --dry-run=server -k deploy: $out"; fi
# What the server made of the DaemonSet and the ConfigMap (defaults filled in).
k apply --dry-run=server -f deploy/daemonset.yaml -o json >"$d/ds.json" 2>"$d/err" || bad "daemonset -o json: $(cat "$d/err")"
k apply --dry-run=server -f deploy/configmap.yaml -o json >"$d/cm.json" 2>"$d/err" || bad "configmap -o json: $(cat "$d/err")"
python3 - "$d" <<'PY' || bad "reading the server's DaemonSet/ConfigMap failed"
import json, sys
d = sys.argv[1]
ds = json.load(open(d + "/ds.json")); cm = json.load(open(d + "/cm.json"))
open(d + "/config.yaml", "w").write(cm["data"]["config.yaml"])
spec = ds["spec"]["template"]["spec"]
c = spec["containers"][0]
open(d + "/command", "w").write("\n".join(c["command"] + c.get("args", [])) + "\n")
open(d + "/init-command", "w").write("\n".join(spec["initContainers"][0]["command"]) + "\n")
sc = c["securityContext"]
facts = {
    "hostNetwork": spec.get("hostNetwork"), "dnsPolicy": spec.get("dnsPolicy"),
    "priorityClassName": spec.get("priorityClassName"),
    "tolerations": spec.get("tolerations"),
    "privileged": sc.get("privileged"), "capabilities.add": sorted(sc["capabilities"]["add"]),
    "capabilities.drop": sc["capabilities"]["drop"],
    "init privileged": spec["initContainers"][0]["securityContext"].get("privileged"),
    "liveness": "%s:%s" % (c["livenessProbe"]["httpGet"]["path"], c["livenessProbe"]["httpGet"]["port"]),
    "updateStrategy": "%s maxUnavailable=%s" % (ds["spec"]["updateStrategy"]["type"], ds["spec"]["updateStrategy"]["rollingUpdate"]["maxUnavailable"]),
    "limits.memory": c["resources"]["limits"].get("memory"), "requests.cpu": c["resources"]["requests"].get("cpu"),
}
mounts = {m["mountPath"]: m.get("readOnly", False) for m in c["volumeMounts"]}
vols = {v["name"]: v for v in spec["volumes"]}
facts["/lib/modules read-only"] = mounts.get("/lib/modules")
facts["xtables lock"] = [v["hostPath"] for v in spec["volumes"] if v.get("hostPath", {}).get("path") == "/run/xtables.lock"]
facts["node lock"] = [v["hostPath"] for v in spec["volumes"] if v.get("hostPath", {}).get("path") == "/run/kube-ipvs.lock"]
facts["node lock mounted"] = "/run/kube-ipvs.lock" in mounts and not mounts["/run/kube-ipvs.lock"]
facts["env"] = sorted(e["name"] for e in c["env"])
with open(d + "/facts", "w") as f:
    for k, v in facts.items(): f.write("%s=%s\n" % (k, json.dumps(v, sort_keys=True)))
PY
fact() { sed -n "s/^$1=//p" "$d/facts"; }
expect "hostNetwork" true "$(fact hostNetwork)"
expect "dnsPolicy" '"Default"' "$(fact dnsPolicy)"
expect "priorityClassName" '"system-node-critical"' "$(fact priorityClassName)"
expect "tolerations" '[{"operator": "Exists"}]' "$(fact tolerations)"
expect "daemon not privileged" false "$(fact privileged)"
expect "capabilities added" '["NET_ADMIN", "NET_RAW", "SYS_MODULE", "SYS_RESOURCE"]' "$(fact capabilities.add)"
expect "capabilities dropped" '["ALL"]' "$(fact capabilities.drop)"
expect "init container privileged" true "$(fact 'init privileged')"
expect "liveness probe" '"/livez:10256"' "$(fact liveness)"
expect "updateStrategy" '"RollingUpdate maxUnavailable=1"' "$(fact updateStrategy)"
expect "/lib/modules read-only" true "$(fact '\/lib\/modules read-only')"
expect "xtables lock hostPath" '[{"path": "/run/xtables.lock", "type": "FileOrCreate"}]' "$(fact 'xtables lock')"
expect "node lock hostPath" '[{"path": "/run/kube-ipvs.lock", "type": "FileOrCreate"}]' "$(fact 'node lock')"
expect "node lock mounted read-write" true "$(fact 'node lock mounted')"
expect "env" '["KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "NODE_NAME"]' "$(fact env)"
expect "memory limit" '"512Mi"' "$(fact limits.memory)"

# 2. RBAC for real: create, then ask the authorizer as the service account.
if out=$(k apply -f deploy/serviceaccount.yaml -f deploy/clusterrole.yaml -f deploy/clusterrolebinding.yaml 2>&1); then
    ok "created: $(echo $out)"
else bad "kubectl apply (RBAC): $out"; fi
sa=system:serviceaccount:kube-system:kube-ipvs
can() { k auth can-i --as="$sa" "$@" 2>/dev/null; }
for vr in "get services" "list services" "watch services" \
          "get endpointslices.discovery.k8s.io" "list endpointslices.discovery.k8s.io" "watch endpointslices.discovery.k8s.io" \
          "list endpoints" "watch endpoints" "get nodes" "list nodes" "watch nodes" \
          "create events" "patch events" "create events.events.k8s.io" "patch events.events.k8s.io"; do
    # shellcheck disable=SC2086
    expect "$sa can $vr" yes "$(can $vr --all-namespaces)"
done
for vr in "get secrets" "list secrets" "get configmaps" "delete services" "create services" "update services" \
          "patch services" "update nodes" "patch nodes" "delete nodes" "update endpointslices.discovery.k8s.io" \
          "create endpoints" "delete events" "create pods" "get pods"; do
    # shellcheck disable=SC2086
    expect "$sa cannot $vr" no "$(can $vr --all-namespaces)"
done

# 3. The ConfigMap's configuration, accepted by kube-ipvs.
if out=$("$bin" sync --dry-run --config "$d/config.yaml" -f examples/web-service.yaml 2>&1 >"$d/plan"); then
    ok "kube-ipvs sync --dry-run --config <the ConfigMap's config.yaml>: accepted"
    grep -q -- '-A -t 10.254.10.128:80 -s rr' "$d/plan" && ok "the plan has the seed's virtual server" || bad "no seed virtual server in the plan"
else bad "kube-ipvs rejects the ConfigMap's config.yaml: $out"; fi
[ -z "$out" ] || bad "kube-ipvs sync printed on stderr: $out"

# kubeadm's kube-proxy config.conf (mode ipvs), as docs/migration.md says: loads unchanged.
if out=$("$bin" sync --dry-run --config Tests/deploy/kubeadm-kube-proxy-config.conf -f examples/web-service.yaml 2>&1 >"$d/plan2"); then
    grep -q 'arp_ignore=1' "$d/plan2" && ok "kubeadm's kube-proxy config.conf accepted (strictARP honoured)" || bad "kubeadm config: strictARP not in the plan"
else bad "kubeadm's kube-proxy config.conf rejected: $out"; fi

# 4. The DaemonSet's command, with the server's view of it: run it (dry-run, as the service
#    account, on free loopback ports) and see it sync.
mapfile -t cmd <"$d/command"
expect "DaemonSet command" "kube-ipvs run --config /etc/kube-ipvs/config.yaml --hostname-override=\$(NODE_NAME)" "${cmd[*]}"
[ "${cmd[0]}" = kube-ipvs ] || bad "the command does not start with kube-ipvs"
args=()
for a in "${cmd[@]:1}"; do
    a=${a//\$(NODE_NAME)/node1}
    [ "$a" = /etc/kube-ipvs/config.yaml ] && a=$d/config.yaml
    args+=("$a")
done
free_port() { p=$1; while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done; echo "$p"; }
hport=$(free_port 32256); mport=$(free_port $((hport + 1)))
# A kubeconfig for the service account itself: a bound token from the TokenRequest API (no
# controller manager runs here, so no token Secret would ever be filled in).
token=$(curl -s --max-time 30 --cacert "$KUBE_IPVS_APISERVER_CA" -H "Authorization: Bearer $KUBE_IPVS_APISERVER_TOKEN" \
    -H 'Content-Type: application/json' -X POST \
    -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":3600}}' \
    "$KUBE_IPVS_APISERVER_URL/api/v1/namespaces/kube-system/serviceaccounts/kube-ipvs/token" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["status"]["token"])' 2>/dev/null)
kc=$d/kubeconfig
if [ -n "$token" ]; then
    cat >"$kc" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "$KUBE_IPVS_APISERVER_URL", certificate-authority: "$KUBE_IPVS_APISERVER_CA"}
users:
- name: kube-ipvs
  user: {token: "$token"}
contexts:
- name: kube-ipvs
  context: {cluster: test, user: kube-ipvs}
current-context: kube-ipvs
KC
    expect "whoami through the token" yes "$(k --kubeconfig "$kc" auth can-i watch endpointslices.discovery.k8s.io --all-namespaces 2>&1)"
    expect "the token is the service account's" no "$(k --kubeconfig "$kc" auth can-i get secrets --all-namespaces 2>&1)"
else
    bad "no token for the service account from the TokenRequest API"
    kc=$KUBE_IPVS_PROXY_KUBECONFIG
fi
# The seed as a Service + a v1beta1 EndpointSlice (1.20 has no v1): the daemon's default source.
sed 's#discovery.k8s.io/v1$#discovery.k8s.io/v1beta1#' examples/web-service-endpointslice.yaml >"$d/seed.yaml"
k apply -f "$d/seed.yaml" >/dev/null || bad "kubectl apply the seed (Service + EndpointSlice)"
"$bin" "${args[@]}" --dry-run --kubeconfig "$kc" \
    --healthz-bind-address "127.0.0.1:$hport" --metrics-bind-address "127.0.0.1:$mport" >"$d/out" 2>"$d/err" &
pid=$!
for _ in $(seq 1 150); do grep -q "first sync: applied" "$d/err" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if grep -q "first sync: applied" "$d/err"; then
    ok "the DaemonSet's command (${args[*]} --dry-run ...) started and synced"
    grep -q -- '-A -t 10.254.10.128:80 -s rr' "$d/out" && ok "its first sync programs the seed" || bad "its first sync has no seed virtual server"
    grep -q "watching EndpointSlices as discovery.k8s.io/v1beta1" "$d/err" && ok "EndpointSlices watched as v1beta1 with the ClusterRole" || bad "no v1beta1 EndpointSlice watch: $(grep -i endpointslice "$d/err" | head -n 3)"
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/livez")
    expect "/livez (the liveness probe's path)" 200 "$code"
else
    bad "the DaemonSet's command did not sync within 15 s: $(tail -n 20 "$d/err")"
fi
kill -TERM "$pid" 2>/dev/null; wait "$pid"; rc=$?; pid=
expect "exit status after SIGTERM" 0 "$rc"
grep -qi "forbidden" "$d/err" && bad "the daemon was refused something: $(grep -i forbidden "$d/err" | head -n 3)"

# The init container's command with --dry-run: the modules and sysctls it prepares are exactly
# those of the daemon's plan for this configuration, and it adds the conntrack tuning.
mapfile -t icmd <"$d/init-command"
expect "init container command" "kube-ipvs run --init-only --config /etc/kube-ipvs/config.yaml --hostname-override=\$(NODE_NAME)" "${icmd[*]}"
iargs=("${icmd[@]:1}"); iargs=("${iargs[@]/\/etc\/kube-ipvs\/config.yaml/$d/config.yaml}"); iargs=("${iargs[@]//\$(NODE_NAME)/node1}")
if out=$("$bin" "${iargs[@]}" --dry-run 2>&1); then
    prepared=$(printf '%s\n' "$out" | grep -E '^(modprobe|sysctl -w net\.ipv[46]\.)' | sort)
    planned=$("$bin" sync --dry-run --config "$d/config.yaml" -f examples/web-service.yaml | grep -E '^(modprobe|sysctl -w net\.ipv[46]\.)' | sort)
    expect "modules and sysctls of --init-only = the daemon's plan" "$(echo $planned)" "$(echo $prepared)"
    printf '%s\n' "$out" | grep -q '^sysctl -w net.netfilter.nf_conntrack_max=' && ok "--init-only sizes the conntrack table" ||
        bad "--init-only --dry-run has no nf_conntrack_max line: $out"
else bad "run --init-only --dry-run: $out"; fi

# 5. The Containerfile against the release binary, when one is built.
rel=${KUBE_IPVS_RELEASE_BIN:-${KUBE_IPVS_GUEST_BIN:-${KUBE_IPVS_SCRATCH:-.build}-guest/release/kube-ipvs}}
if [ -x "$rel" ]; then
    if out=$(bash Tests/deploy/containerfile-libs.sh "$rel" 2>&1); then ok "Tests/deploy/containerfile-libs.sh $rel: $(printf '%s\n' "$out" | tail -n 1)"
    else printf '%s\n' "$out" | grep FAIL; bad "Tests/deploy/containerfile-libs.sh"; fi
else
    echo "note: no release build at $rel: Containerfile check not run here (run Tests/deploy/containerfile-libs.sh)"
fi

checks_done
echo "deploy/: accepted by the API server, RBAC as intended, config and command accepted by kube-ipvs"
