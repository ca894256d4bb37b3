"""The cluster's address plan: one home for the ranges and names every component agrees on.

Kubernetes spreads these over flags of several components (``--service-cluster-ip-range`` on
the apiserver, ``--cluster-cidr`` on the controller-manager and kube-proxy, ``--cluster-dns`` and
``--cluster-domain`` on the kubelet); pykube's defaults are written here once and the flags are
derived from them.

    10.88.0.0/16   cluster CIDR: every Pod IP; each node gets a /24 of it (spec.podCIDR)
    10.96.0.0/16   service CIDR: every ClusterIP (10.96.0.10 is the cluster DNS)
    30000-32767    NodePorts, on every node's IP
"""

from __future__ import annotations

CLUSTER_CIDR = "10.88.0.0/16"
NODE_CIDR_MASK_SIZE = 24
SERVICE_CIDR = "10.96.0.0/16"
# The cluster DNS server's address, as kubeadm's kube-dns Service has it (the 10th of the range).
CLUSTER_DNS_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
NODE_PORT_RANGE = (30000, 32767)  # inclusive, as --service-node-port-range 30000-32767
