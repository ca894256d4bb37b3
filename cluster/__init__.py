"""The machine-level plumbing of a local pykube cluster (``pykube up``, the embedded default).

A pykube node on one machine is three things (design guide, "Where the nodes are"):

* a sealed network namespace (:mod:`cluster.netns`): ``lo``, its ``eth0`` on the cluster
  network (:mod:`cluster.cluster_network`: a bridge in a switch namespace joining the nodes) and
  whatever Podman's bridge creates, no default route, so nothing a pod does can leave the
  machine (NodePorts reach the host's loopback through :mod:`cluster.nodeport_publisher`);
* its own Podman service (:mod:`cluster.podman_node`): own image cache, container state,
  IPAM and events, reachable by the kubelet over a unix socket (unix sockets do not care about
  network namespaces, which is why the kubelet itself can stay in the root namespace);
* a registry relay (:mod:`cluster.relay`): the node's ``127.0.0.1:<port>`` forwards to the
  local registry (:mod:`cluster.registry`) that stands in for Docker Hub, whose lab images
  :mod:`cluster.images` builds from busybox-static without any network access.
"""
