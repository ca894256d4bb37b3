"""The cluster CA and its certificates (client/pki.py): what they say, where they are
written, and what the CSR signer refuses."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apimachinery.identity import ANONYMOUS, UserInfo
from client import pki

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(scope="module")
def ca() -> pki.CertKey:
    return pki.create_ca(now=NOW)


def ext(cert: x509.Certificate, cls: type) -> x509.ExtensionType:
    return cert.extensions.get_extension_for_class(cls).value


def test_the_ca_is_a_self_signed_p256_ca_for_ten_years(ca: pki.CertKey) -> None:
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey) and ca.key.curve.name == "secp256r1"
    assert ca.cert.subject == ca.cert.issuer
    assert ca.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pykube-ca"
    assert pki.issued_by(ca.cert, ca.cert)
    constraints = ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    assert ext(ca.cert, x509.KeyUsage).key_cert_sign
    assert ca.cert.not_valid_after_utc - NOW == datetime.timedelta(days=3650)
    assert NOW - ca.cert.not_valid_before_utc == datetime.timedelta(minutes=5)  # backdated for clock skew


def test_a_serving_certificate_carries_its_sans_and_server_auth(ca: pki.CertKey) -> None:
    served = pki.issue_serving_cert(ca, "kube-apiserver", ips=["127.0.0.1", "10.0.0.2", "127.0.0.1"],
                                    dns_names=["localhost", "apiserver"], now=NOW)
    sans = ext(served.cert, x509.SubjectAlternativeName)
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1"),
                                                        ipaddress.ip_address("10.0.0.2")]
    assert sans.get_values_for_type(x509.DNSName) == ["localhost", "apiserver"]
    assert list(ext(served.cert, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not ext(served.cert, x509.BasicConstraints).ca
    assert pki.issued_by(served.cert, ca.cert)
    assert served.cert.not_valid_after_utc - NOW == datetime.timedelta(days=365)
    with pytest.raises(pki.PKIError, match="needs at least one IP or DNS name"):
        pki.issue_serving_cert(ca, "nameless")


def test_a_client_certificate_names_its_user_and_groups(ca: pki.CertKey) -> None:
    client = pki.issue_client_cert(ca, "system:node:n1", ["system:nodes"], now=NOW,
                                   validity=datetime.timedelta(hours=1))
    assert list(ext(client.cert, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert client.cert.not_valid_after_utc == NOW + datetime.timedelta(hours=1)
    assert pki.identity_from_cert(client.cert) == UserInfo("system:node:n1", ("system:nodes", "system:authenticated"))
    admin = pki.issue_client_cert(ca, "admin", ["system:masters", "ops"], now=NOW)
    assert pki.identity_from_cert(admin.cert).groups == ("system:masters", "ops", "system:authenticated")
    assert pki.identity_from_cert(pki.issue_client_cert(ca, "alice", now=NOW).cert).groups == ("system:authenticated",)
    assert ANONYMOUS == UserInfo("system:anonymous", ("system:unauthenticated",))


def test_a_leaf_never_outlives_its_ca() -> None:
    short_ca = pki.create_ca(now=NOW, validity=datetime.timedelta(days=10))
    leaf = pki.issue_client_cert(short_ca, "alice", now=NOW)
    assert leaf.cert.not_valid_after_utc == short_ca.cert.not_valid_after_utc


def test_validity_problem_uses_gos_wording(ca: pki.CertKey) -> None:
    cert = pki.issue_client_cert(ca, "alice", now=NOW, validity=datetime.timedelta(days=1)).cert
    assert pki.validity_problem(cert, NOW) is None
    expired = pki.validity_problem(cert, NOW + datetime.timedelta(days=2))
    assert expired == ("x509: certificate has expired or is not yet valid: current time 2026-06-03T12:00:00Z "
                       "is after 2026-06-02T12:00:00Z")
    early = pki.validity_problem(cert, NOW - datetime.timedelta(hours=1))
    assert early is not None and "is before 2026-06-01T11:55:00Z" in early


def test_files_round_trip_and_keys_are_never_readable_by_others(ca: pki.CertKey, tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the most permissive umask: the modes must still hold
    try:
        cert_path, key_path = pki.write_cert_key(tmp_path / "pki", "ca", ca)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cert_path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "pki").stat().st_mode) == 0o700
    assert sorted(p.name for p in (tmp_path / "pki").iterdir()) == ["ca.crt", "ca.key"]  # no temporary left
    loaded = pki.load_cert_key(tmp_path / "pki", "ca")
    assert loaded.cert == ca.cert and loaded.key_pem() == ca.key_pem()
    again, created = pki.load_or_create_ca(tmp_path / "pki")
    assert again.cert == ca.cert and not created


def test_the_temporary_file_is_0600_from_its_creation(ca: pki.CertKey, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is written into a file that is already 0600 (mkstemp), not chmodded after."""
    import client.files as files

    seen = []
    real_fdopen = os.fdopen

    def spy(fd: int, *args, **kwargs):  # noqa: ANN002, ANN003
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_fdopen(fd, *args, **kwargs)

    monkeypatch.setattr(files.os, "fdopen", spy)
    pki.write_key(tmp_path / "k.key", ca.key)
    assert seen == [0o600]


