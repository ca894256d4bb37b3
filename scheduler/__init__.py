"""pykube-scheduler: places unbound Pods on Nodes, in kube-scheduler's shape.

informers (Pods, Nodes) → cache (nodes + the Pods on them, including "assumed"
ones whose Bind is still in flight) and queue (unbound Pods) → framework (filter
plugins, then weighted score plugins, from a profile) → assume → Bind.
"""
