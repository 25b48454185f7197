#!/bin/sh
# One HTTP exchange of a small static Kubernetes API server; socat runs it for every connection it
# accepts (stdin/stdout are the connection, TLS already terminated by socat):
#   socat OPENSSL-LISTEN:6443,fork,cert=...,key=... SYSTEM:'sh /vm/lib/fake-api.sh'
# Serves from $FAKE_API_DIR: GET /apis/discovery.k8s.io (discovery.json), the lists
# /api/v1/services (services.json), /apis/discovery.k8s.io/v1/endpointslices (endpointslices.json)
# and /api/v1/nodes (nodes.json with @NODE@ replaced by the fieldSelector's metadata.name), and
# /version (version.json); anything else is 404. A watch (watch=true) is answered 200, stays silent
# for its timeoutSeconds and ends normally, as a real server's watch of objects that do not change.
# With $FAKE_API_TOKEN set, a request without "Authorization: Bearer $FAKE_API_TOKEN" gets 401.
# Every request is appended to $FAKE_API_DIR/requests.log: "METHOD PATH watch=W auth=SCHEME".
# Answers carry Connection: close, so every request comes on a connection of its own.
d=${FAKE_API_DIR:?FAKE_API_DIR is not set}
IFS= read -r line || exit 0
line=$(printf '%s' "$line" | tr -d '\r')
method=${line%% *}
target=${line#* }
target=${target%% *}
path=${target%%\?*}
query=""
case $target in *\?*) query=${target#*\?} ;; esac
scheme=none
credential=""
while IFS= read -r h; do
    h=$(printf '%s' "$h" | tr -d '\r')
    [ -z "$h" ] && break
    case $h in
        [Aa]uthorization:*)
            v=${h#*:}
            v=${v# }
            scheme=${v%% *}
            credential=${v#* }
            ;;
    esac
done

# param NAME: the query parameter NAME, with the escapes a selector uses decoded.
param() {
    printf '%s' "$query" | tr '&' '\n' | sed -n "s/^$1=//p" | head -n 1 |
        sed -e 's/%3[Dd]/=/g' -e 's/%2[Cc]/,/g' -e 's/%21/!/g' -e 's/%2[Ff]/\//g'
}
watch=$(param watch)
echo "$method $path watch=${watch:-false} auth=$scheme" >>"$d/requests.log"

# respond STATUS FILE: a complete answer with FILE as its body.
respond() {
    printf 'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n' \
        "$1" "$(wc -c <"$2" | tr -d ' ')"
    cat "$2"
}
status() { # CODE REASON
    f=$(mktemp)
    printf '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"%s","reason":"%s","code":%s}' \
        "$path: $2" "$2" "$1" >"$f"
    respond "$1 $2" "$f"
    rm -f "$f"
}

if [ -n "${FAKE_API_TOKEN:-}" ] && { [ "$scheme" != Bearer ] || [ "$credential" != "$FAKE_API_TOKEN" ]; }; then
    status 401 Unauthorized
    exit 0
fi
[ "$method" = GET ] || { status 405 MethodNotAllowed; exit 0; }

if [ "$watch" = true ] || [ "$watch" = 1 ]; then
    printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
    t=$(param timeoutSeconds)
    case $t in ''|*[!0-9]*) t=300 ;; esac
    sleep "$t"
    printf '0\r\n\r\n'
    exit 0
fi

case $path in
    /apis/discovery.k8s.io|/apis/discovery.k8s.io/) respond "200 OK" "$d/discovery.json" ;;
    /api/v1/services) respond "200 OK" "$d/services.json" ;;
    /apis/discovery.k8s.io/v1/endpointslices) respond "200 OK" "$d/endpointslices.json" ;;
    /version) respond "200 OK" "$d/version.json" ;;
    /api/v1/nodes)
        name=$(param fieldSelector)
        name=${name#metadata.name=}
        f=$(mktemp)
        sed "s/@NODE@/$name/g" "$d/nodes.json" >"$f"
        respond "200 OK" "$f"
        rm -f "$f"
        ;;
    *) status 404 NotFound ;;
esac
