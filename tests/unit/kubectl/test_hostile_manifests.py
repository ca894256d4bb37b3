"""``pykubectl apply -f`` of hostile files (tests/corpus/hostile/ and generated giants), through the
CLI's in-process main against a real in-process apiserver on 127.0.0.1: each is refused with one
clear line on stderr, exit code 1, no traceback, and nothing is written.

Files the reader refuses never reach the server (it is not even dialled); the rest are refused
by the server with Kubernetes' words."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from apiserver.main import APIServer, ServerConfig
from kubectl.main import main
from kubectl.manifest import ManifestError, Source, objects_from_source

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "hostile"
NO_CONFIG = {"PYKUBECONFIG": "/nonexistent/pykube/config"}
LIMIT = "Request entity too large: limit is 3145728"
DNS1123 = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"


class ThreadedAPIServer:
    """An in-memory APIServer on its own event loop thread (pykubectl's main is synchronous)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="hostile-apiserver", daemon=True)
        self.thread.start()
        self.server: APIServer = self._call(self._start())
        self.address = self.server.address

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _start(self) -> APIServer:
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        return server

    @property
    def revision(self) -> int:
        return self.server.registry.cache.revision

    def stop(self) -> None:
        self._call(self.server.stop(0))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def apiserver() -> Iterator[ThreadedAPIServer]:
    server = ThreadedAPIServer()
    yield server
    server.stop()


def pykubectl(apiserver: ThreadedAPIServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--server", apiserver.address, *argv], env=NO_CONFIG, stdout=out, stderr=err,
                stdin=io.StringIO())
    return code, out.getvalue(), err.getvalue()


def refused(apiserver: ThreadedAPIServer, path: Path, *words: str, seconds: float = 5.0) -> str:
    """Apply path: exit 1, one line on stderr holding each of words, nothing written, quickly."""
    before = apiserver.revision
    started = time.monotonic()
    code, out, err = pykubectl(apiserver, "apply", "-f", str(path))
    assert time.monotonic() - started < seconds, f"{path.name} took {time.monotonic() - started:.1f}s"
    assert (code, out) == (1, ""), (code, out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    assert apiserver.revision == before, f"{path.name} wrote something"
    return err


@pytest.mark.parametrize(("name", "words"), [
    ("billion-laughs.yaml", ["error: error parsing", "billion-laughs.yaml", "document contains excessive aliasing"]),
    ("self-alias.yaml", ["anchor 'm' value contains itself"]),
    ("deep-block.yaml", ["exceeded max depth of 100"]),
    ("name-slash.yaml", ['Error from server (Invalid): Pod "a/b" is invalid: metadata.name: Invalid value: "a/b"',
                         DNS1123]),
    ("name-dotdot.yaml", ['metadata.name: Invalid value: ".."', DNS1123]),
    ("name-unicode.yaml", ['metadata.name: Invalid value: "wéb-名前"', DNS1123]),
    ("name-control.yaml", ['metadata.name: Invalid value: "web\\n\\a\\x00"', DNS1123]),
    ("container-traversal.yaml", ['spec.containers[0].name: Invalid value: "../../etc/passwd"',
                                  "a lowercase RFC 1123 label"]),
    ("numbers-int32-overflow.yaml", ["Pod.spec.containers[0].ports[0].containerPort: Invalid value: 2147483648: "
                                     "must be between -2147483648 and 2147483647 (int32)"]),
    ("numbers-int64-overflow.yaml", ["Pod.spec.terminationGracePeriodSeconds: Invalid value: 99999999999999999999"]),
    ("numbers-negative.yaml", ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]),
    ("numbers-huge-quantity.yaml", ['Invalid value: "1e999999999": quantity too large']),
    ("numbers-infinite.yaml", ["Deployment.spec.replicas: expected an integer, got number inf"]),
])
def test_hostile_corpus_is_refused_in_one_line(apiserver: ThreadedAPIServer, name: str, words: list[str]) -> None:
    refused(apiserver, CORPUS / name, *words)


def test_a_list_nested_100_000_deep(apiserver: ThreadedAPIServer, tmp_path: Path) -> None:
    """Today's traceback (RecursionError) becomes go-yaml's words."""
    path = tmp_path / "deep.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: deep\n  labels: " + "[" * 100_000 + "]" * 100_000)
    refused(apiserver, path, "error: error parsing", "deep.yaml", "exceeded max")


