"""What every pykube component uses to talk to the apiserver.

* ``client.connection``: the gRPC channel and API stub, failing fast when the
  apiserver is unreachable, and the default apiserver address;
* ``client.api``: the typed asyncio client, and the helpers that name gRPC errors
  (``is_not_found``, ``is_conflict``...);
* ``client.informer``: informers (a watched, always-current cache of one kind) and
  SharedInformers, one informer per kind for a whole process;
* ``client.workqueue``: the controllers' rate-limited work queue;
* ``client.events``: the EventRecorder; ``client.batcher``: many writes in one Batch call.

Process-wide pieces that are not about the API (logging set-up, flags, running
until SIGTERM) are in ``component_base``.
"""

from client.connection import (
    DEFAULT_ADDRESS,
    Connection,
    ServerUnreachable,
    connect,
    is_unreachable,
    short_reason,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "Connection",
    "ServerUnreachable",
    "connect",
    "is_unreachable",
    "short_reason",
]
