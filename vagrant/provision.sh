#!/usr/bin/env bash
# Provision one lab VM (run by vagrant as root inside the VM; idempotent).
#   provision.sh master|worker NAME NODE_IP MASTER_IP
# Installs pykube into /opt/pykube/venv offline, from the wheelhouse the host prepared in the
# synced folder (/pykube/vagrant/.wheelhouse: its dependencies and its own wheel), and runs
# the components as systemd units, with mutual TLS and Node,RBAC authorization:
#   master: `pykube pki` makes the cluster CA and the control plane's certificates in
#           /var/lib/pykube/pki; pykube-registry (the lab registry, :5000, with the lab images),
#           pykube-apiserver (:6443 mTLS on every address, the token join on :6444),
#           pykube-scheduler and pykube-controller-manager (each its own kubeconfig), and the
#           admin kubeconfig as root's and vagrant's ~/.pykube/config
#   worker: podman.socket, pykubelet (advertises NODE_IP as InternalIP, dials MASTER_IP:6443;
#           images come from the registry on the master, mapped in for docker.io) and
#           pykube-proxy (Services in the VM's nftables, host-gw routes to the other workers'
#           pod CIDRs over the private network, the cluster DNS). The worker holds no key from
#           the master: the kubelet joins with a join string (`pykube token create` on the
#           master), given as PYKUBE_JOIN or later on stdin to /etc/pykube/join.sh, and gets
#           its client and serving certificates and the proxy's system:kube-proxy certificate.
set -euo pipefail
ROLE="$1" NAME="$2" NODE_IP="$3" MASTER_IP="$4"
VENV=/opt/pykube/venv
WHEELS=/pykube/vagrant/.wheelhouse
t0=$SECONDS
say() { echo "pykube-provision[$NAME]: $*"; }

# A public box (PYKUBE_BOX, on a machine with internet) lacks what the local box carries.
if ! command -v podman >/dev/null || ! command -v docker-registry >/dev/null; then
    say "installing podman and friends from Debian (public box)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends podman crun runc conmon catatonit netavark aardvark-dns \
        iptables nftables conntrack procps python3-venv docker-registry busybox-static libnss-myhostname rsync >/dev/null
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# --- pykube, offline --------------------------------------------------------------------------
# The host built pykube's own wheel too (vagrant/lab wheelhouse): here we only unpack wheels,
# no build step (a build under software emulation costs minutes).
wheel="$(ls "$WHEELS"/pykube-*.whl 2>/dev/null | head -1)"
[ -n "$wheel" ] || { echo "no pykube wheel in $WHEELS: run 'vagrant/lab wheelhouse' on the host" >&2; exit 1; }
stamp="$(sha256sum "$wheel" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.pykube-wheel" 2>/dev/null)" != "$stamp" ]; then
    say "installing pykube into $VENV (offline, from $WHEELS)"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --no-index --find-links "$WHEELS" --disable-pip-version-check "$wheel"
    if [ -f "$VENV/.pykube-wheel" ]; then
        # Re-provisioning: the same version with changed sources; replace pykube itself.
        "$VENV/bin/pip" install -q --no-index --disable-pip-version-check --force-reinstall --no-deps "$wheel"
    fi
    echo "$stamp" > "$VENV/.pykube-wheel"
    say "pykube installed after $((SECONDS - t0)) s"
fi
for cmd in pykube pykubectl pykube-apiserver pykube-scheduler pykube-controller-manager pykubelet pykube-proxy; do
    ln -sf "$VENV/bin/$cmd" "/usr/local/bin/$cmd"
done
mkdir -p /var/lib/pykube
install -d -m 0700 /etc/pykube

unit() {  # unit NAME DESCRIPTION EXECSTART [AFTER] [MORE [Service] LINES]
    cat > "/etc/systemd/system/$1.service" <<EOF
[Unit]
Description=$2
After=network-online.target ${4:-}
Wants=${4:-}

[Service]
ExecStart=$3
Restart=always
RestartSec=2
KillMode=mixed
${5:-}

[Install]
WantedBy=multi-user.target
EOF
}

