"""The join tokens' file (client/token_store.py): bootstrap-token Secrets in a v1 List,
0600, edited under a lock, re-read by the apiserver only when it changed."""

from __future__ import annotations

import datetime
import json
import os
import stat

import pytest

from client import bootstrap_token as bt
from client.token_store import NODE_NAME_ANNOTATION, StoredToken, TokenStore, path_in

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)


def stored(token_id: str = "abcdef", node: str = "", ttl: datetime.timedelta | None = bt.DEFAULT_TTL) -> StoredToken:
    token = bt.BootstrapToken(token_id, "0123456789abcdef")
    return StoredToken(bt.new_token_record(NOW, ttl, description="for n1", token=token), node)


def test_tokens_round_trip_as_bootstrap_token_secrets_in_a_0600_file(tmp_path) -> None:
    store = TokenStore(path_in(tmp_path / "apiserver"))
    store.add(stored())
    store.add(stored("zzzzzz", node="n2", ttl=None))
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    body = json.loads(store.path.read_text())
    assert body["kind"] == "List"
    secret = body["items"][0]
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    assert secret["stringData"]["token-secret"] == "0123456789abcdef"
    assert secret["stringData"]["expiration"] == "2026-06-02T12:00:00Z"
    assert body["items"][1]["metadata"]["annotations"] == {NODE_NAME_ANNOTATION: "n2"}
    loaded = TokenStore(store.path).load()
    assert loaded == {"abcdef": stored(), "zzzzzz": stored("zzzzzz", node="n2", ttl=None)}
    assert "0123456789abcdef" not in repr(loaded)


def test_a_duplicate_id_is_refused_and_delete_says_whether_there_was_one(tmp_path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    store.add(stored())
    with pytest.raises(bt.TokenError, match='a token with id "abcdef" already exists'):
        store.add(stored())
    assert store.delete("abcdef") is True
    assert store.delete("abcdef") is False
    assert store.load() == {}


def test_the_apiserver_view_rereads_only_a_changed_file(tmp_path) -> None:
    writer, reader = TokenStore(tmp_path / "t.json"), TokenStore(tmp_path / "t.json")
    assert reader.current() == {}
    writer.add(stored())
    first = reader.current()
    assert list(first) == ["abcdef"]
    assert reader.current() is first  # unchanged file: the cached dict
    writer.add(stored("bbbbbb"))
    assert sorted(reader.current()) == ["abcdef", "bbbbbb"]
    writer.path.unlink()
    assert reader.current() == {}


@pytest.mark.parametrize("text, message", [
    ("{", "is not JSON"),
    ('{"kind": "List"}', 'is not a v1 List'),
    ('{"items": [{"type": "Opaque"}]}', 'item 0: not a Secret of type "bootstrap.kubernetes.io/token"'),
    ('{"items": [{"type": "bootstrap.kubernetes.io/token", "stringData": {"token-id": "x"}}]}',
     "item 0: the bootstrap token"),
])
def test_a_broken_file_is_an_error_that_names_it(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(bt.TokenError, match=message) as err:
        TokenStore(path).load()
    assert str(path) in str(err.value)
