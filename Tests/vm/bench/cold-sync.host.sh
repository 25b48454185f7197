#!/usr/bin/env bash
# Host side of the cold-sync benchmark (docs/benchmarks.md part (b)): the manifests of each size
# into $OUT (KUBE_IPVS_BENCH_SIZES, default "1000 10000"; 10 endpoints per Service), as one JSON List each
# (`kubectl get -o json` form; YAML is read about 4x slower, see docs/benchmarks.md).
set -euo pipefail
sizes=${KUBE_IPVS_BENCH_SIZES:-1000 10000}
echo "$sizes" >"$OUT/sizes"
for n in $sizes; do
    python3 "$REPO/scripts/bench-manifests.py" "$n" 10 --json >"$OUT/services-$n.json"
done
python3 "$REPO/scripts/bench-manifests.py" 1 10 --json >"$OUT/warm.json"
