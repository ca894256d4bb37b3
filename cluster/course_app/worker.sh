#!/bin/sh
# The worker: every $WORKER_INTERVAL seconds, count the notes and store the count as
# "notes-counted" (the web page's info shows it; `pykubectl logs` shows each round).
. /course/lib.sh
while true; do
    if keys="$(kv_keys)"; then
        count="$(echo "$keys" | grep -c '^note-')"
        kv_put notes-counted "$count" && echo "counted $count notes"
    else
        echo "kv store not reachable, trying again"
    fi
    sleep "${WORKER_INTERVAL:-5}"
done
