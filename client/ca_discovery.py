"""How a joining node learns the cluster CA before it trusts anything (kubeadm's
token discovery, k3s' ``/cacerts``): one TLS handshake that verifies nothing, to read
the certificates the server presents, then the pin decides.

The apiserver's bootstrap listener presents its serving certificate followed by the CA
(``component_base.tls.bootstrap_server_credentials``). ``discover_ca`` takes the chain,
keeps the certificate whose key hashes to the join token's pin
(``client.bootstrap_token.pick_pinned_ca``), and returns it; every later connection
verifies the server against that CA in a real handshake, so a man in the middle can at
most make the join fail. Nothing secret is sent on the unverified connection.

gRPC cannot skip verification, hence the plain ``ssl`` socket. Python 3.13 has
``get_unverified_chain()``; 3.11 and 3.12 have the same method one level down.
"""

from __future__ import annotations

import _ssl
import socket
import ssl

from cryptography import x509

from client.bootstrap_token import pick_pinned_ca


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f'invalid server address "{address}": expected HOST:PORT')
    return host.strip("[]"), int(port)


def presented_chain(address: str, timeout: float = 5.0) -> list[x509.Certificate]:
    """The certificates the server at ``address`` presents, unverified, leaf first."""
    host, port = split_address(address)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])  # gRPC servers insist on HTTP/2
    with socket.create_connection((host, port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        getter = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain  # type: ignore[union-attr]
        chain = getter() or []
    # 3.13 gives DER bytes, the older private method _ssl.Certificate objects.
    return [x509.load_der_x509_certificate(c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER))
            for c in chain]


def discover_ca(address: str, pinned_ca_hash: str, timeout: float = 5.0) -> x509.Certificate:
    """The cluster CA the server at ``address`` presents, if its key matches the pin;
    CAPinMismatch otherwise, OSError when the server cannot be reached."""
    return pick_pinned_ca(presented_chain(address, timeout), pinned_ca_hash)
