#!/bin/sh
# The node agent (one Pod per node, a DaemonSet): writes what it sees of its node as the
# key "node-$NODE_NAME", refreshed every 30 s (every 2 s until the store first answers).
. /course/lib.sh
while true; do
    line="agent $HOSTNAME: $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo), up $(cut -d' ' -f1 /proc/uptime) s"
    if kv_put "node-$NODE_NAME" "$line"; then
        echo "wrote node-$NODE_NAME: $line"
        sleep 30
    else
        echo "kv store not reachable, trying again"
        sleep 2
    fi
done
