"""Join tokens (client/bootstrap_token.py): the format, the pinned CA, expiry, and the
token authenticator's answers."""

from __future__ import annotations

import datetime
import hmac
import re

import pytest

from apimachinery.identity import UserInfo
from client import bootstrap_token as bt
from client import pki

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)
TOKEN = bt.BootstrapToken("abcdef", "0123456789abcdef")


@pytest.fixture(scope="module")
def ca() -> pki.CertKey:
    return pki.create_ca(now=NOW)


def test_generated_tokens_have_kubernetes_form() -> None:
    tokens = {str(bt.generate_token()) for _ in range(20)}
    assert len(tokens) == 20
    assert all(re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", t) for t in tokens)
    assert bt.parse_token("abcdef.0123456789abcdef") == TOKEN


@pytest.mark.parametrize("text", ["", "abcdef", "abcdef.0123456789abcde", "ABCDEF.0123456789abcdef",
                                  "abcdef.0123456789abcdef0", "abc-ef.0123456789abcdef", " abcdef.0123456789abcdef"])
def test_malformed_tokens_get_kubeadms_message_without_the_secret(text: str) -> None:
    with pytest.raises(bt.TokenError, match=re.escape('was not of the form "^([a-z0-9]{6})\\.([a-z0-9]{16})$"')) as err:
        bt.parse_token(text)
    secret = text.partition(".")[2]
    assert not secret or secret not in str(err.value)


def test_the_secret_stays_out_of_reprs() -> None:
    assert "0123456789abcdef" not in repr(TOKEN)
    record = bt.new_token_record(NOW, token=TOKEN)
    assert "0123456789abcdef" not in repr(record)


def test_join_token_round_trip_pins_the_ca(ca: pki.CertKey) -> None:
    pin = pki.ca_hash(ca.cert)
    text = bt.format_join_token(pin, TOKEN)
    assert text == f"K10{pin.removeprefix('sha256:')}::abcdef.0123456789abcdef"
    parsed = bt.parse_join_token(text)
    assert parsed == bt.JoinToken(TOKEN, pin) and str(parsed) == text
    upper = "K10" + pin.removeprefix("sha256:").upper() + "::abcdef.0123456789abcdef"
    assert bt.parse_join_token(upper).ca_hash == pin  # hex case does not matter
    assert bt.parse_join_token("abcdef.0123456789abcdef") == bt.JoinToken(TOKEN, None)
    assert bt.join_command("10.0.0.2:6443", parsed, "n1") == \
        f"pykubelet --server 10.0.0.2:6443 --token {text} --node-name n1"


@pytest.mark.parametrize("text", ["K10abc::abcdef.0123456789abcdef", "X10" + "a" * 64 + "::abcdef.0123456789abcdef",
                                  "K10" + "g" * 64 + "::abcdef.0123456789abcdef", "K10" + "a" * 64 + "::nope"])
def test_malformed_join_tokens_are_refused(text: str) -> None:
    with pytest.raises(bt.TokenError):
        bt.parse_join_token(text)


def test_a_ca_with_another_key_does_not_match_the_pin(ca: pki.CertKey) -> None:
    pin = pki.ca_hash(ca.cert)
    bt.check_ca_pin(ca.cert, pin)
    other = pki.create_ca(now=NOW)
    with pytest.raises(bt.CAPinMismatch, match=re.escape(f'none of the public keys "{pki.ca_hash(other.cert)}" '
                                                         f"are pinned")):
        bt.check_ca_pin(other.cert, pin)


def test_the_pinned_ca_is_picked_from_a_presented_chain(ca: pki.CertKey) -> None:
    pin = pki.ca_hash(ca.cert)
    leaf = pki.issue_serving_cert(ca, "apiserver", ips=["127.0.0.1"], now=NOW).cert
    assert bt.pick_pinned_ca([leaf, ca.cert], pin) == ca.cert
    with pytest.raises(bt.CAPinMismatch):
        bt.pick_pinned_ca([leaf], pin)  # a server that does not present its CA
    other = pki.create_ca(now=NOW)
    with pytest.raises(bt.CAPinMismatch):
        bt.pick_pinned_ca([pki.issue_serving_cert(other, "x", ips=["127.0.0.1"]).cert, other.cert], pin)


def test_a_forged_ca_certificate_with_the_pinned_key_but_not_its_signature_is_refused(ca: pki.CertKey) -> None:
    """Someone without the CA key can put its public key in a certificate signed by another key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    forged = (x509.CertificateBuilder().subject_name(ca.cert.subject).issuer_name(ca.cert.subject)
              .public_key(ca.key.public_key()).serial_number(1)
              .not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
              .sign(pki.new_private_key(), hashes.SHA256()))
    assert pki.ca_hash(forged) == pki.ca_hash(ca.cert)
    with pytest.raises(bt.CAPinMismatch):
        bt.pick_pinned_ca([forged], pki.ca_hash(ca.cert))


def test_token_records_expire_and_round_trip_as_secret_data() -> None:
    record = bt.new_token_record(NOW, datetime.timedelta(hours=2), token=TOKEN, description="for n1")
    assert not record.expired(NOW + datetime.timedelta(hours=1, minutes=59))
    assert record.expired(NOW + datetime.timedelta(hours=2))
    data = record.to_data()
    assert data == {"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true",
                    "expiration": "2026-06-01T14:00:00Z", "description": "for n1",
                    "auth-extra-groups": "system:bootstrappers:pykube:default-node-token"}
    assert bt.TokenRecord.from_data(data) == record
    forever = bt.new_token_record(NOW, None, token=TOKEN)
    assert forever.expiration is None and not forever.expired(NOW + datetime.timedelta(days=10000))
    assert bt.new_token_record(NOW, datetime.timedelta(0)).expiration is None  # --ttl 0, as kubeadm
    with pytest.raises(bt.TokenError, match="invalid expiration"):
        bt.TokenRecord.from_data({**data, "expiration": "soon"})


def test_a_valid_token_authenticates_as_a_bootstrapper() -> None:
    records = {"abcdef": bt.new_token_record(NOW, token=TOKEN)}
    user = bt.authenticate_token(records, "abcdef.0123456789abcdef", NOW)
    assert user == UserInfo("system:bootstrap:abcdef", ("system:bootstrappers",
                                                        "system:bootstrappers:pykube:default-node-token",
                                                        "system:authenticated"))


@pytest.mark.parametrize(("presented", "later", "reason"), [
    ("abcdef.0123456789abcdee", 0, "no such token or the secret does not match"),
    ("zzzzzz.0123456789abcdef", 0, "no such token or the secret does not match"),
    ("abcdef.0123456789abcdef", 25, "expired at 2026-06-02T12:00:00Z"),
    ("abcdef", 0, "was not of the form"),
])
def test_wrong_unknown_expired_or_malformed_tokens_are_refused(presented: str, later: int, reason: str) -> None:
    records = {"abcdef": bt.new_token_record(NOW, token=TOKEN)}
    with pytest.raises(bt.TokenError, match=re.escape(reason)):
        bt.authenticate_token(records, presented, NOW + datetime.timedelta(hours=later))


def test_secrets_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every comparison of a secret goes through hmac.compare_digest, also for an unknown id."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):  # noqa: ANN001
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(bt.hmac, "compare_digest", spy)
    records = {"abcdef": bt.new_token_record(NOW, token=TOKEN)}
    with pytest.raises(bt.TokenError):
        bt.authenticate_token(records, "abcdef.xxxxxxxxxxxxxxxx", NOW)
    with pytest.raises(bt.TokenError):
        bt.authenticate_token(records, "qqqqqq.0123456789abcdef", NOW)
    assert calls == [(b"0123456789abcdef", b"xxxxxxxxxxxxxxxx"), (b"0" * 16, b"0123456789abcdef")]
