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


# --- the serving certificate (--server-tls-bootstrap) and kube-proxy's (--kube-proxy-kubeconfig) ---

def test_one_join_gets_the_serving_and_kube_proxy_certificates_too(listener, tmp_path) -> None:
    from cryptography import x509
    cert_dir = tmp_path / "pki"
    wanted = bootstrap.Wanted(serving_ips=("127.0.0.1",), proxy=True)
    got, joined = bootstrap.join_credentials(cert_dir, "n1", listener.join_string(), listener.address, wanted=wanted)
    assert joined and got.serving is not None and got.proxy is not None
    sans = got.serving.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert sans.get_values_for_type(x509.DNSName) == ["n1"]
    assert pki.identity_from_cert(got.serving.cert).name == "system:node:n1"
    assert pki.identity_from_cert(got.proxy.cert).name == "system:kube-proxy"
    assert pki.identity_from_cert(got.proxy.cert).groups == ("system:authenticated",)
    for name in ("kubelet-client", "kubelet-server", "kube-proxy"):
        assert stat.S_IMODE(os.stat(cert_dir / f"{name}.key").st_mode) == 0o600
    cert, key, ca = bootstrap.serving_files(cert_dir)
    assert pki.load_cert(cert) == got.serving.cert and Path(ca).read_bytes() == listener.ca.cert_pem()
    # A restart finds all of it: no join (the token may be gone by then).
    listener.tokens.delete("abcdef")
    again, joined = bootstrap.join_credentials(cert_dir, "n1", listener.join_string(), listener.address, wanted=wanted)
    assert not joined and again.tls == got.tls
    assert again.serving.cert_pem() == got.serving.cert_pem() and again.serving.key_pem() == got.serving.key_pem()
    assert again.proxy.cert_pem() == got.proxy.cert_pem() and again.proxy.key_pem() == got.proxy.key_pem()
    # The node's address changed: its serving certificate no longer fits, so it joins again.
    moved = bootstrap.Wanted(serving_ips=("127.0.0.2",), proxy=True)
    assert bootstrap.existing_credentials(cert_dir, "n1", None, wanted=moved) is None
    # A cert dir from a join without them is not whole for a kubelet that wants them.
    plain = tmp_path / "plain"
    listener.tokens.add(StoredToken(bt.new_token_record(NOW, token=TOKEN)))
    bootstrap.client_credentials(plain, "n2", listener.join_string(), listener.address)
    assert bootstrap.existing_credentials(plain, "n2", None) is not None
    assert bootstrap.existing_credentials(plain, "n2", None, wanted=wanted) is None


def test_a_serving_address_other_than_the_joins_is_refused_in_one_line(listener, tmp_path) -> None:
    with pytest.raises(bootstrap.BootstrapError) as caught:
        bootstrap.join_credentials(tmp_path / "pki", "n1", listener.join_string(), listener.address,
                                   wanted=bootstrap.Wanted(serving_ips=("10.9.9.9",)))
    message = str(caught.value)
    assert "(PERMISSION_DENIED)" in message and "10.9.9.9 are not addresses of node n1" in message
    assert "\n" not in message
    assert not (tmp_path / "pki" / "kubelet-client.crt").exists()  # nothing half-kept


def test_pykubelet_serves_with_the_joined_certificate_and_writes_the_proxys_kubeconfig(listener, tmp_path) -> None:
    import json
    import socket
    import ssl
    import time
    import yaml
    from client.kubeconfig import resolve_context
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy_conf, cert_dir = tmp_path / "proxy.conf", tmp_path / "pki"
    proc = subprocess.Popen([sys.executable, "-m", "kubelet.main", "--node-name", "n1", "--runtime", "fake",
                             "--server", "127.0.0.1:1", "--cert-dir", str(cert_dir), "--listen", f"127.0.0.1:{port}",
                             "--token", listener.join_string(), "--bootstrap-server", listener.address,
                             "--server-tls-bootstrap", "--kube-proxy-kubeconfig", str(proxy_conf)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        presented = None
        while presented is None and proc.poll() is None and time.monotonic() < deadline:
            try:  # the kubelet's service presents the serving certificate the join gave
                context = ssl.create_default_context(cadata=listener.ca.cert_pem().decode())
                context.set_alpn_protocols(["h2"])
                with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                    with context.wrap_socket(raw, server_hostname="n1") as tls:
                        presented = tls.getpeercert(binary_form=True)
            except OSError:
                time.sleep(0.2)
        assert presented is not None, proc.stdout.read() if proc.poll() is not None else "no TLS service in 30 s"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    assert pki.load_cert(cert_dir / "kubelet-server.crt").public_bytes(pki.serialization.Encoding.DER) == presented
    assert stat.S_IMODE(os.stat(proxy_conf).st_mode) == 0o600
    ctx = resolve_context(yaml.safe_load(proxy_conf.read_text()), proxy_conf)
    assert ctx.server == "https://127.0.0.1:1" and ctx.ca_pem == listener.ca.cert_pem()
    assert pki.identity_from_cert(pki.load_cert_pem(ctx.cert_pem)).name == "system:kube-proxy"
    joined = [json.loads(line) for line in out.splitlines() if '"joined the cluster"' in line]
    assert joined and joined[0]["serving"] is True, out


@pytest.mark.parametrize("flags,error", [
    (["--server-tls-bootstrap"], "need --token"),
    (["--kube-proxy-kubeconfig", "/tmp/x"], "need --token"),
    (["--token", "K10x::abcdef.0123456789abcdef", "--bootstrap-server", "127.0.0.1:1", "--server-tls-bootstrap",
      "--tls-cert-file", "/c", "--tls-private-key-file", "/k", "--client-ca-file", "/ca"], "do not go together"),
])
def test_the_join_extras_need_a_token_and_exclude_given_serving_files(flags, error) -> None:
    proc = subprocess.run([sys.executable, "-m", "kubelet.main", "--node-name", "n1", "--runtime", "fake", *flags],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2 and error in proc.stderr, proc.stderr
