"""pykube-apiserver: the only component that touches the store; everyone else
List/Watches it over gRPC."""
