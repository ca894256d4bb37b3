"""get's output habits: -o jsonpath / custom-columns (and their files), --sort-by, --no-headers, get all."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from kubectl_cluster_fake import deployment, pod_of, replica_set, settled
from kubectl_testlib import FakeAPI, FakeConnection, Harness, meta, run_verb

from kubectl.errors import CliError
from kubectl.main import main
from protos import core_pb2

MakeHarness = Callable[..., Harness]


def a_pod(name: str, node: str, age: float, phase: str = "Running") -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta(name, "default", age_seconds=age, app="web"))
    pod.spec.containers.add(name="c", image="nginx:1.25")
    pod.spec.node_name = node
    pod.status.phase = phase
    return pod


@pytest.fixture
def pods(api: FakeAPI) -> FakeAPI:
    api.add(a_pod("web-b", "n2", 30))
    api.add(a_pod("web-a", "n3", 90, phase="Pending"))
    api.add(a_pod("web-c", "n1", 60))
    return api


def test_jsonpath_on_a_list_and_on_one_object(pods: FakeAPI, harness: MakeHarness) -> None:
    h = harness()
    assert run_verb(h, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}") == 0
    assert h.stdout == "web-a web-b web-c"  # no newline added, as kubectl
    h = harness()
    assert run_verb(h, "get", "pod", "web-b", "-o", "jsonpath={.metadata.name} on {.spec.nodeName}") == 0
    assert h.stdout == "web-b on n2"


def test_jsonpath_range_filter_and_newlines(pods: FakeAPI, harness: MakeHarness) -> None:
    h = harness()
    template = '{range .items[?(@.status.phase=="Running")]}{.metadata.name}{"\\t"}{.spec.nodeName}{"\\n"}{end}'
    assert run_verb(h, "get", "pods", "-o", f"jsonpath={template}") == 0
    assert h.stdout == "web-b\tn2\nweb-c\tn1\n"


def test_jsonpath_file(pods: FakeAPI, harness: MakeHarness, tmp_path: Path) -> None:
    template = tmp_path / "names.jsonpath"
    template.write_text('{range .items[*]}{.metadata.name}{"\\n"}{end}')
    h = harness()
    assert run_verb(h, "get", "pods", "-o", f"jsonpath-file={template}") == 0
    assert h.stdout == "web-a\nweb-b\nweb-c\n"


def test_custom_columns_sorted_and_without_headers(pods: FakeAPI, harness: MakeHarness) -> None:
    h = harness()
    spec = "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName,MISSING:.status.podIP"
    assert run_verb(h, "get", "pods", "-o", spec, "--sort-by=.spec.nodeName") == 0
    assert h.stdout == (
        "NAME    NODE   MISSING\n"
        "web-c   n1     <none>\n"
        "web-b   n2     <none>\n"
        "web-a   n3     <none>\n"
    )
    h = harness()
    assert run_verb(h, "get", "pods", "-o", spec, "--sort-by={.spec.nodeName}", "--no-headers") == 0
    assert h.stdout.splitlines()[0] == "web-c   n1    <none>"  # widths from the rows printed


def test_custom_columns_file(pods: FakeAPI, harness: MakeHarness, tmp_path: Path) -> None:
    columns = tmp_path / "columns.txt"
    columns.write_text("NAME PHASE\n.metadata.name .status.phase\n")
    h = harness()
    assert run_verb(h, "get", "pods", "-o", f"custom-columns-file={columns}") == 0
    assert h.stdout.splitlines() == ["NAME    PHASE", "web-a   Pending", "web-b   Running", "web-c   Running"]


def test_sort_by_creation_time_and_no_headers_on_the_table(pods: FakeAPI, harness: MakeHarness) -> None:
    h = harness()
    assert run_verb(h, "get", "pods", "--sort-by=.metadata.creationTimestamp", "--no-headers") == 0
    assert [line.split()[0] for line in h.stdout.splitlines()] == ["web-a", "web-c", "web-b"]


def test_sort_by_applies_to_jsonpath_lists(pods: FakeAPI, harness: MakeHarness) -> None:
    h = harness()
    assert run_verb(h, "get", "pods", "--sort-by=.spec.nodeName", "-o", "jsonpath={.items[*].spec.nodeName}") == 0
    assert h.stdout == "n1 n2 n3"


def test_get_all_groups_pods_deployments_replicasets_with_kind_prefixes(api: FakeAPI, harness: MakeHarness) -> None:
    web = api.add(settled(deployment("web", replicas=1)))
    rs = api.add(replica_set(web, "abc", revision=1, replicas=1))
    api.add(pod_of(rs, "web-abc-x1"))
    h = harness()
    assert run_verb(h, "get", "all") == 0
    blocks = h.stdout.split("\n\n")
    assert [block.splitlines()[1].split()[0] for block in blocks] == [
        "pod/web-abc-x1", "deployment.apps/web", "replicaset.apps/web-abc"]
    assert blocks[0].startswith("NAME ") and blocks[1].startswith("NAME ")


def test_get_all_in_an_empty_namespace(harness: MakeHarness) -> None:
    h = harness()
    assert run_verb(h, "get", "all") == 0
    assert (h.stdout, h.stderr) == ("", "No resources found in default namespace.\n")


@pytest.mark.parametrize(("output", "error"), [
    ("jsonpath={.metadata.name", "error: error parsing jsonpath {.metadata.name, unclosed action\n"),
    ("jsonpath=", "error: template format specified but no template given\n"),
    ("custom-columns=NAME", "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>\n"),
    ("custom-columns-file=/nonexistent/cols",
     "error: error reading template file /nonexistent/cols: No such file or directory\n"),
    ("table", 'error: unable to match a printer suitable for the output format "table", allowed formats are: '
              "custom-columns,custom-columns-file,json,jsonpath,jsonpath-file,name,wide,yaml\n"),
])
def test_a_malformed_output_spec_is_one_line_and_sends_nothing(
        output: str, error: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    api = FakeAPI()
    monkeypatch.setattr("kubectl.main.connect", lambda address, **kwargs: FakeConnection(api))
    assert main(["get", "pods", "-o", output], env={}) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", error)
    assert api.calls == []


def test_a_malformed_sort_by_sends_nothing(api: FakeAPI, harness: MakeHarness) -> None:
    with pytest.raises(CliError, match="unexpected path string, expected a 'name1.name2'"):
        run_verb(harness(), "get", "pods", "--sort-by={.metadata.name")
    assert api.calls == []


def test_a_template_that_fails_on_the_data_names_it(pods: FakeAPI, harness: MakeHarness) -> None:
    with pytest.raises(CliError, match=r'error executing jsonpath "\{.items\[7\]\}": Error executing template: '
                                       r"array index out of bounds: index 7, length 3"):
        run_verb(harness(), "get", "pods", "-o", "jsonpath={.items[7]}")
