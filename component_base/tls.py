"""Serving gRPC over mutual TLS, and who the peer is.

* ``server_credentials``: the API port of the apiserver (and a kubelet's service): TLS
  only, and the client must present a certificate signed by the cluster CA that is valid
  now. A plaintext client, a certificate from another CA, an expired or not-yet-valid one,
  or none at all is refused at the handshake; no handler ever runs for it.
* ``peer_identity(context)``: the user (CN) and groups (O) of the verified client
  certificate, Kubernetes' x509 authenticator (``certificate_identity(der_or_pem)`` for
  the HTTPS face, which gets the certificate from its TLS connection). The certificate is parsed once per distinct
  certificate (an LRU cache keyed by its PEM), never per request; a certificate that
  expires while its connection stays open stops authenticating at that moment.
* ``bootstrap_server``: a joining kubelet has no certificate yet, and gRPC cannot make
  one port ask for a client certificate for some methods only (``require_client_auth=False``
  does not even ask, so per-method checks could not see one). So the token join runs on
  a separate listener: its own ``grpc.aio.server`` (never an extra port of the API server,
  which would serve the whole API there), TLS without client certificates, small
  messages, serving only the handlers given (the bootstrap call, which authenticates by
  token). It presents its certificate followed by the CA, so a joiner can find the CA its
  token pins (``client.ca_discovery``).

This module needs the ``cryptography`` library only to read peer certificates.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509

from apimachinery.identity import ANONYMOUS, UserInfo, identity_from_cert

BOOTSTRAP_MAX_MESSAGE_BYTES = 64 * 1024  # a CSR and a token are a few hundred bytes
BOOTSTRAP_MAX_CONCURRENT_RPCS = 32
IDENTITY_CACHE_SIZE = 4096


def server_credentials(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> grpc.ServerCredentials:
    """TLS serving ``cert_pem``/``key_pem``; clients must show a certificate ``ca_pem`` signed."""
    if not ca_pem:
        raise ValueError("mutual TLS needs the CA that signs client certificates")
    return grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=True)


def _read(path: str | os.PathLike, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read the {what} {path}: {err.strerror}") from None


def server_credentials_from_files(ca_file: str | os.PathLike, cert_file: str | os.PathLike,
                                  key_file: str | os.PathLike) -> grpc.ServerCredentials:
    """``--client-ca-file``, ``--tls-cert-file``, ``--tls-private-key-file`` (kube-apiserver's flags)."""
    return server_credentials(_read(ca_file, "client CA file"), _read(cert_file, "TLS certificate"),
                              _read(key_file, "TLS private key"))


def serving_tls(cert_file: str, key_file: str, ca_file: str) -> bool:
    """Whether a server's flags ask for mutual TLS: ``--tls-cert-file``, ``--tls-private-key-file``
    and ``--client-ca-file`` all given (True) or none (False: plaintext); ValueError for some."""
    files = (cert_file, key_file, ca_file)
    if any(files) and not all(files):
        raise ValueError("--tls-cert-file, --tls-private-key-file and --client-ca-file go together")
    return all(files)


def bootstrap_server_credentials(ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> grpc.ServerCredentials:
    """TLS without client certificates, presenting ``cert_pem`` and then the CA."""
    chain = cert_pem if cert_pem.endswith(b"\n") else cert_pem + b"\n"
    return grpc.ssl_server_credentials([(key_pem, chain + ca_pem)], require_client_auth=False)


def bootstrap_server(address: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes,
                     handlers: Sequence[grpc.GenericRpcHandler],
                     options: Sequence[tuple[str, Any]] = ()) -> tuple[grpc.aio.Server, int]:
    """A separate server for the token join, serving only ``handlers``; (server, port).
    The caller starts and stops it beside the API server."""
    server = grpc.aio.server(
        handlers=list(handlers),
        maximum_concurrent_rpcs=BOOTSTRAP_MAX_CONCURRENT_RPCS,
        options=[("grpc.max_receive_message_length", BOOTSTRAP_MAX_MESSAGE_BYTES), *options],
    )
    port = server.add_secure_port(address, bootstrap_server_credentials(ca_pem, cert_pem, key_pem))
    if not port:
        raise OSError(f"cannot listen on {address}")
    return server, port


# --- who the peer is -------------------------------------------------------------------------

@functools.lru_cache(maxsize=IDENTITY_CACHE_SIZE)
def _identity_of_pem(pem: bytes) -> tuple[UserInfo, float, float] | None:
    """(user, not-before, not-after as epoch seconds) of a certificate, PEM or DER; None when
    it names no user. Cached: a client's connections all show the same certificate."""
    try:
        cert = (x509.load_pem_x509_certificate(pem) if pem.lstrip().startswith(b"-----BEGIN")
                else x509.load_der_x509_certificate(pem))
        user = identity_from_cert(cert)
    except ValueError:
        return None
    return user, cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()


def certificate_identity(cert: bytes | None, now: float | None = None) -> UserInfo:
    """The user a verified client certificate (PEM or DER bytes, as
    ``ssl.SSLObject.getpeercert(binary_form=True)`` gives it) names: CN the user, each O a
    group; ``system:anonymous`` for none, one that names no user, or one outside its
    validity now. The HTTPS face of the apiserver authenticates with this."""
    if not cert:
        return ANONYMOUS
    known = _identity_of_pem(cert)
    if known is None:
        return ANONYMOUS
    user, not_before, not_after = known
    at = time.time() if now is None else now
    return user if not_before <= at <= not_after else ANONYMOUS


def peer_certificate_pem(context: Any) -> bytes | None:
    """The client certificate the TLS handshake verified, as PEM; None for no TLS or no certificate."""
    auth = context.auth_context()
    if auth.get("transport_security_type") != [b"ssl"]:
        return None
    pems = auth.get("x509_pem_cert")
    return pems[0] if pems else None


def peer_identity(context: Any, now: float | None = None) -> UserInfo:
    """The user of a request (``grpc.ServicerContext`` or ``grpc.aio.ServicerContext``):
    from the verified client certificate, or ``system:anonymous`` when there is none, it
    names no user, or it is outside its validity now (a connection can outlive its
    certificate)."""
    return certificate_identity(peer_certificate_pem(context), now)


def identity_cache_info() -> Any:
    """How the identity cache is doing (hits, misses, size): for tests and metrics."""
    return _identity_of_pem.cache_info()
