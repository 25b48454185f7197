#!/usr/bin/env bash
# Decoding the initial lists (docs/benchmarks.md, part (f)): with the API server
# (KUBE_IPVS_APISERVER_STATE) holding N benchmark Services x 10 endpoints (objects.sh makes any
# missing), saves the full Service and EndpointSlice list bodies (no limit, one page each) once as
# JSON and once as protobuf (Accept: application/vnd.kubernetes.protobuf), and runs
# `kube-ipvs-bench --decode FILE...` on each pair, R times (default 3): the CPU (user + sys) of the
# whole process, minimum of the runs. Prints `BENCH decode format=F services=N bytes=B cpu_ms=C`
# per format and `BENCH decode-ratio json_over_protobuf=X`, or `BENCH decode available=no` when
# this kube-ipvs-bench has no --decode mode.
#   decode.sh BENCH_BINARY [N] [R]
set -uo pipefail
: "${KUBE_IPVS_APISERVER_STATE:?start an API server first (Tests/apiserver/start.sh)}"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
. "$KUBE_IPVS_APISERVER_STATE/env"
bench=${1:?usage: decode.sh BENCH_BINARY [N] [R]} n=${2:-10000} runs=${3:-3}
D=$KUBE_IPVS_APISERVER_STATE/decode
mkdir -p "$D"
bash "$repo/Tests/apiserver/bench/objects.sh" "$n" || exit 1
# The slices' group version the 1.20 server serves (v1 came with 1.21).
get() {  # get PATH ACCEPT FILE
    curl -sSf --max-time 600 --cacert "$KUBE_IPVS_APISERVER_CA" -H "Authorization: Bearer $KUBE_IPVS_APISERVER_TOKEN" \
        -H "Accept: $2" -o "$3" "$KUBE_IPVS_APISERVER_URL$1"
}
for f in json:application/json protobuf:application/vnd.kubernetes.protobuf; do
    ext=${f%%:*} accept=${f#*:}
    get /api/v1/services "$accept" "$D/services.$ext" &&
        get /apis/discovery.k8s.io/v1beta1/endpointslices "$accept" "$D/endpointslices.$ext" || { echo "decode: listing as $ext failed" >&2; exit 1; }
done
held=$(grep -o "\"name\": *\"svc-[0-9]*\"" "$D/services.json" | wc -l)
if ! grep -aq -- '--decode' "$bench" 2>/dev/null; then
    echo "BENCH decode available=no services=$held reason=kube-ipvs-bench_has_no_--decode_mode"
    exit 0
fi
declare -A cpu
for ext in json protobuf; do
    best=""
    for ((r = 0; r < runs; r++)); do
        TIMEFORMAT='%U %S'
        t=$( { time timeout 600 "$bench" --decode "$D/services.$ext" "$D/endpointslices.$ext" >"$D/out-$ext.txt" 2>&1; } 2>&1 ) || {
            echo "decode: kube-ipvs-bench --decode failed on the $ext lists:" >&2; tail -n 5 "$D/out-$ext.txt" >&2
            echo "BENCH decode available=no services=$held reason=kube-ipvs-bench_--decode_failed_on_$ext"; exit 0; }
        ms=$(echo "$t" | tail -n 1 | awk '{ printf "%.0f", ($1 + $2) * 1000 }')
        [ -z "$best" ] || [ "$ms" -lt "$best" ] && best=$ms
    done
    cpu[$ext]=$best
    bytes=$(( $(stat -c %s "$D/services.$ext") + $(stat -c %s "$D/endpointslices.$ext") ))
    echo "BENCH decode format=$ext services=$held bytes=$bytes cpu_ms=$best runs=$runs"
    sed "s/^/  $ext: /" "$D/out-$ext.txt" | head -n 20 >&2
done
echo "BENCH decode-ratio services=$held json_over_protobuf=$(awk -v a="${cpu[json]}" -v b="${cpu[protobuf]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
