"""Where the apiserver keeps join tokens: one small file in its data dir.

Kubernetes keeps a bootstrap token as a Secret ``bootstrap-token-<id>`` in ``kube-system``
of type ``bootstrap.kubernetes.io/token``. pykube has no Secret kind yet, so the same
objects live in ``<apiserver data dir>/bootstrap-tokens.json`` (mode 0600: it holds the
secrets), a ``v1`` List of those Secrets written with ``stringData``, so the day Secrets
exist the file can be applied as it is::

    {"apiVersion": "v1", "kind": "List", "items": [
      {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
       "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system",
                    "annotations": {"pykube.io/node-name": "n2"}},
       "stringData": {"token-id": "abcdef", "token-secret": "...", "expiration": "...",
                      "usage-bootstrap-authentication": "true",
                      "auth-extra-groups": "system:bootstrappers:pykube:default-node-token"}}]}

``pykube token create|list|delete`` (root, on the control-plane machine) edits the file
under a lock, replacing it whole (``client.files.write_atomic``); the apiserver reads it
when a join arrives, again only after the file changed. The annotation
``pykube.io/node-name`` (``token create --node-name``) binds a token to one node: it is good
for that name only, and may re-join that node while it is still Ready.

The file sits in the apiserver's data dir and both the CLI (``cluster``) and the apiserver
read it, so the format lives here, in the shared client library.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from client.bootstrap_token import TokenError, TokenRecord
from client.files import write_atomic

FILE_NAME = "bootstrap-tokens.json"
SECRET_TYPE = "bootstrap.kubernetes.io/token"
SECRET_NAMESPACE = "kube-system"
SECRET_PREFIX = "bootstrap-token-"
NODE_NAME_ANNOTATION = "pykube.io/node-name"


@dataclass(frozen=True)
class StoredToken:
    """A token record and, when it was issued for one node, that node's name."""

    record: TokenRecord
    node_name: str = ""

    def to_secret(self) -> dict:
        metadata: dict = {"name": SECRET_PREFIX + self.record.token_id, "namespace": SECRET_NAMESPACE}
        if self.node_name:
            metadata["annotations"] = {NODE_NAME_ANNOTATION: self.node_name}
        return {"apiVersion": "v1", "kind": "Secret", "type": SECRET_TYPE, "metadata": metadata,
                "stringData": self.record.to_data()}

    @classmethod
    def from_secret(cls, secret: dict) -> StoredToken:
        if not isinstance(secret, dict) or secret.get("type") != SECRET_TYPE:
            raise TokenError(f'not a Secret of type "{SECRET_TYPE}"')
        data = secret.get("stringData")
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise TokenError("the Secret's stringData is not a map of strings")
        annotations = (secret.get("metadata") or {}).get("annotations") or {}
        return cls(TokenRecord.from_data(data), str(annotations.get(NODE_NAME_ANNOTATION, "")))


def path_in(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / FILE_NAME


class TokenStore:
    """The token file at ``path``; a missing file holds no tokens."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None
        self._cached: dict[str, StoredToken] = {}

    # --- reading ---------------------------------------------------------------------------

    def _parse(self, text: str) -> dict[str, StoredToken]:
        try:
            body = json.loads(text) if text.strip() else {"items": []}
        except ValueError as err:
            raise TokenError(f"{self.path} is not JSON: {err}") from None
        items = body.get("items") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise TokenError(f'{self.path} is not a v1 List (no "items")')
        tokens: dict[str, StoredToken] = {}
        for index, item in enumerate(items):
            try:
                stored = StoredToken.from_secret(item)
            except TokenError as err:
                raise TokenError(f"{self.path}: item {index}: {err}") from None
            tokens[stored.record.token_id] = stored
        return tokens

    def load(self) -> dict[str, StoredToken]:
        """Every token, by id (read fresh)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise TokenError(f"cannot read {self.path}: {err.strerror}") from None
        return self._parse(text)

    def current(self) -> dict[str, StoredToken]:
        """Every token, by id, re-read only when the file changed (the apiserver's view)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._seen, self._cached = None, {}
            return {}
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._seen:
            self._cached = self.load()
            self._seen = stamp
        return self._cached

    # --- writing (pykube token ...) ----------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, StoredToken]]:
        """The tokens, under an exclusive lock; what the block leaves in the dict is written back."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise TokenError(f"cannot write {self.path}: {err.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            tokens = self.load()
            yield tokens
            body = {"apiVersion": "v1", "kind": "List",
                    "items": [t.to_secret() for t in sorted(tokens.values(), key=lambda t: t.record.token_id)]}
            try:
                write_atomic(self.path, (json.dumps(body, indent=1) + "\n").encode(), 0o600)
            except OSError as err:
                raise TokenError(f"cannot write {self.path}: {err.strerror}") from None
        finally:
            os.close(fd)

    def add(self, stored: StoredToken) -> None:
        with self._locked() as tokens:
            if stored.record.token_id in tokens:
                raise TokenError(f'a token with id "{stored.record.token_id}" already exists')
            tokens[stored.record.token_id] = stored

    def delete(self, token_id: str) -> bool:
        """Remove the token; False when there was none with that id."""
        with self._locked() as tokens:
            return tokens.pop(token_id, None) is not None