def test_json_nested_100_000_deep(apiserver: ThreadedAPIServer, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": ' + "[" * 100_000 + "]" * 100_000 + "}}")
    refused(apiserver, path, "error: error parsing", "exceeded max depth of 100")


@pytest.mark.parametrize("megabytes", [5, 10])
def test_an_object_too_large_for_any_request_is_refused_before_sending(apiserver: ThreadedAPIServer,
                                                                      tmp_path: Path, megabytes: int) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: big\n  annotations:\n    blob: "
                    + "x" * (megabytes * 1024 * 1024) + "\n")
    err = refused(apiserver, path, f"{LIMIT} (Pod \"big\" is ")
    assert err.startswith('error: error validating "')


def test_many_objects_over_the_limit_together_are_refused_unsent(apiserver: ThreadedAPIServer,
                                                                 tmp_path: Path) -> None:
    """Each fits, the one Apply request holding all of them does not: gRPC refuses to send it,
    and pykubectl says so in Kubernetes' words."""
    blob = "x" * (1024 * 1024)
    path = tmp_path / "many.yaml"
    path.write_text("".join(f"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  annotations:\n"
                            f"    blob: {blob}\n" for i in range(4)))
    err = refused(apiserver, path, f"error: {LIMIT} (the request is ", "nothing was sent")
    assert "CLIENT" not in err


def test_a_valid_manifest_still_applies(apiserver: ThreadedAPIServer, tmp_path: Path) -> None:
    """The limits cost nothing to an ordinary manifest with an alias or two."""
    path = tmp_path / "ok.yaml"
    path.write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: fine\n  labels: &l {app: fine}\n"
                    "  annotations: *l\nspec:\n  containers:\n    - name: main\n      image: busybox\n")
    code, out, err = pykubectl(apiserver, "apply", "-f", str(path))
    assert (code, out, err) == (0, "pod/fine created\n", "")


@pytest.mark.parametrize(("argv", "words"), [
    (["get", "pod", ".."], "Name parameter invalid: \"..\": may not be '..'"),
    (["delete", "pod", "%2e%2e"], "Name parameter invalid: \"%2e%2e\": may not contain '%'"),
    (["logs", "fine", "-c", "../../etc/passwd"],
     "Error from server (BadRequest): container ../../etc/passwd is not valid for pod fine"),
    (["logs", "../../etc/passwd"], 'the server doesn\'t have a resource type ".."'),
])
def test_hostile_names_on_the_command_line(apiserver: ThreadedAPIServer, tmp_path: Path, argv: list[str],
                                           words: str) -> None:
    if not _exists(apiserver, "fine"):
        test_a_valid_manifest_still_applies(apiserver, tmp_path)
    before = apiserver.revision
    code, out, err = pykubectl(apiserver, *argv)
    assert code == 1 and err.count("\n") == 1 and words in err, err
    assert apiserver.revision == before


def _exists(apiserver: ThreadedAPIServer, name: str) -> bool:
    return apiserver.server.registry.cache.get("Pod", f"/Pod/default/{name}") is not None


EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))
PIECES = ["\n", ": ", "- ", "[", "]", "{", "}", "&a ", "*a", "<<: *a", "'", '"', "\t", "\x00", "é", "2147483648",
          "-1", "1e999", ".inf", "~", "!!binary AA==", "---\n", "  ", "name: ../x", "kind: List\nitems: 5\n"]


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(example=st.sampled_from(EXAMPLES), at=st.integers(0, 10_000), cut=st.integers(0, 30),
       piece=st.sampled_from(PIECES), as_json=st.booleans())
def test_mangled_manifests_give_objects_or_one_clear_error(example: Path, at: int, cut: int, piece: str,
                                                           as_json: bool) -> None:
    """The reading half of apply on mangled example files: objects, or a ManifestError."""
    text = example.read_text()
    if as_json:
        docs = [doc for doc in yaml.safe_load_all(text) if doc]  # several documents: a v1 List, as kubectl -o json
        text = json.dumps(docs[0] if len(docs) == 1 else {"apiVersion": "v1", "kind": "List", "items": docs})
    at %= len(text)
    try:
        objects_from_source(Source("mangled", text[:at] + piece + text[at + cut:], is_json=as_json))
    except ManifestError as err:
        assert "\n" not in str(err).strip(), str(err)
