"""Join tokens: Kubernetes' bootstrap tokens, and the string ``pykube token create`` prints.

A bootstrap token is ``<id>.<secret>`` (``[a-z0-9]{6}.[a-z0-9]{16}``); the id is public
(it names the token), the secret is what proves possession. The apiserver keeps a record
per token with Kubernetes' bootstrap-token Secret fields (``token-id``, ``token-secret``,
``expiration`` in RFC 3339, ``auth-extra-groups``); a presented token authenticates as
``system:bootstrap:<id>`` in ``system:bootstrappers`` (plus the record's extra groups), as
Kubernetes' bootstrap token authenticator does. Secrets are compared in constant time.

The join token pins the cluster CA, k3s-style, in one string::

    K10<hex>::<id>.<secret>

where ``<hex>`` is the hex of kubeadm's ``--discovery-token-ca-cert-hash sha256:<hex>`` (the
SHA-256 of the CA's SubjectPublicKeyInfo). ``pykubelet --server … --token K10…`` therefore
needs nothing else: it learns the CA from the server (``client.ca_discovery``), accepts it
only if its key hashes to the pin, and from then on verifies the server against it. A bare
``<id>.<secret>`` is read too (no pin), for a caller that is given ``--ca-cert-hash`` apart.
"""

from __future__ import annotations

import datetime
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography import x509

from apimachinery.identity import UserInfo, authenticated_user
from client.pki import ca_hash, issued_by

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
TOKEN_PATTERN = r"^([a-z0-9]{6})\.([a-z0-9]{16})$"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
_HASH_RE = re.compile(r"^sha256:([0-9a-f]{64})$")
JOIN_PREFIX = "K10"
DEFAULT_TTL = datetime.timedelta(hours=24)  # kubeadm token create's default
BOOTSTRAP_USER_PREFIX = "system:bootstrap:"
BOOTSTRAPPERS_GROUP = "system:bootstrappers"
DEFAULT_NODE_TOKEN_GROUP = "system:bootstrappers:pykube:default-node-token"


class TokenError(ValueError):
    """A token or join string is malformed, or a presented token is not accepted."""


class CAPinMismatch(TokenError):
    """The server's CA is not the one the join token pins."""


@dataclass(frozen=True)
class BootstrapToken:
    id: str
    secret: str

    def __str__(self) -> str:
        return f"{self.id}.{self.secret}"

    def __repr__(self) -> str:  # never print the secret by accident (logs, tracebacks)
        return f"BootstrapToken(id={self.id!r}, secret=<redacted>)"


def generate_token() -> BootstrapToken:
    pick = secrets.choice
    return BootstrapToken("".join(pick(ALPHABET) for _ in range(6)), "".join(pick(ALPHABET) for _ in range(16)))


def parse_token(text: str) -> BootstrapToken:
    """``<id>.<secret>``; kubeadm's message when it is not of that form."""
    match = _TOKEN_RE.match(text)
    if match is None:
        raise TokenError(f'the bootstrap token "{_redact(text)}" was not of the form "{TOKEN_PATTERN}"')
    return BootstrapToken(match.group(1), match.group(2))


def _redact(text: str) -> str:
    """A malformed token may still be mostly secret: show its id part only."""
    head, sep, _ = text.partition(".")
    return f"{head}.<redacted>" if sep else text[:6] + ("…" if len(text) > 6 else "")


# --- join strings: the token plus the CA pin --------------------------------------------------

@dataclass(frozen=True)
class JoinToken:
    token: BootstrapToken
    ca_hash: str | None  # "sha256:<hex>", or None for a bare token (no pin)

    def __str__(self) -> str:
        return format_join_token(self.ca_hash, self.token) if self.ca_hash else str(self.token)


def check_ca_hash_format(value: str) -> str:
    if not _HASH_RE.match(value):
        raise TokenError(f'invalid CA hash "{value}": expected "sha256:" followed by 64 lower-case hex digits')
    return value


def format_join_token(pinned_ca_hash: str, token: BootstrapToken) -> str:
    hex_digest = check_ca_hash_format(pinned_ca_hash).removeprefix("sha256:")
    return f"{JOIN_PREFIX}{hex_digest}::{token}"


def parse_join_token(text: str) -> JoinToken:
    """``K10<hex>::<id>.<secret>`` or a bare ``<id>.<secret>``."""
    text = text.strip()
    if text.startswith(JOIN_PREFIX) and "::" in text:
        pin, _, rest = text[len(JOIN_PREFIX):].partition("::")
        return JoinToken(parse_token(rest), check_ca_hash_format(f"sha256:{pin.lower()}"))
    if "::" in text:
        raise TokenError(f'a join token with a CA pin starts with "{JOIN_PREFIX}" (got "{_redact(text)}")')
    return JoinToken(parse_token(text), None)


def join_command(server: str, join: JoinToken, node_name: str | None = None) -> str:
    """What ``pykube token create`` prints for a worker to run."""
    name = f" --node-name {node_name}" if node_name else ""
    return f"pykubelet --server {server} --token {join}{name}"