def test_load_or_create_ca_creates_once_and_refuses_a_mismatched_pair(tmp_path: Path) -> None:
    created, fresh = pki.load_or_create_ca(tmp_path)
    assert fresh and (tmp_path / "ca.key").exists()
    again, fresh_again = pki.load_or_create_ca(tmp_path)
    assert not fresh_again and again.cert == created.cert
    pki.write_key(tmp_path / "ca.key", pki.new_private_key())
    with pytest.raises(pki.PKIError, match=r"ca.key is not the key of .*ca.crt"):
        pki.load_cert_key(tmp_path, "ca")
    (tmp_path / "bad.crt").write_text("hello")
    with pytest.raises(pki.PKIError, match="is not a PEM certificate"):
        pki.load_cert(tmp_path / "bad.crt")


def test_a_node_csr_is_signed_for_exactly_its_own_name(ca: pki.CertKey) -> None:
    key = pki.new_private_key()
    csr = pki.csr_pem(pki.create_csr(key, "system:node:n1", ["system:nodes"]))
    cert = pki.sign_csr(ca, csr, pki.node_client_policy("n1"), now=NOW)
    assert pki.identity_from_cert(cert) == UserInfo("system:node:n1", ("system:nodes", "system:authenticated"))
    assert cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
        == key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pki.issued_by(cert, ca.cert)
    assert list(ext(cert, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.CLIENT_AUTH]


@pytest.mark.parametrize(("cn", "orgs", "message"), [
    ("system:node:n2", ["system:nodes"], 'subject common name "system:node:n2" is not "system:node:n1"'),
    ("system:node:n1", ["system:nodes", "system:masters"], "subject organization is not system:nodes"),
    ("system:node:n1", [], "subject organization is not system:nodes"),
    ("admin", ["system:masters"], "subject organization is not system:nodes"),
])
def test_the_policy_refuses_another_subject(ca: pki.CertKey, cn: str, orgs: list[str], message: str) -> None:
    csr = pki.create_csr(pki.new_private_key(), cn, orgs)
    with pytest.raises(pki.CSRRefused, match=re.escape(message)):
        pki.sign_csr(ca, csr, pki.node_client_policy("n1"))


def test_what_a_csr_asks_beyond_its_subject_is_refused_or_ignored(ca: pki.CertKey) -> None:
    key = pki.new_private_key()
    with_sans = (x509.CertificateSigningRequestBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "system:node:n1")]))
                 .add_extension(x509.SubjectAlternativeName([x509.DNSName("evil")]), critical=False)
                 .sign(key, pki.hashes.SHA256()))
    with pytest.raises(pki.CSRRefused, match="subjectAltNames are not allowed"):
        pki.sign_csr(ca, with_sans, lambda s: None)
    as_ca = (x509.CertificateSigningRequestBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")]))
             .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
             .sign(key, pki.hashes.SHA256()))
    cert = pki.sign_csr(ca, as_ca, lambda s: None)
    assert not ext(cert, x509.BasicConstraints).ca  # never copied from the request


