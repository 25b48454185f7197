#!/usr/bin/env python3
"""Manifests for the benchmarks of issue 7 (docs/benchmarks.md): N ClusterIP Services x M endpoints.

The same shape as kube-ipvs-bench's synthetic cluster: Service `svc-I` in namespace `bench-(I % 50)`,
one TCP port 80 named http, cluster IP 10.254.0.0/16 + I + 257 (10.254.1.1 upwards, inside the test
API server's Service range and clear of its 10.254.0.1), and one EndpointSlice with M ready
endpoints on 10.244.0.0/16 (port 8080). Prints YAML documents on stdout.

    bench-manifests.py N M [--api discovery.k8s.io/v1|discovery.k8s.io/v1beta1] [--namespaces]
      --namespaces   also print the 50 Namespace objects first (for an API server)
      --json         one JSON List (as `kubectl get -o json` prints) instead of YAML documents
      --from K --to L      only Services K..L-1 (default 0..N-1), to create them in parts
      --endpoint-ip I=IP   print only Service I's EndpointSlice, its first endpoint replaced by
                           IP (a one-endpoint change)
"""
import json
import sys


def ip(base, n):
    return "%d.%d.%d.%d" % (base[0], base[1], (n >> 8) & 255, n & 255)


def service(i):
    return (
        "apiVersion: v1\nkind: Service\n"
        "metadata: {name: svc-%d, namespace: bench-%d}\n"
        "spec:\n  type: ClusterIP\n  clusterIP: %s\n  clusterIPs: [%s]\n"
        "  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]\n"
    ) % (i, i % 50, ip((10, 254), i + 257), ip((10, 254), i + 257))


def slice_(i, m, api, first=None):
    eps = []
    for j in range(m):
        addr = first if (j == 0 and first) else ip((10, 244), (i * m + j) % 0xFFFF + 1)
        eps.append("  - addresses: [%s]\n    conditions: {ready: true}\n" % addr)
    return (
        "apiVersion: %s\nkind: EndpointSlice\n"
        "metadata:\n  name: svc-%d-bench\n  namespace: bench-%d\n"
        "  labels: {kubernetes.io/service-name: svc-%d, endpointslice.kubernetes.io/managed-by: bench}\n"
        "addressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n%s"
    ) % (api, i, i % 50, i, "".join(eps))


def service_obj(i):
    vip = ip((10, 254), i + 257)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc-%d" % i, "namespace": "bench-%d" % (i % 50)},
            "spec": {"type": "ClusterIP", "clusterIP": vip, "clusterIPs": [vip],
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}


def slice_obj(i, m, api):
    return {"apiVersion": api, "kind": "EndpointSlice",
            "metadata": {"name": "svc-%d-bench" % i, "namespace": "bench-%d" % (i % 50),
                         "labels": {"kubernetes.io/service-name": "svc-%d" % i, "endpointslice.kubernetes.io/managed-by": "bench"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip((10, 244), (i * m + j) % 0xFFFF + 1)], "conditions": {"ready": True}} for j in range(m)]}


def main(argv):
    args = argv[1:]
    api = "discovery.k8s.io/v1"
    namespaces = False
    as_json = False
    change = None
    first, last = 0, None
    pos = []
    while args:
        a = args.pop(0)
        if a == "--api":
            api = args.pop(0)
        elif a == "--json":
            as_json = True
        elif a == "--namespaces":
            namespaces = True
        elif a == "--from":
            first = int(args.pop(0))
        elif a == "--to":
            last = int(args.pop(0))
        elif a == "--endpoint-ip":
            k, v = args.pop(0).split("=", 1)
            change = (int(k), v)
        else:
            pos.append(int(a))
    if len(pos) != 2:
        sys.exit(__doc__)
    n, m = pos
    if n > 65000:
        sys.exit("at most 65000 Services (one /16 of cluster IPs)")
    out = sys.stdout
    if change:
        out.write(slice_(change[0], m, api, change[1]))
        return
    last = n if last is None else min(last, n)
    if as_json:
        items = []
        for i in range(first, last):
            items += [service_obj(i), slice_obj(i, m, api)]
        json.dump({"apiVersion": "v1", "kind": "List", "items": items}, out, separators=(",", ":"))
        out.write("\n")
        return
    docs = []
    if namespaces:
        docs += ["apiVersion: v1\nkind: Namespace\nmetadata: {name: bench-%d}\n" % k for k in range(min(n, 50))]
    for i in range(first, last):
        docs.append(service(i))
        docs.append(slice_(i, m, api))
    out.write("---\n".join(docs))


if __name__ == "__main__":
    main(sys.argv)
