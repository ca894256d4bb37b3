"""The join's optional parts (apiserver/bootstrap.py, JoinHandler.decide): the node's serving
certificate (kubelet serverTLSBootstrap: SANs only the node's name and the address the join
came from) and a system:kube-proxy client certificate for its pykube-proxy (k3s' way); a
refused part refuses the whole join."""

from __future__ import annotations

import datetime
import ipaddress

import grpc
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from apimachinery.identity import identity_from_cert
from apiserver.bootstrap import JoinHandler, JoinRefused, peer_ip
from client import bootstrap_token as bt
from client import pki
from client.token_store import StoredToken, TokenStore
from protos import bootstrap_pb2

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
TOKEN = bt.BootstrapToken("abcdef", "0123456789abcdef")
PEER = "192.168.77.11"


@pytest.fixture(scope="module")
def ca() -> pki.CertKey:
    return pki.create_ca(now=NOW - datetime.timedelta(days=1))


@pytest.fixture
def handler(ca, tmp_path) -> JoinHandler:
    store = TokenStore(tmp_path / "tokens.json")
    store.add(StoredToken(bt.new_token_record(NOW, token=TOKEN)))
    return JoinHandler(ca, store, lambda name: False, clock=lambda: NOW)


def csr(cn: str, groups: tuple[str, ...] = (), ips: tuple[str, ...] = (), dns: tuple[str, ...] = ()) -> bytes:
    return pki.csr_pem(pki.create_csr(pki.new_private_key(), cn, groups, ips=ips, dns_names=dns))


def request(node: str = "worker1", serving: bytes = b"", proxy: bytes = b"") -> bootstrap_pb2.JoinRequest:
    return bootstrap_pb2.JoinRequest(token=str(TOKEN), node_name=node,
                                     csr_pem=csr(f"system:node:{node}", ("system:nodes",)),
                                     serving_csr_pem=serving, proxy_csr_pem=proxy)


def usages(cert: x509.Certificate) -> list:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def sans(cert: x509.Certificate) -> tuple[set, set]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.IPAddress)), set(names.get_values_for_type(x509.DNSName))


def test_without_the_optional_csrs_only_the_client_certificate_comes_back(handler) -> None:
    reply = handler.decide(request(), PEER)
    assert reply.certificate_pem and not reply.serving_certificate_pem and not reply.proxy_certificate_pem


def test_a_serving_csr_for_the_nodes_name_and_join_address_is_signed_for_serving(handler, ca) -> None:
    reply = handler.decide(request(serving=csr("system:node:worker1", ("system:nodes",), (PEER,), ("worker1",))), PEER)
    cert = pki.load_cert_pem(reply.serving_certificate_pem)
    assert pki.issued_by(cert, ca.cert)
    assert identity_from_cert(cert).name == "system:node:worker1"
    assert usages(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert sans(cert) == ({ipaddress.ip_address(PEER)}, {"worker1"})


@pytest.mark.parametrize("ips,dns,why", [
    (("192.168.77.12",), ("worker1",), "192.168.77.12 are not addresses of node worker1"),  # another node's IP
    ((PEER,), ("master",), "master are not addresses of node worker1"),                      # another name
    ((PEER, "127.0.0.1"), ("worker1",), "127.0.0.1"),
])
def test_a_serving_csr_naming_what_is_not_the_nodes_refuses_the_join(handler, ips, dns, why) -> None:
    with pytest.raises(JoinRefused) as caught:
        handler.decide(request(serving=csr("system:node:worker1", ("system:nodes",), ips, dns)), PEER)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert 'serving certificate signing request for node "worker1" refused' in str(caught.value)
    assert why in str(caught.value)


def test_a_serving_csr_for_another_node_or_without_names_is_refused(handler) -> None:
    for serving in (csr("system:node:worker2", ("system:nodes",), (PEER,), ("worker1",)),
                    csr("system:node:worker1", ("system:nodes",))):
        with pytest.raises(JoinRefused) as caught:
            handler.decide(request(serving=serving), PEER)
        assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_without_a_known_peer_address_a_serving_csr_may_name_only_the_node(handler) -> None:
    reply = handler.decide(request(serving=csr("system:node:worker1", ("system:nodes",), dns=("worker1",))), None)
    assert sans(pki.load_cert_pem(reply.serving_certificate_pem)) == (set(), {"worker1"})
    with pytest.raises(JoinRefused):
        handler.decide(request(serving=csr("system:node:worker1", ("system:nodes",), (PEER,), ("worker1",))), None)


def test_a_proxy_csr_gets_a_system_kube_proxy_client_certificate(handler, ca) -> None:
    reply = handler.decide(request(proxy=csr("system:kube-proxy")), PEER)
    cert = pki.load_cert_pem(reply.proxy_certificate_pem)
    assert pki.issued_by(cert, ca.cert)
    assert identity_from_cert(cert).name == "system:kube-proxy"
    assert "system:masters" not in identity_from_cert(cert).groups
    assert usages(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize("cn,groups", [("system:kube-proxy", ("system:masters",)), ("system:admin", ()),
                                       ("system:kube-proxy", ("system:nodes",))])
def test_a_proxy_csr_for_more_than_kube_proxy_refuses_the_join(handler, cn, groups) -> None:
    with pytest.raises(JoinRefused) as caught:
        handler.decide(request(proxy=csr(cn, groups)), PEER)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert "kube-proxy certificate signing request" in str(caught.value)


def test_a_proxy_csr_asking_for_alt_names_or_garbage_is_refused(handler) -> None:
    with pytest.raises(JoinRefused) as caught:
        handler.decide(request(proxy=csr("system:kube-proxy", ips=(PEER,))), PEER)
    assert caught.value.code == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(JoinRefused) as caught:
        handler.decide(request(proxy=b"not a csr"), PEER)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("peer,ip", [("ipv4:192.168.77.11:50412", "192.168.77.11"), ("ipv6:[::1]:4711", "::1"),
                                     ("ipv6:[::ffff:10.0.0.5]:4711", "10.0.0.5"), ("unix:/run/x.sock", None),
                                     ("ipv4:nonsense:1", None), ("", None)])
def test_peer_ip_reads_grpcs_peer_string(peer, ip) -> None:
    assert peer_ip(peer) == ip
