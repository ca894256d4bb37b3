"""Who is asking: Kubernetes' user.Info, as every authenticator produces it and every
authorizer reads it.

The x509 rule is Kubernetes' (``CommonNameUserConversion``): the certificate's Common
Name is the user name, each Organization a group, and every authenticated user is
also in ``system:authenticated``. A request with no usable identity is
``system:anonymous`` in ``system:unauthenticated``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

AUTHENTICATED_GROUP = "system:authenticated"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
MASTERS_GROUP = "system:masters"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
KUBE_PROXY_USER = "system:kube-proxy"  # kube-proxy's user, bound to system:node-proxier


@dataclass(frozen=True)
class UserInfo:
    name: str                      # "system:node:n1", "alice", "system:anonymous"
    groups: tuple[str, ...] = ()   # ("system:nodes", "system:authenticated")


ANONYMOUS = UserInfo("system:anonymous", (UNAUTHENTICATED_GROUP,))


def authenticated_user(name: str, groups: Iterable[str] = ()) -> UserInfo:
    """``name`` with ``groups`` plus ``system:authenticated`` (once, last, as Kubernetes'
    group adder appends it)."""
    listed = tuple(dict.fromkeys(g for g in groups if g != AUTHENTICATED_GROUP))
    return UserInfo(name, (*listed, AUTHENTICATED_GROUP))


def identity_from_cert(cert: x509.Certificate) -> UserInfo:
    """The user a (verified) client certificate names: CN → name, each O → a group.

    Raises ValueError for a certificate without a Common Name; Kubernetes does not
    authenticate such a certificate either.
    """
    from cryptography.x509.oid import NameOID  # only the servers that read certificates pay for it

    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    name = names[0] if names else ""
    if not isinstance(name, str) or not name:
        raise ValueError("the client certificate has no common name")
    groups = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return authenticated_user(name, (g for g in groups if isinstance(g, str) and g))
