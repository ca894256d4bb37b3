"""The apiserver's join decisions (apiserver/bootstrap.py, JoinHandler.decide): a token the
store holds and a CSR for exactly system:node:<name> get a certificate; everything else is
refused with the right code and a message that says why (but never which part of a token
was wrong)."""

from __future__ import annotations

import datetime

import grpc
import pytest

from apimachinery.identity import identity_from_cert
from apiserver.bootstrap import JoinHandler, JoinRefused, load_signer
from client import bootstrap_token as bt
from client import pki
from client.token_store import StoredToken, TokenStore
from protos import bootstrap_pb2

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
TOKEN = bt.BootstrapToken("abcdef", "0123456789abcdef")
BOUND = bt.BootstrapToken("nnnnnn", "0123456789abcdef")


@pytest.fixture(scope="module")
def ca() -> pki.CertKey:
    return pki.create_ca(now=NOW - datetime.timedelta(days=1))


@pytest.fixture
def handler(ca, tmp_path) -> JoinHandler:
    store = TokenStore(tmp_path / "tokens.json")
    store.add(StoredToken(bt.new_token_record(NOW, token=TOKEN)))
    store.add(StoredToken(bt.new_token_record(NOW, token=BOUND), node_name="n2"))
    ready = {"n2", "n3"}
    return JoinHandler(ca, store, lambda name: name in ready, clock=lambda: NOW)


def request(node: str = "n1", token: str = str(TOKEN), cn: str | None = None,
            groups: tuple[str, ...] = ("system:nodes",), csr: bytes | None = None) -> bootstrap_pb2.JoinRequest:
    if csr is None:
        csr = pki.csr_pem(pki.create_csr(pki.new_private_key(), cn or f"system:node:{node}", groups))
    return bootstrap_pb2.JoinRequest(token=token, csr_pem=csr, node_name=node)


def refused(handler: JoinHandler, req: bootstrap_pb2.JoinRequest, code: grpc.StatusCode) -> str:
    with pytest.raises(JoinRefused) as caught:
        handler.decide(req)
    assert caught.value.code == code, caught.value
    return str(caught.value)


def test_a_valid_token_and_csr_get_the_nodes_certificate_and_the_ca(handler, ca) -> None:
    reply = handler.decide(request("n1"))
    cert = pki.load_cert_pem(reply.certificate_pem)
    assert identity_from_cert(cert).name == "system:node:n1"
    assert "system:nodes" in identity_from_cert(cert).groups
    assert pki.issued_by(cert, ca.cert)
    assert reply.ca_pem == ca.cert_pem()


@pytest.mark.parametrize("token", ["abcdef.0000000000000000", "zzzzzz.0123456789abcdef", "not-a-token", "\x00\n.x"])
def test_an_unknown_or_wrong_token_is_unauthenticated_without_saying_which(handler, token: str) -> None:
    message = refused(handler, request(token=token), grpc.StatusCode.UNAUTHENTICATED)
    assert "is invalid for this cluster or it has expired" in message
    assert 'Use "pykube token create" on the control-plane node' in message
    assert "0123456789abcdef" not in message


def test_an_expired_token_is_unauthenticated(handler) -> None:
    handler.clock = lambda: NOW + datetime.timedelta(hours=25)
    message = refused(handler, request(), grpc.StatusCode.UNAUTHENTICATED)
    assert message.startswith('token id "abcdef" is invalid for this cluster or it has expired')


@pytest.mark.parametrize("cn, groups, reason", [
    ("system:node:n2", ("system:nodes",), 'subject common name "system:node:n2" is not "system:node:n1"'),
    ("system:node:n1", ("system:masters",), "subject organization is not system:nodes"),
    ("system:node:n1", ("system:nodes", "system:masters"), "subject organization is not system:nodes"),
    ("admin", ("system:nodes",), 'subject common name "admin" is not "system:node:n1"'),
])
def test_a_csr_for_another_name_or_group_is_permission_denied(handler, cn, groups, reason) -> None:
    message = refused(handler, request("n1", cn=cn, groups=groups), grpc.StatusCode.PERMISSION_DENIED)
    assert message == f'certificate signing request for node "n1" refused: {reason}'


def test_a_csr_asking_for_alt_names_is_refused(handler) -> None:
    csr = pki.create_csr(pki.new_private_key(), "system:node:n1", ["system:nodes"], dns_names=["evil"])
    message = refused(handler, request("n1", csr=pki.csr_pem(csr)), grpc.StatusCode.PERMISSION_DENIED)
    assert "subjectAltNames are not allowed" in message


