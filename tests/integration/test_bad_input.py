"""Bad input through the real CLI and server: each gets an error that names the
problem, exit code 1, no traceback, and the store is left exactly as it was."""

from __future__ import annotations

import pytest

from apiserver_process import run_kubectl

GOOD_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: main
        image: docker.io/library/multi-worker:1.0
"""

BAD_INPUTS = {
    "malformed-yaml": (
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n   labels: x\n",
        ["bad.yaml", "line 5"],
    ),
    "unknown-kind": (
        "apiVersion: v1\nkind: Potato\nmetadata:\n  name: web\n",
        ['"Potato"'],
    ),
    "unknown-field": (
        GOOD_DEPLOYMENT.format(name="web").replace("  replicas: 1\n", "  replica: 1\n"),
        ['unknown field "replica"', "Deployment.spec"],
    ),
    "invalid-name": (
        GOOD_DEPLOYMENT.format(name="Bad_Name"),
        ["metadata.name", '"Bad_Name"', "RFC 1123"],
    ),
    "wrong-type": (
        GOOD_DEPLOYMENT.format(name="web").replace("  replicas: 1\n", "  replicas: four\n"),
        ["spec.replicas", "integer"],
    ),
    "missing-image": (
        GOOD_DEPLOYMENT.format(name="web").replace("        image: docker.io/library/multi-worker:1.0\n", ""),
        ["spec.template.spec.containers[0].image", "Required value"],
    ),
    "bad-third-document": (
        GOOD_DEPLOYMENT.format(name="first") + "---\n" + GOOD_DEPLOYMENT.format(name="second")
        + "---\n" + GOOD_DEPLOYMENT.format(name="third").replace("replicas: 1", "replicas: -1"),
        ["spec.replicas", "must be greater than or equal to 0"],
    ),
    "selector-mismatch": (
        GOOD_DEPLOYMENT.format(name="web").replace("    matchLabels: {app: web}", "    matchLabels: {app: other}"),
        ["selector", "does not match"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_refused_and_nothing_is_written(case, apiserver, tmp_path):
    text, expected = BAD_INPUTS[case]
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    before = apiserver.revision()

    result = run_kubectl(apiserver.address, "apply", "-f", str(bad))

    assert result.code == 1
    assert "Traceback" not in result.err
    for fragment in expected:
        assert fragment in result.err, f"{fragment!r} not in {result.err!r}"
    assert result.out == ""
    assert apiserver.revision() == before
    listed = run_kubectl(apiserver.address, "get", "deployments", "-A", "-o", "name")
    assert listed.out.strip() == ""
    assert apiserver.healthy()


def test_oversize_request_is_refused_and_server_keeps_serving(apiserver, tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text(GOOD_DEPLOYMENT.format(name="web").replace(
        "metadata:\n  name: web\n", "metadata:\n  name: web\n  annotations:\n    blob: " + "x" * (4 << 20) + "\n", 1))
    before = apiserver.revision()

    result = run_kubectl(apiserver.address, "apply", "-f", str(huge))

    assert result.code == 1
    assert "Traceback" not in result.err
    assert "too large" in result.err.lower() or "larger than" in result.err.lower()
    assert apiserver.revision() == before
    assert apiserver.healthy()


def test_stdin_manifest_and_unreachable_server(apiserver):
    ok = run_kubectl(apiserver.address, "apply", "-f", "-", stdin=GOOD_DEPLOYMENT.format(name="from-stdin"))
    assert ok.code == 0 and "deployment.apps/from-stdin created" in ok.out

    result = run_kubectl("127.0.0.1:1", "get", "pods")
    assert result.code == 1
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0]
