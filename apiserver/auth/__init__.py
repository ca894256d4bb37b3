"""Who may do what: request attributes and authorizers (Kubernetes' authorizer package)."""
