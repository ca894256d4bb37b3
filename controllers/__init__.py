"""pykube-controller-manager: the controllers that turn desired state into Pods
(Deployment → ReplicaSet → Pod), watch node health, and collect garbage."""
