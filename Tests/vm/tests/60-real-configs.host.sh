#!/usr/bin/env bash
# Host side of 60-real-configs: the fixtures (Tests/deploy/realconfigs) and a throwaway PKI for the
# fake API server: a CA, a server certificate for every address and name the fixtures' kubeconfigs
# use (127.0.0.1, the node address 192.168.50.1, api.internal.minimal.example.com), and a client
# certificate for CN system:kube-proxy. Env from Tests/vm/run.sh: OUT, REPO.
set -euo pipefail
command -v openssl >/dev/null || { echo "openssl is not installed (needed for the test PKI)"; exit 77; }
cp -r "$REPO/Tests/deploy/realconfigs" "$OUT/realconfigs"
p=$OUT/pki
mkdir -p "$p"
cd "$p"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key
openssl req -x509 -new -key ca.key -days 2 -subj "/CN=real-configs-test-ca" -out ca.crt \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
key server.key
openssl req -new -key server.key -subj "/CN=kube-apiserver" -out server.csr
printf 'subjectAltName=IP:127.0.0.1,IP:192.168.50.1,DNS:localhost,DNS:api.internal.minimal.example.com\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.crt 2>/dev/null
key client.key
openssl req -new -key client.key -subj "/CN=system:kube-proxy" -out client.csr
printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >client.ext
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.crt 2>/dev/null
rm -f ./*.csr ./*.ext ./*.srl
ls -l "$p"