@pytest.mark.parametrize("node", ["", "N1", "a/b", "x" * 300, "n1\n"])
def test_an_invalid_node_name_is_invalid_argument(handler, node: str) -> None:
    message = refused(handler, request(node, cn="system:node:n1"), grpc.StatusCode.INVALID_ARGUMENT)
    assert message.startswith("invalid node name")


def test_garbage_instead_of_a_csr_is_invalid_argument(handler) -> None:
    garbage = request(csr=b"-----BEGIN CERTIFICATE REQUEST-----\nxx")
    message = refused(handler, garbage, grpc.StatusCode.INVALID_ARGUMENT)
    assert message.startswith("not a PEM certificate signing request")


def test_a_ready_nodes_name_is_refused_unless_the_token_was_issued_for_it(handler) -> None:
    message = refused(handler, request("n3"), grpc.StatusCode.PERMISSION_DENIED)
    assert message.startswith('node "n3" already exists and is Ready')
    assert "pykube token create --node-name n3" in message
    refused(handler, request("n2"), grpc.StatusCode.PERMISSION_DENIED)
    reply = handler.decide(request("n2", token=str(BOUND)))  # re-join a running node with its own token
    assert identity_from_cert(pki.load_cert_pem(reply.certificate_pem)).name == "system:node:n2"


def test_a_token_issued_for_one_node_joins_no_other(handler) -> None:
    message = refused(handler, request("n1", token=str(BOUND)), grpc.StatusCode.PERMISSION_DENIED)
    assert message == 'bootstrap token "nnnnnn" was issued for node "n2", not "n1"'


def test_a_broken_token_file_lets_nobody_in(handler) -> None:
    handler.tokens.path.write_text("{broken")
    refused(handler, request(), grpc.StatusCode.UNAVAILABLE)


def test_the_signer_must_fit_the_other_tls_files(ca, tmp_path) -> None:
    pki.write_cert_key(tmp_path, "ca", ca)
    pki.write_cert_key(tmp_path, "apiserver", pki.issue_serving_cert(ca, "apiserver", ips=["127.0.0.1"]))
    other = pki.create_ca("other")
    pki.write_cert_key(tmp_path, "other", other)
    files = {name: str(tmp_path / name) for name in ("ca.crt", "ca.key", "other.crt", "other.key", "apiserver.crt")}
    assert load_signer(files["ca.crt"], files["ca.key"], files["apiserver.crt"], files["ca.crt"]).cert == ca.cert
    with pytest.raises(ValueError, match="is not the key of"):
        load_signer(files["ca.crt"], files["other.key"], files["apiserver.crt"], files["ca.crt"])
    with pytest.raises(ValueError, match="is not signed by --cluster-signing-cert-file"):
        load_signer(files["other.crt"], files["other.key"], files["apiserver.crt"], files["other.crt"])
    with pytest.raises(ValueError, match="does not hold --cluster-signing-cert-file"):
        load_signer(files["ca.crt"], files["ca.key"], files["apiserver.crt"], files["other.crt"])
    with pytest.raises(ValueError, match="needs --cluster-signing-cert-file"):
        load_signer("", "", files["apiserver.crt"], files["ca.crt"])


def test_the_apiserver_refuses_a_bootstrap_listener_without_tls_or_signer(ca, tmp_path, capsys) -> None:
    from apiserver.main import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--in-memory", "--insecure-plaintext", "--bootstrap-listen", "127.0.0.1:0"])
    assert "--bootstrap-listen needs TLS" in capsys.readouterr().err
    pki.write_cert_key(tmp_path, "ca", ca)
    pki.write_cert_key(tmp_path, "apiserver", pki.issue_serving_cert(ca, "apiserver", ips=["127.0.0.1"]))
    tls = ["--tls-cert-file", str(tmp_path / "apiserver.crt"), "--tls-private-key-file",
           str(tmp_path / "apiserver.key"), "--client-ca-file", str(tmp_path / "ca.crt")]
    with pytest.raises(SystemExit):
        parse_args(["--data-dir", str(tmp_path / "data"), "--bootstrap-listen", "127.0.0.1:0", *tls])
    assert "needs --cluster-signing-cert-file and --cluster-signing-key-file" in capsys.readouterr().err
