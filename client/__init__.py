"""What every pykube component shares to talk to the apiserver.

* ``client.connection``: the gRPC channel and API stub, failing fast when the
  apiserver is unreachable;
* ``client.logs``: structlog set-up for the services.

Later: TLS config, a typed client, informers and a workqueue.
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
