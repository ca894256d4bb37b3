"""Patches of API objects as Kubernetes applies them: strategic merge patch, JSON merge
patch (RFC 7386), JSON patch (RFC 6902); and the per-field list semantics they, server-side
apply's field sets and the OpenAPI documents share (merge_keys.py)."""
