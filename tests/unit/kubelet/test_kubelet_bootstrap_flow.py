"""The kubelet's token join (kubelet/bootstrap.py) against a real bootstrap listener
(apiserver/bootstrap.py on component_base.tls.bootstrap_server) on 127.0.0.1, in process:
learn the CA by the pin, trade token + CSR for a certificate, keep it (key 0600), and on a
restart use it without joining again; a wrong pin, an expired or unknown token, a refusal:
one clear line (and pykubelet exits 1)."""

from __future__ import annotations

import asyncio
import datetime
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from apiserver.bootstrap import JoinHandler, start_listener
from client import bootstrap_token as bt
from client import pki
from client.connection import TLSConfig
from client.token_store import StoredToken, TokenStore
from kubelet import bootstrap

REPO = Path(__file__).resolve().parents[3]
NOW = datetime.datetime.now(datetime.timezone.utc)
TOKEN = bt.BootstrapToken("abcdef", "0123456789abcdef")
OLD = bt.BootstrapToken("oooooo", "0123456789abcdef")


class Listener:
    """The bootstrap listener on an event loop in a thread."""

    def __init__(self, root: Path) -> None:
        self.ca = pki.create_ca()
        serving = pki.issue_serving_cert(self.ca, "kube-apiserver", ips=["127.0.0.1"])
        self.cert_file, self.key_file = pki.write_cert_key(root, "apiserver", serving)
        self.tokens = TokenStore(root / "tokens.json")
        self.tokens.add(StoredToken(bt.new_token_record(NOW, token=TOKEN)))
        self.tokens.add(StoredToken(bt.new_token_record(NOW - datetime.timedelta(days=2), token=OLD)))
        self.ready: set[str] = set()
        self.handler = JoinHandler(self.ca, self.tokens, lambda name: name in self.ready)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server, self.port = self.run(self._start())
        self.address = f"127.0.0.1:{self.port}"

    async def _start(self):
        server, port = start_listener("127.0.0.1:0", self.handler, str(self.cert_file), str(self.key_file))
        await server.start()
        return server, port

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def join_string(self, token: bt.BootstrapToken = TOKEN, ca: pki.CertKey | None = None) -> str:
        return bt.format_join_token(pki.ca_hash((ca or self.ca).cert), token)

    def stop(self) -> None:
        self.run(self.server.stop(None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def listener(tmp_path):
    running = Listener(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def test_a_kubelet_joins_keeps_its_key_private_and_does_not_join_again(listener, tmp_path) -> None:
    cert_dir = tmp_path / "kubelet" / "pki"
    tls, joined = bootstrap.client_credentials(cert_dir, "n1", listener.join_string(), listener.address)
    assert joined
    cert = pki.load_cert_pem(tls.cert_pem)
    assert pki.identity_from_cert(cert).name == "system:node:n1"
    assert pki.issued_by(cert, listener.ca.cert) and tls.ca_pem == listener.ca.cert_pem()
    assert stat.S_IMODE(os.stat(cert_dir / "kubelet-client.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cert_dir).st_mode) == 0o700
    assert (cert_dir / "ca.crt").read_bytes() == listener.ca.cert_pem()
    listener.tokens.delete("abcdef")  # the token is gone (or expired): a restart still works
    again, joined = bootstrap.client_credentials(cert_dir, "n1", listener.join_string(), listener.address)
    assert not joined and again == tls


def test_a_cert_dir_for_another_node_or_cluster_means_joining_again(listener, tmp_path) -> None:
    cert_dir = tmp_path / "pki"
    bootstrap.client_credentials(cert_dir, "n1", listener.join_string(), listener.address)
    pinned = bt.parse_join_token(listener.join_string()).ca_hash
    assert bootstrap.existing_credentials(cert_dir, "n1", pinned) is not None
    assert bootstrap.existing_credentials(cert_dir, "n9", pinned) is None
    assert bootstrap.existing_credentials(cert_dir, "n1", pki.ca_hash(pki.create_ca().cert)) is None
    later = NOW + datetime.timedelta(days=400)
    assert bootstrap.existing_credentials(cert_dir, "n1", pinned, now=later) is None  # expired
    (cert_dir / "kubelet-client.key").write_bytes(pki.key_pem(pki.new_private_key()))
    assert bootstrap.existing_credentials(cert_dir, "n1", pinned) is None  # not its key


def test_a_wrong_pin_is_refused_before_the_token_is_sent(listener, tmp_path) -> None:
    wrong = listener.join_string(ca=pki.create_ca("someone else"))
    with pytest.raises(bootstrap.BootstrapError, match="cluster CA found on the server is invalid: none of the "
                                                       "public keys"):
        bootstrap.client_credentials(tmp_path / "pki", "n1", wrong, listener.address)
    assert not (tmp_path / "pki").exists()


@pytest.mark.parametrize("token", [OLD, bt.BootstrapToken("zzzzzz", "0123456789abcdef")])
def test_an_expired_or_unknown_token_is_refused_in_one_line(listener, tmp_path, token) -> None:
    with pytest.raises(bootstrap.BootstrapError) as err:
        bootstrap.client_credentials(tmp_path / "pki", "n1", listener.join_string(token), listener.address)
    message = str(err.value)
    assert message.startswith(f"the cluster refused to join node n1 (UNAUTHENTICATED): token id \"{token.id}\" "
                              "is invalid for this cluster or it has expired"), message
    assert "\n" not in message


def test_a_ready_nodes_name_is_refused(listener, tmp_path) -> None:
    listener.ready.add("n1")
    with pytest.raises(bootstrap.BootstrapError, match=r'\(PERMISSION_DENIED\): node "n1" already exists and is Ready'):
        bootstrap.client_credentials(tmp_path / "pki", "n1", listener.join_string(), listener.address)


def test_no_pin_or_no_server_is_one_clear_line(listener, tmp_path) -> None:
    with pytest.raises(bootstrap.BootstrapError, match="--token has no CA pin"):
        bootstrap.client_credentials(tmp_path / "pki", "n1", str(TOKEN), listener.address)
    with pytest.raises(bootstrap.BootstrapError, match="invalid --token"):
        bootstrap.client_credentials(tmp_path / "pki", "n1", "K10abc::nope", listener.address)
    with pytest.raises(bootstrap.BootstrapError, match="cannot reach the bootstrap server 127.0.0.1:1: "):
        bootstrap.client_credentials(tmp_path / "pki", "n1", listener.join_string(), "127.0.0.1:1")


def test_pykubelet_exits_1_with_one_line_when_the_join_fails(listener, tmp_path) -> None:
    # A process of its own: pykubelet configures logging for the whole process.
    proc = subprocess.run([sys.executable, "-m", "kubelet.main", "--node-name", "n1", "--runtime", "fake",
                           "--cert-dir", str(tmp_path / "pki"), "--token", listener.join_string(OLD),
                           "--bootstrap-server", listener.address],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 1
    err = proc.stderr.strip()
    assert err.startswith("pykubelet: the cluster refused to join node n1 (UNAUTHENTICATED)") and "\n" not in err


def test_tls_config_repr_keeps_the_key_out_of_logs(listener, tmp_path) -> None:
    tls, _ = bootstrap.client_credentials(tmp_path / "pki", "n1", listener.join_string(), listener.address)
    assert isinstance(tls, TLSConfig) and "PRIVATE KEY" not in repr(tls)


def test_the_listener_answers_garbage_and_oversize_requests_with_clear_codes(listener) -> None:
    import grpc
    creds = grpc.ssl_channel_credentials(listener.ca.cert_pem())
    with grpc.secure_channel(listener.address, creds) as channel:
        join = channel.unary_unary("/pykube.v1.Bootstrap/Join")
        with pytest.raises(grpc.RpcError) as caught:
            join(b"\xff\xff\xff", timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith("the request could not be decoded")
        with pytest.raises(grpc.RpcError) as caught:
            join(b"\x0a" + b"\x80\x80\x05" + b"x" * 100_000, timeout=10)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary("/pykube.v1.API/List")(b"", timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED  # nothing but Join is served there
