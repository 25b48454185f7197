#!/bin/sh
# Guest side of Tests/apiserver/tests/02-guest-reach.sh (a template: that test writes a copy with
# the API server's host port in the qemu= line and runs it with Tests/vm/run.sh).
# The guest reaches the API server on the host's loopback through QEMU's guestfwd at
# 10.0.2.100:6443: plain TCP answers (Go's TLS server says "Client sent an HTTP request to an
# HTTPS server"), then HTTPS with the guest kubeconfig's token reads the seed's Service, which the
# host hook created with kubectl.
# vm: timeout=300 qemu=-netdev 'user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:socat - TCP:127.0.0.1:@PORT@' -device virtio-net-pci,netdev=n0
. /vm/lib/testlib.sh

user_net_up
server=$(sed -n 's/^ *server: //p' kubeconfig-guest)
token=$(cat token)
[ "$server" = https://10.0.2.100:6443 ] || note_fail "guest kubeconfig server is '$server', expected https://10.0.2.100:6443"

# 1. TCP through the forward (plain HTTP to the TLS port: Go answers 400 in clear text).
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 30 nc 10.0.2.100 6443 >plain.txt 2>&1
show "plain HTTP to 10.0.2.100:6443" plain.txt
expect_match plain.txt 'HTTP request to an HTTPS server' "TCP 10.0.2.100:6443 reaches the API server"

# 2. HTTPS with the bearer token (busybox wget + ssl_client; it does not verify certificates:
#    the certificate's validity for 10.0.2.100 is checked on the host by 01-smoke).
timeout 120 wget -q -O svc.json --no-check-certificate --header "Authorization: Bearer $token" \
    https://10.0.2.100:6443/api/v1/namespaces/default/services/web-service >wget.txt 2>&1
show "GET /api/v1/namespaces/default/services/web-service" svc.json; echo
[ -s wget.txt ] && show "wget" wget.txt
expect_match svc.json '"clusterIP": ?"10.254.10.128"' "HTTPS GET of the seed's Service from the guest"
finish
