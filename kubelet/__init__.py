"""pykubelet: the node agent. Registers its Node, renews its Lease, runs the Pods
bound to its node with a container runtime (Podman) and reports their status."""