def test_weak_or_garbled_csrs_are_refused(ca: pki.CertKey) -> None:
    weak = pki.create_csr(rsa.generate_private_key(65537, 1024), "alice")
    with pytest.raises(pki.CSRRefused, match="1024 bits, at least 2048"):
        pki.sign_csr(ca, weak, lambda s: None)
    with pytest.raises(pki.CSRRefused, match="not a PEM certificate signing request"):
        pki.sign_csr(ca, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                     lambda s: None)
    nameless = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(
        pki.new_private_key(), pki.hashes.SHA256())
    with pytest.raises(pki.CSRRefused, match="exactly one common name"):
        pki.sign_csr(ca, nameless, lambda s: None)


def test_a_csr_with_a_broken_signature_is_refused(ca: pki.CertKey) -> None:
    der = bytearray(pki.create_csr(pki.new_private_key(), "alice").public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature
    try:
        broken = x509.load_der_x509_csr(bytes(der))
    except ValueError:
        pytest.skip("this flip made the DER unreadable rather than the signature wrong")
    with pytest.raises(pki.CSRRefused, match="signature is invalid"):
        pki.sign_csr(ca, broken, lambda s: None)


def test_ca_hash_is_kubeadms_pin(ca: pki.CertKey, tmp_path: Path) -> None:
    pin = pki.ca_hash(ca.cert)
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", pin)
    assert pki.ca_hash(pki.load_cert_pem(ca.cert_pem())) == pin  # stable across a round trip
    reissued = pki.create_ca(key=ca.key, now=NOW + datetime.timedelta(days=1))
    assert pki.ca_hash(reissued.cert) == pin  # the key is pinned, not the certificate
    assert pki.ca_hash(pki.create_ca(now=NOW).cert) != pin
    if shutil.which("openssl"):  # kubeadm's documented command gives the same
        (tmp_path / "ca.crt").write_bytes(ca.cert_pem())
        pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(tmp_path / "ca.crt")],
                             check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                             check=True, capture_output=True).stdout
        digest = subprocess.run(["openssl", "dgst", "-sha256", "-hex"], input=der,
                                check=True, capture_output=True).stdout.decode()
        assert pin == "sha256:" + digest.split()[-1]


def test_a_node_serving_csr_gets_only_the_nodes_own_addresses(ca: pki.CertKey) -> None:
    key = pki.new_private_key()
    policy = pki.node_serving_policy("n1", ips=["10.0.0.11"], dns_names=["n1"])
    csr = pki.create_csr(key, "system:node:n1", ["system:nodes"], ips=["10.0.0.11"], dns_names=["n1"])
    cert = pki.sign_csr(ca, csr, policy, usage=pki.SERVER, now=NOW)
    sans = ext(cert, x509.SubjectAlternativeName)
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.11")]
    assert sans.get_values_for_type(x509.DNSName) == ["n1"]
    assert list(ext(cert, x509.ExtendedKeyUsage)) == [ExtendedKeyUsageOID.SERVER_AUTH]
    grabby = pki.create_csr(key, "system:node:n1", ["system:nodes"], ips=["10.0.0.11", "127.0.0.1"],
                            dns_names=["kubernetes"])
    with pytest.raises(pki.CSRRefused, match="subjectAltNames 127.0.0.1, kubernetes are not addresses of node n1"):
        pki.sign_csr(ca, grabby, policy, usage=pki.SERVER)
    with pytest.raises(pki.CSRRefused, match="must name at least one IP or DNS"):
        pki.sign_csr(ca, pki.create_csr(key, "system:node:n1", ["system:nodes"]), policy, usage=pki.SERVER)
    with pytest.raises(pki.CSRRefused, match='"system:node:n2" is not "system:node:n1"'):
        pki.sign_csr(ca, pki.create_csr(key, "system:node:n2", ["system:nodes"], ips=["10.0.0.11"]), policy,
                     usage=pki.SERVER)
    email = (x509.CertificateSigningRequestBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "system:node:n1")]))
             .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("a@b.c")]), critical=False)
             .sign(key, pki.hashes.SHA256()))
    with pytest.raises(pki.CSRRefused, match="only IP and DNS subjectAltNames"):
        pki.sign_csr(ca, email, policy, usage=pki.SERVER)