def check_ca_pin(ca_cert: x509.Certificate, pinned: str) -> None:
    """Raise CAPinMismatch unless ``ca_cert``'s key hashes to ``pinned`` (kubeadm's wording)."""
    actual = ca_hash(ca_cert)
    if not hmac.compare_digest(actual, pinned.lower()):
        raise CAPinMismatch(f'cluster CA found on the server is invalid: none of the public keys "{actual}" '
                            f"are pinned (the join token pins {pinned})")


def pick_pinned_ca(chain: Iterable[x509.Certificate], pinned: str) -> x509.Certificate:
    """From the certificates a server presented (unverified), the CA the pin names: its key
    hashes to ``pinned`` and it signed itself. The caller then verifies the server against it
    in a real TLS handshake, so presenting the right CA with a wrong leaf gets a joiner nowhere."""
    seen = []
    for cert in chain:
        actual = ca_hash(cert)
        seen.append(actual)
        if hmac.compare_digest(actual, pinned.lower()) and issued_by(cert, cert):
            return cert
    raise CAPinMismatch(f'cluster CA found on the server is invalid: none of the public keys '
                        f'"{", ".join(seen) or "(none)"}" are pinned (the join token pins {pinned})')


# --- the apiserver's token records -----------------------------------------------------------

@dataclass(frozen=True)
class TokenRecord:
    """One token as the apiserver keeps it (a bootstrap-token Secret's fields)."""

    token_id: str
    secret: str
    expiration: datetime.datetime | None  # None: never expires (kubeadm --ttl 0)
    description: str = ""
    extra_groups: tuple[str, ...] = (DEFAULT_NODE_TOKEN_GROUP,)

    def __repr__(self) -> str:
        return (f"TokenRecord(token_id={self.token_id!r}, secret=<redacted>, expiration={self.expiration!r}, "
                f"description={self.description!r}, extra_groups={self.extra_groups!r})")

    @property
    def token(self) -> BootstrapToken:
        return BootstrapToken(self.token_id, self.secret)

    def expired(self, now: datetime.datetime) -> bool:
        return self.expiration is not None and now >= self.expiration

    def to_data(self) -> dict[str, str]:
        """Kubernetes' bootstrap-token Secret ``data`` keys (string values)."""
        data = {"token-id": self.token_id, "token-secret": self.secret, "usage-bootstrap-authentication": "true"}
        if self.expiration is not None:
            data["expiration"] = self.expiration.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.description:
            data["description"] = self.description
        if self.extra_groups:
            data["auth-extra-groups"] = ",".join(self.extra_groups)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, str]) -> TokenRecord:
        token = parse_token(f"{data.get('token-id', '')}.{data.get('token-secret', '')}")
        expiration = None
        if data.get("expiration"):
            try:
                expiration = datetime.datetime.fromisoformat(data["expiration"].replace("Z", "+00:00"))
            except ValueError:
                raise TokenError(f'token {token.id}: invalid expiration "{data["expiration"]}"') from None
            if expiration.tzinfo is None:
                raise TokenError(f'token {token.id}: expiration "{data["expiration"]}" has no time zone')
        groups = tuple(g for g in data.get("auth-extra-groups", "").split(",") if g)
        return cls(token.id, token.secret, expiration, data.get("description", ""), groups)


def new_token_record(now: datetime.datetime, ttl: datetime.timedelta | None = DEFAULT_TTL, *,
                     description: str = "", extra_groups: tuple[str, ...] = (DEFAULT_NODE_TOKEN_GROUP,),
                     token: BootstrapToken | None = None) -> TokenRecord:
    """A fresh token valid for ``ttl`` from ``now`` (None or zero: forever, like kubeadm's --ttl 0)."""
    token = token or generate_token()
    expiration = now + ttl if ttl else None
    return TokenRecord(token.id, token.secret, expiration, description, extra_groups)


def authenticate_token(records: Mapping[str, TokenRecord], presented: str, now: datetime.datetime) -> UserInfo:
    """The user a presented bootstrap token authenticates as; TokenError says why not.

    The reason is for the server's log; a client is told only that it is unauthenticated
    (as Kubernetes answers 401 without saying whether the id or the secret was wrong).
    """
    token = parse_token(presented)
    record = records.get(token.id)
    # Compare against a dummy when the id is unknown, so the time taken does not tell.
    expected = record.secret if record is not None else "0" * 16
    matches = hmac.compare_digest(expected.encode(), token.secret.encode())
    if record is None or not matches:
        raise TokenError(f"bootstrap token {token.id}: no such token or the secret does not match")
    if record.expired(now):
        raise TokenError(f"bootstrap token {token.id}: expired at {record.to_data()['expiration']}")
    return authenticated_user(f"{BOOTSTRAP_USER_PREFIX}{token.id}", (BOOTSTRAPPERS_GROUP, *record.extra_groups))
