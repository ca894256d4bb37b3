# Shared by every course-app script: talk to the key-value store over HTTP.
# KV_URL comes from the Pod's environment (the ConfigMap + the Pod's namespace), e.g.
# http://kv.course.svc.cluster.local:8080 - the kv Service's DNS name.
KV_URL="${KV_URL:-http://kv:8080}"

# busybox wget has no working timeout of its own: `timeout` bounds every request.
kv_get()  { timeout 5 wget -qO- "$KV_URL/cgi-bin/kv?$1" 2>/dev/null; }          # kv_get KEY
kv_put()  { timeout 5 wget -qO- --post-data "$2" "$KV_URL/cgi-bin/kv?$1" >/dev/null 2>&1; }  # kv_put KEY VALUE
kv_keys() { timeout 5 wget -qO- "$KV_URL/cgi-bin/kv" 2>/dev/null; }             # one key a line

# wait_for_kv SECONDS: until the store answers (it may start after us), or fail.
wait_for_kv() {
    tries=0
    until kv_keys >/dev/null; do
        tries=$((tries + 1))
        [ "$tries" -ge "$1" ] && { echo "kv store at $KV_URL not reachable" >&2; return 1; }
        sleep 1
    done
}

# reply STATUS TEXT: an HTTP answer from a CGI script (busybox httpd passes it on as is).
reply() {
    printf 'HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s\n' "$1" "$2"
    exit 0
}
