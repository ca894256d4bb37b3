"""The cluster CA and its certificates (kubeadm's ``pkiutil``, ``cryptography`` inside).

Keys are ECDSA P-256 (kubeadm's ``encryptionAlgorithm: ECDSA-P256``), not RSA-2048:
a P-256 signature costs the TLS handshake tens of microseconds where an RSA-2048 one
costs about a millisecond (the handshake p99 target is 20 ms, and many nodes reconnect
at once after an apiserver restart), a key is made in well under a millisecond where an
RSA-2048 key takes ~0.1 s (``pykube up`` makes one per component, every join one more),
and the PEMs inlined in a kubeconfig stay short. gRPC (BoringSSL), kubectl and Go all
accept it. CSRs from others may still carry RSA (2048 bits or more) or P-256/P-384 keys.

* ``create_ca``: self-signed, CA:TRUE, keyUsage keyCertSign (+ cRLSign, digitalSignature);
  10 years, like kubeadm's CA.
* ``issue_serving_cert`` / ``issue_client_cert``: leaf certificates (1 year by default,
  like kubeadm's): serving ones carry the SANs clients verify (IPs and DNS names) and
  extendedKeyUsage serverAuth; client ones carry the identity (CN = user, one O per group)
  and clientAuth. NotBefore is backdated 5 minutes for clock skew between machines, as
  Kubernetes' CSR signer does.
* ``create_csr`` / ``sign_csr``: a node asks for a certificate with a CSR; the signer
  checks its signature and asks a policy callback whether this subject may be signed.
  Only the CN and O of the request (and, for a serving certificate, its IP and DNS SANs,
  which the policy sees too) reach the certificate; nothing else a CSR asks for
  (extensions, CA:TRUE, other SAN types) is ever copied.
* ``ca_hash``: kubeadm's ``--discovery-token-ca-cert-hash``: ``sha256:`` + the hex SHA-256
  of the CA's DER SubjectPublicKeyInfo.
* Files: certificates 0644, keys 0600 from the moment they exist (``client.files``).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apimachinery.identity import KUBE_PROXY_USER
from apimachinery.identity import identity_from_cert  # noqa: F401  (re-exported: pki's callers want it here)
from client.files import write_atomic

PrivateKey = Union[ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
IPLike = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address]

CA_VALIDITY = datetime.timedelta(days=3650)
CERT_VALIDITY = datetime.timedelta(days=365)
BACKDATE = datetime.timedelta(minutes=5)
DEFAULT_CA_NAME = "pykube-ca"
SERVER, CLIENT = "server", "client"
_EKU = {SERVER: ExtendedKeyUsageOID.SERVER_AUTH, CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH}
_ACCEPTED_CURVES = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048


class PKIError(ValueError):
    """A certificate, key or request is unusable; the message says which and why."""


class CSRRefused(PKIError):
    """The signer will not sign this request (bad signature, weak key, or the policy said no)."""


@dataclass(frozen=True)
class CertKey:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    def key_pem(self) -> bytes:
        return key_pem(self.key)


@dataclass(frozen=True)
class CSRSubject:
    """What a CSR asks to be called: its Common Name and Organizations (user and groups),
    and the IP and DNS subjectAltNames it asks for (a serving certificate's names)."""

    common_name: str
    organizations: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()


# None: sign it; a string: why not (the refusal's message).
CSRPolicy = Callable[[CSRSubject], "str | None"]


def new_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _now(now: datetime.datetime | None) -> datetime.datetime:
    return now if now is not None else datetime.datetime.now(datetime.timezone.utc)


def _name(common_name: str, organizations: Iterable[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, digital_signature: bool, key_encipherment: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=key_encipherment,
        data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
        encipher_only=False, decipher_only=False)


def create_ca(common_name: str = DEFAULT_CA_NAME, *, validity: datetime.timedelta = CA_VALIDITY,
              now: datetime.datetime | None = None, key: PrivateKey | None = None) -> CertKey:
    """A new self-signed cluster CA."""
    key = key or new_private_key()
    start = _now(now)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE).not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=False, cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKey(cert, key)


def _leaf(ca: CertKey, subject: x509.Name, public_key, usage: str, validity: datetime.timedelta,
          now: datetime.datetime | None, sans: list[x509.GeneralName]) -> x509.Certificate:
    start = _now(now)
    not_after = min(start + validity, ca.cert.not_valid_after_utc)  # never outlive the CA
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca.cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_encipherment=isinstance(public_key, rsa.RSAPublicKey),
                                  cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([_EKU[usage]]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca.key, hashes.SHA256())


def issue_serving_cert(ca: CertKey, common_name: str, *, ips: Iterable[IPLike] = (),
                       dns_names: Iterable[str] = (), validity: datetime.timedelta = CERT_VALIDITY,
                       now: datetime.datetime | None = None, key: PrivateKey | None = None) -> CertKey:
    """A server's certificate: clients dialling any of ``ips`` / ``dns_names`` accept it."""
    sans = _sans(ips, dns_names)
    if not sans:
        raise PKIError(f'serving certificate "{common_name}" needs at least one IP or DNS name')
    key = key or new_private_key()
    return CertKey(_leaf(ca, _name(common_name), key.public_key(), SERVER, validity, now, sans), key)


def issue_client_cert(ca: CertKey, user: str, groups: Iterable[str] = (), *,
                      validity: datetime.timedelta = CERT_VALIDITY, now: datetime.datetime | None = None,
                      key: PrivateKey | None = None) -> CertKey:
    """A client's certificate naming ``user`` (CN) in ``groups`` (one O each)."""
    if not user:
        raise PKIError("a client certificate needs a user name")
    key = key or new_private_key()
    return CertKey(_leaf(ca, _name(user, groups), key.public_key(), CLIENT, validity, now, []), key)


# --- certificate signing requests -------------------------------------------------------

def _sans(ips: Iterable[IPLike], dns_names: Iterable[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in dict.fromkeys(ips)]
    return sans + [x509.DNSName(d) for d in dict.fromkeys(dns_names)]


def create_csr(key: PrivateKey, common_name: str, organizations: Iterable[str] = (), *,
               ips: Iterable[IPLike] = (), dns_names: Iterable[str] = ()) -> x509.CertificateSigningRequest:
    """A request for ``CN=common_name, O=organizations``; with ``ips``/``dns_names`` for a
    serving certificate."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(_name(common_name, organizations))
    sans = _sans(ips, dns_names)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256())


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(pem: bytes) -> x509.CertificateSigningRequest:
    try:
        return x509.load_pem_x509_csr(pem)
    except ValueError as err:
        raise CSRRefused(f"not a PEM certificate signing request: {err}") from None


def csr_subject(csr: x509.CertificateSigningRequest) -> CSRSubject:
    def values(oid: x509.ObjectIdentifier) -> tuple[str, ...]:
        return tuple(str(a.value) for a in csr.subject.get_attributes_for_oid(oid))

    names = values(NameOID.COMMON_NAME)
    if len(names) != 1 or not names[0]:
        raise CSRRefused("the CSR's subject must have exactly one common name")
    try:
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return CSRSubject(names[0], values(NameOID.ORGANIZATION_NAME))
    if any(not isinstance(name, (x509.IPAddress, x509.DNSName)) for name in sans):
        raise CSRRefused("only IP and DNS subjectAltNames may be requested")  # no email, URI, other names
    return CSRSubject(names[0], values(NameOID.ORGANIZATION_NAME),
                      tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)),
                      tuple(sans.get_values_for_type(x509.DNSName)))


def _check_csr_key(csr: x509.CertificateSigningRequest) -> None:
    public_key = csr.public_key()
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, _ACCEPTED_CURVES):
            raise CSRRefused(f"the CSR's key uses the unsupported curve {public_key.curve.name}")
    elif isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise CSRRefused(f"the CSR's RSA key has {public_key.key_size} bits, at least {MIN_RSA_BITS} are needed")
    else:
        raise CSRRefused(f"the CSR's key type {type(public_key).__name__} is not supported")


def sign_csr(ca: CertKey, csr: x509.CertificateSigningRequest | bytes, policy: CSRPolicy, *,
             usage: str = CLIENT, validity: datetime.timedelta = CERT_VALIDITY,
             now: datetime.datetime | None = None) -> x509.Certificate:
    """Sign ``csr`` if its signature holds, its key is acceptable and ``policy`` allows its
    subject; raises CSRRefused otherwise. A client certificate request must not ask for
    subjectAltNames (as Kubernetes' kubelet client signer requires); a serving one must ask
    for at least one."""
    if isinstance(csr, bytes):
        csr = load_csr(csr)
    if not csr.is_signature_valid:
        raise CSRRefused("the CSR's signature is invalid")
    _check_csr_key(csr)
    if usage not in _EKU:
        raise ValueError(f"usage must be {CLIENT!r} or {SERVER!r}, not {usage!r}")
    subject = csr_subject(csr)
    has_sans = bool(subject.ips or subject.dns_names)
    if usage == CLIENT and has_sans:
        raise CSRRefused("subjectAltNames are not allowed in a client certificate request")
    if usage == SERVER and not has_sans:
        raise CSRRefused("a serving certificate request must name at least one IP or DNS subjectAltName")
    reason = policy(subject)
    if reason is not None:
        raise CSRRefused(reason)
    sans = _sans(subject.ips, subject.dns_names) if usage == SERVER else []
    return _leaf(ca, _name(subject.common_name, subject.organizations), csr.public_key(), usage, validity, now, sans)


def node_client_policy(node_name: str) -> CSRPolicy:
    """Sign only ``CN=system:node:<node_name>, O=system:nodes``: a joining kubelet gets a
    certificate for the node it said it is, never another's (nor a wider group)."""
    want = f"system:node:{node_name}"

    def policy(subject: CSRSubject) -> str | None:
        if subject.organizations != ("system:nodes",):
            return "subject organization is not system:nodes"
        if subject.common_name != want:
            return f'subject common name "{subject.common_name}" is not "{want}"'
        return None

    return policy


def node_serving_policy(node_name: str, ips: Iterable[IPLike] = (), dns_names: Iterable[str] = ()) -> CSRPolicy:
    """A kubelet's serving certificate (Kubernetes' kubelet-serving signer): the node's own
    subject, and only names the caller knows to be the node's (its addresses, its name)."""
    client_rule = node_client_policy(node_name)
    allowed_ips = {ipaddress.ip_address(ip) for ip in ips}
    allowed_dns = set(dns_names)

    def policy(subject: CSRSubject) -> str | None:
        reason = client_rule(subject)
        if reason is not None:
            return reason
        extra_ips = [ip for ip in subject.ips if ipaddress.ip_address(ip) not in allowed_ips]
        extra_dns = [d for d in subject.dns_names if d not in allowed_dns]
        if extra_ips or extra_dns:
            return f"subjectAltNames {', '.join([*extra_ips, *extra_dns])} are not addresses of node {node_name}"
        return None

    return policy


def kube_proxy_policy() -> CSRPolicy:
    """Sign only ``CN=system:kube-proxy`` with no organization: the user Kubernetes binds to
    ``system:node-proxier`` (what a k3s agent gets for its kube-proxy with the node token)."""
    def policy(subject: CSRSubject) -> str | None:
        if subject.organizations:
            return "a kube-proxy certificate request must not name an organization"
        if subject.common_name != KUBE_PROXY_USER:
            return f'subject common name "{subject.common_name}" is not "{KUBE_PROXY_USER}"'
        return None

    return policy


# --- identity, hashes, validity -----------------------------------------------------------

def ca_hash(ca_cert: x509.Certificate) -> str:
    """kubeadm's CA pin: ``sha256:<hex of SHA-256 over the DER SubjectPublicKeyInfo>``."""
    spki = ca_cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def validity_problem(cert: x509.Certificate, now: datetime.datetime | None = None) -> str | None:
    """Go's wording when ``cert`` is not valid at ``now``; None while it is."""
    at = _now(now)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    if at < cert.not_valid_before_utc:
        return (f"x509: certificate has expired or is not yet valid: current time {at:{stamp}} "
                f"is before {cert.not_valid_before_utc:{stamp}}")
    if at > cert.not_valid_after_utc:
        return (f"x509: certificate has expired or is not yet valid: current time {at:{stamp}} "
                f"is after {cert.not_valid_after_utc:{stamp}}")
    return None


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """True when ``ca_cert``'s key signed ``cert`` (signature and issuer name; not dates)."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


# --- PEM and files ------------------------------------------------------------------------

def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_cert_pem(pem: bytes, source: str = "certificate") -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as err:
        raise PKIError(f"{source} is not a PEM certificate: {err}") from None


def load_key_pem(pem: bytes, source: str = "key") -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as err:
        raise PKIError(f"{source} is not an unencrypted PEM private key: {err}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise PKIError(f"{source}: unsupported key type {type(key).__name__}")
    return key


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise PKIError(f"cannot read {what} {path}: {err.strerror}") from None


def write_cert(path: str | os.PathLike, cert: x509.Certificate) -> None:
    write_atomic(path, cert_pem(cert), 0o644)


def write_key(path: str | os.PathLike, key: PrivateKey) -> None:
    write_atomic(path, key_pem(key), 0o600)


def write_cert_key(directory: str | os.PathLike, name: str, pair: CertKey) -> tuple[Path, Path]:
    """``<dir>/<name>.crt`` (0644) and ``<dir>/<name>.key`` (0600), kubeadm's file names."""
    cert_path, key_path = Path(directory) / f"{name}.crt", Path(directory) / f"{name}.key"
    write_key(key_path, pair.key)  # the key first: a .crt without its .key is never mistaken for a pair
    write_cert(cert_path, pair.cert)
    return cert_path, key_path


def load_cert(path: str | os.PathLike) -> x509.Certificate:
    return load_cert_pem(_read(Path(path), "certificate"), f"certificate {path}")


def load_key(path: str | os.PathLike) -> PrivateKey:
    return load_key_pem(_read(Path(path), "key"), f"key {path}")


def load_cert_key(directory: str | os.PathLike, name: str) -> CertKey:
    """Read ``<dir>/<name>.crt`` and ``.key``, checking that the key belongs to the certificate."""
    cert = load_cert(Path(directory) / f"{name}.crt")
    key = load_key(Path(directory) / f"{name}.key")
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (cert.public_key().public_bytes(serialization.Encoding.DER, public)
            != key.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise PKIError(f"{Path(directory) / f'{name}.key'} is not the key of {Path(directory) / f'{name}.crt'}")
    return CertKey(cert, key)


def load_or_create_ca(directory: str | os.PathLike, name: str = "ca",
                      common_name: str = DEFAULT_CA_NAME) -> tuple[CertKey, bool]:
    """The CA in ``<dir>/<name>.crt|.key``, created when neither exists; (ca, created)."""
    directory = Path(directory)
    if (directory / f"{name}.crt").exists() or (directory / f"{name}.key").exists():
        return load_cert_key(directory, name), False
    ca = create_ca(common_name)
    write_cert_key(directory, name, ca)
    return ca, True