if [ "$ROLE" = master ]; then
    # The lab registry (Debian's docker-registry), standing in for Docker Hub.
    cat > /etc/pykube/registry.yml <<'EOF'
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: /var/lib/pykube/registry}
  delete: {enabled: true}
http: {addr: ":5000"}
EOF
    unit pykube-registry "pykube lab registry" "/usr/bin/docker-registry serve /etc/pykube/registry.yml"
    # The lab images (built offline from busybox-static), pushed once into the registry.
    cat > /etc/pykube/push-lab-images.sh <<EOF
#!/bin/sh
set -e
for i in \$(seq 100); do
    $VENV/bin/python -c 'import urllib.request as u; u.urlopen("http://127.0.0.1:5000/v2/")' 2>/dev/null && break
    sleep 0.3
done
$VENV/bin/python -c 'from cluster.images import build_and_push_lab_images as b; print(b("127.0.0.1:5000"))'
touch /var/lib/pykube/lab-images.done
EOF
    chmod +x /etc/pykube/push-lab-images.sh
    cat > /etc/systemd/system/pykube-lab-images.service <<EOF
[Unit]
Description=pykube lab images into the lab registry
After=pykube-registry.service
Requires=pykube-registry.service
ConditionPathExists=!/var/lib/pykube/lab-images.done

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/etc/pykube/push-lab-images.sh

[Install]
WantedBy=multi-user.target
EOF
    # The cluster CA (kept on re-provisioning: the join strings pin it), the apiserver's serving
    # certificate (SANs: this VM's private address, 127.0.0.1, master, localhost, kubernetes...),
    # its client certificate for the kubelets, and the control plane's kubeconfigs.
    STATE=/var/lib/pykube PKI=/var/lib/pykube/pki
    "$VENV/bin/pykube" --state-dir "$STATE" pki --server 127.0.0.1:6443 --apiserver-ip "$MASTER_IP" \
        --apiserver-dns master
    for home in /root /home/vagrant; do  # pykubectl's config: the admin (system:masters)
        install -d -m 0700 "$home/.pykube"
        install -m 0600 "$PKI/admin.conf" "$home/.pykube/config"
    done
    chown -R vagrant:vagrant /home/vagrant/.pykube
    unit pykube-apiserver "pykube apiserver" \
        "$VENV/bin/pykube-apiserver --listen 0.0.0.0:6443 --data-dir $STATE/apiserver --log-format console \
 --tls-cert-file $PKI/apiserver.crt --tls-private-key-file $PKI/apiserver.key --client-ca-file $PKI/ca.crt \
 --authorization-mode Node,RBAC \
 --kubelet-client-certificate $PKI/apiserver-kubelet-client.crt --kubelet-client-key $PKI/apiserver-kubelet-client.key \
 --kubelet-certificate-authority $PKI/ca.crt --kubelet-preferred-address-types InternalIP,Hostname \
 --bootstrap-listen 0.0.0.0:6444 --cluster-signing-cert-file $PKI/ca.crt --cluster-signing-key-file $PKI/ca.key"
    unit pykube-scheduler "pykube scheduler" \
        "$VENV/bin/pykube-scheduler --kubeconfig $PKI/scheduler.conf --log-format console" pykube-apiserver.service
    unit pykube-controller-manager "pykube controller-manager" \
        "$VENV/bin/pykube-controller-manager --kubeconfig $PKI/controller-manager.conf --log-format console" \
        pykube-apiserver.service
    units=(pykube-registry pykube-lab-images pykube-apiserver pykube-scheduler pykube-controller-manager)
else
    # docker.io is the lab registry on the master; nothing else is reachable.
    cat > /etc/containers/registries.conf <<EOF
# Written by pykube's vagrant/provision.sh: docker.io is the lab registry on the master.
unqualified-search-registries = []
short-name-mode = "disabled"

