#!/usr/bin/env bash
# Host side of 10-web-service-dry-run: render the manifest's dry-run script with the host
# build of kube-ipvs (the guest runs it). Env from Tests/vm/run.sh: OUT, KUBE_IPVS_BIN,
# KUBE_IPVS_VM_MANIFEST. Extra sync flags: KUBE_IPVS_VM_DRY_RUN_ARGS (default: the seed's pod
# network, --cluster-cidr 10.244.0.0/16). KUBE_IPVS_VM_DRY_RUN, if set, is a ready script
# used instead (for debugging the guest side).
set -euo pipefail
cp "$KUBE_IPVS_VM_MANIFEST" "$OUT/manifest.yaml"
if [ -n "${KUBE_IPVS_VM_DRY_RUN:-}" ]; then
    cp "$KUBE_IPVS_VM_DRY_RUN" "$OUT/dry-run.sh"
    exit 0
fi
[ -x "$KUBE_IPVS_BIN" ] || { echo "no host binary $KUBE_IPVS_BIN (swift build --scratch-path ...)"; exit 1; }
# shellcheck disable=SC2086
"$KUBE_IPVS_BIN" sync --dry-run -f "$KUBE_IPVS_VM_MANIFEST" ${KUBE_IPVS_VM_DRY_RUN_ARGS---cluster-cidr 10.244.0.0/16} >"$OUT/dry-run.sh"
[ -s "$OUT/dry-run.sh" ] || { echo "kube-ipvs sync --dry-run printed nothing"; exit 1; }
