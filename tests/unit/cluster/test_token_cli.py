"""``pykube token create|list|delete`` (cluster/tokens.py) on a state dir with a CA."""

from __future__ import annotations

import re

import pytest

from client import bootstrap_token as bt
from client import pki
from client.token_store import TokenStore
from cluster.cli import main


@pytest.fixture
def state(tmp_path):
    ca = pki.create_ca()
    pki.write_cert_key(tmp_path / "pki", "ca", ca)
    return tmp_path, ca


def test_create_prints_a_join_string_pinning_the_ca_and_stores_the_token(state, capsys) -> None:
    root, ca = state
    assert main(["--state-dir", str(root), "token", "create", "--description", "worker1", "--ttl", "2h"]) == 0
    out = capsys.readouterr().out.strip()
    join = bt.parse_join_token(out)
    assert join.ca_hash == pki.ca_hash(ca.cert)
    stored = TokenStore(root / "apiserver" / "bootstrap-tokens.json").load()[join.token.id]
    assert stored.record.secret == join.token.secret and stored.record.description == "worker1"
    assert main(["token", "list", "--state-dir", str(root)]) == 0
    table = capsys.readouterr().out
    assert re.search(rf"^{join.token}\s+[12]h\s", table, re.M), table
    assert "worker1" in table and "authentication" in table


def test_a_given_token_never_expiring_and_bound_to_a_node(state, capsys) -> None:
    root, _ = state
    main(["token", "create", "abcdef.0123456789abcdef", "--ttl", "0", "--node-name", "n2", "--state-dir", str(root)])
    assert capsys.readouterr().out.strip().endswith("::abcdef.0123456789abcdef")
    main(["token", "list", "--state-dir", str(root)])
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[:5] == ["abcdef.0123456789abcdef", "<forever>", "<never>", "authentication", "n2"]
    assert main(["token", "delete", "abcdef", "--state-dir", str(root)]) == 0
    assert capsys.readouterr().out.strip() == 'bootstrap token "abcdef" deleted'
    assert main(["token", "delete", "abcdef", "--state-dir", str(root)]) == 1
    assert capsys.readouterr().err.strip() == 'pykube token: bootstrap token "abcdef" not found'


@pytest.mark.parametrize("args, message", [
    (["abc"], 'the bootstrap token "abc" was not of the form'),
    (["--node-name", "N_2"], 'invalid --node-name "N_2"'),
])
def test_bad_input_is_one_line(state, capsys, args, message) -> None:
    root, _ = state
    assert main(["token", "create", *args, "--state-dir", str(root)]) == 1
    assert message in capsys.readouterr().err


def test_without_a_cluster_ca_create_says_so(tmp_path, capsys) -> None:
    assert main(["token", "create", "--state-dir", str(tmp_path)]) == 1
    assert "pykube up makes its CA" in capsys.readouterr().err