[[registry]]
prefix = "docker.io"
location = "$MASTER_IP:5000"
insecure = true

[[registry]]
location = "$MASTER_IP:5000"
insecure = true
EOF
    # Pods join the network `pykube` the kubelet creates from its Node's podCIDR (a /24 of the
    # cluster CIDR 10.88.0.0/16, from the node IPAM controller); Podman's own default network
    # (10.88.0.0/16 out of the box) moves out of the way.
    cat > /etc/containers/containers.conf <<EOF
# Written by pykube's vagrant/provision.sh
[network]
default_subnet = "10.86.0.0/24"
EOF
    systemctl enable --now podman.socket
    # The token join (kubelet/bootstrap.py): the kubelet's client and serving certificates and
    # pykube-proxy's system:kube-proxy one, all from the master for the join string, kept in
    # the cert dir; a restart uses them (the token may long have expired by then).
    CERTS=/var/lib/pykubelet/pki
    PROXY_CONF=/var/lib/pykubelet/kube-proxy.conf
    unit pykubelet "pykube kubelet" \
        "$VENV/bin/pykubelet --server $MASTER_IP:6443 --token \${PYKUBE_JOIN} --bootstrap-server $MASTER_IP:6444 \
 --cert-dir $CERTS --server-tls-bootstrap --kube-proxy-kubeconfig $PROXY_CONF \
 --node-name $NAME --node-ip $NODE_IP --listen $NODE_IP:10250 --podman-url unix:///run/podman/podman.sock \
 --log-format console" \
        podman.socket "EnvironmentFile=/etc/pykube/join.env"
    # No --netns: the proxy acts in the VM's own network namespace, as kube-proxy on a machine.
    # It routes the other workers' pod CIDRs via their InternalIPs (the private network). Its
    # credentials are the ones the kubelet's join wrote: it waits for them.
    unit pykube-proxy "pykube-proxy" \
        "$VENV/bin/pykube-proxy --kubeconfig $PROXY_CONF --node-name $NAME --log-format console" \
        pykubelet.service "ExecStartPre=/bin/sh -c 'for i in \$\$(seq 300); do [ -s $PROXY_CONF ] && exit 0; sleep 1; done; exit 1'
TimeoutStartSec=330"
    # join.sh: the join string on stdin (kept 0600, out of every command line but the
    # kubelet's), then the node's agents start. `vagrant/lab up` runs it once the master is up.
    cat > /etc/pykube/join.sh <<'JOIN'
#!/bin/sh
# Usage: echo "$JOIN" | sudo /etc/pykube/join.sh   (JOIN: `sudo pykube token create` on the master)
set -e
read -r join
case "$join" in K10*::*.*) ;; *) echo "join.sh: not a join string (K10<hash>::<id>.<secret>)" >&2; exit 1 ;; esac
umask 077
printf 'PYKUBE_JOIN=%s\n' "$join" > /etc/pykube/join.env.tmp
mv /etc/pykube/join.env.tmp /etc/pykube/join.env
systemctl enable --now pykubelet pykube-proxy >/dev/null 2>&1
echo "join.sh: pykubelet and pykube-proxy started"
JOIN
    chmod 0700 /etc/pykube/join.sh
    systemctl daemon-reload
    if [ -n "${PYKUBE_JOIN:-}" ]; then
        echo "$PYKUBE_JOIN" | /etc/pykube/join.sh
    elif [ -s /etc/pykube/join.env ]; then
        systemctl enable pykubelet pykube-proxy >/dev/null 2>&1
        systemctl restart pykubelet pykube-proxy
    else
        say "not joined yet: echo JOIN | sudo /etc/pykube/join.sh (JOIN: sudo pykube token create on the master)"
    fi
    say "$ROLE provisioned in $((SECONDS - t0)) s"
    exit 0
fi
systemctl daemon-reload
systemctl enable "${units[@]}" >/dev/null 2>&1
systemctl restart "${units[@]}"
say "$ROLE provisioned in $((SECONDS - t0)) s: ${units[*]}"
