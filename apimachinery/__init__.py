"""What every component shares about API objects: the kinds, conversion between
Kubernetes-style JSON/YAML and the protobuf messages, and label/field selectors."""
