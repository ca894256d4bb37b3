"""The README's "just an apiserver" example, line by line, against the real commands: a
pykube-apiserver given only --listen and --data-dir makes its own CA and admin kubeconfig,
serves mutual TLS, and pykubectl with that kubeconfig does the rest. Only the port (a free
one, not 6443) and the directory (the test's own, not /tmp/pykube) are changed."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apiserver_process import REPO_ROOT, repo_env

README = REPO_ROOT / "README.md"
BIN = Path(sys.executable).parent  # the README's .venv/bin
START_TIMEOUT = 30.0


def readme_lines() -> list[list[str]]:
    """The commands of the README's "just an apiserver" block, comments dropped."""
    text = README.read_text()
    after = text[text.index("just an apiserver to try pykubectl"):]
    block = after.split("```sh\n", 1)[1].split("```", 1)[0]
    return [words for line in block.splitlines() if (words := shlex.split(line, comments=True))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _localize(words: list[str], port: int, data_dir: Path) -> list[str]:
    out = []
    for word in words:
        word = word.replace("127.0.0.1:6443", f"127.0.0.1:{port}").replace("/tmp/pykube", str(data_dir))
        if word.startswith(".venv/bin/"):
            word = str(BIN / word.removeprefix(".venv/bin/"))
        out.append(word)
    return out


def test_the_readme_example_works_verbatim(tmp_path: Path) -> None:
    lines = readme_lines()
    assert lines[0][0] == ".venv/bin/pykube-apiserver" and "--data-dir" in lines[0]
    assert not any(w.startswith("--tls") or w == "--insecure-plaintext" for w in lines[0])
    port, data_dir = _free_port(), tmp_path / "pykube"
    env = repo_env()
    env.pop("PYKUBECONFIG", None)
    env["HOME"] = str(tmp_path / "home")  # no ~/.pykube/config to fall back on
    log_path = tmp_path / "apiserver.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(_localize(lines[0], port, data_dir), stdout=log, stderr=log, env=env,
                                  cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "admin credentials" not in log_path.read_text():
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        printed = log_path.read_text()
        kubeconfig = data_dir / "admin.kubeconfig"
        assert f"export PYKUBECONFIG={kubeconfig}" in printed and f"--kubeconfig {kubeconfig}" in printed
        assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / "pki" / "ca.key").stat().st_mode) == 0o600

        outputs = []
        for words in lines[1:]:
            words = _localize(words, port, data_dir)
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                env[name] = value
                continue
            done = subprocess.run(words, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (words, done.stdout, done.stderr)
            outputs.append(done.stdout)
        apply_out, get_out, yaml_out, pods_out, delete_out = outputs
        assert "deployment.apps/multi-worker created" in apply_out
        assert re.search(r"^multi-worker\s+0/4", get_out, re.M), get_out  # no nodes, no controllers
        assert "name: multi-worker" in yaml_out and "kind: Deployment" in yaml_out
        assert "deployment.apps \"multi-worker\" deleted" in delete_out

        # Plaintext is refused at the handshake; the admin config's user is a superuser.
        plain = subprocess.run([str(BIN / "pykubectl"), "--server", f"127.0.0.1:{port}", "get", "ns"],
                               env={**env, "PYKUBECONFIG": str(tmp_path / "none")}, cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=60)
        assert plain.returncode == 1 and "requires TLS" in plain.stderr
        can = subprocess.run([str(BIN / "pykubectl"), "auth", "can-i", "*", "*"], env=env, cwd=REPO_ROOT,
                             capture_output=True, text=True, timeout=60)
        assert can.stdout.strip() == "yes"
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGTERM)
        assert server.wait(15) == 0, log_path.read_text()

    # A restart (another port) keeps the CA and the admin's credentials, and points them at it.
    ca_before, key_before = (data_dir / "pki" / "ca.crt").read_bytes(), kubeconfig.read_text()
    port2 = _free_port()
    with log_path.open("ab") as log:
        again = subprocess.Popen(_localize(lines[0], port2, data_dir), stdout=log, stderr=log, env=env,
                                 cwd=REPO_ROOT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while log_path.read_text().count("admin credentials") < 2:
            assert again.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        assert (data_dir / "pki" / "ca.crt").read_bytes() == ca_before
        user_data = [line for line in kubeconfig.read_text().splitlines() if "client-key-data" in line]
        assert user_data == [line for line in key_before.splitlines() if "client-key-data" in line]
        done = subprocess.run([str(BIN / "pykubectl"), "get", "ns"], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "kube-system" in done.stdout, done.stderr
    finally:
        if again.poll() is None:
            os.kill(again.pid, signal.SIGTERM)
        again.wait(15)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
