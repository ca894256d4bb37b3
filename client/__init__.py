"""What every pykube component uses to talk to the apiserver.

* ``client.connection``: the gRPC channel and API stub, failing fast when the
  apiserver is unreachable, and the default apiserver address;
* ``client.api``: the typed asyncio client, and the helpers that name gRPC errors
  (``is_not_found``, ``is_conflict``...);
* ``client.informer``: informers (a watched, always-current cache of one kind) and
  SharedInformers, one informer per kind for a whole process;
* ``client.workqueue``: the controllers' rate-limited work queue;
* ``client.events``: the EventRecorder; ``client.batcher``: many writes in one Batch call;
* ``client.config`` / ``client.kubeconfig``: where the apiserver is and the credentials
  for it; ``client.pki``: the cluster CA and certificates; ``client.bootstrap_token`` and
  ``client.ca_discovery``: join tokens and learning the CA a token pins.

Process-wide pieces that are not about the API (logging set-up, flags, running
until SIGTERM) are in ``component_base``.
"""

from client.connection import (
    DEFAULT_ADDRESS,
    Connection,
    ServerUnreachable,
    TLSConfig,
    connect,
    is_unreachable,
    short_reason,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "Connection",
    "ServerUnreachable",
    "TLSConfig",
    "connect",
    "is_unreachable",
    "short_reason",
]
