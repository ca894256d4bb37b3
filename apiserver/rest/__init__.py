"""The Kubernetes HTTP API: the apiserver's second face (see server.py)."""
