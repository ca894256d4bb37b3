"""The kubectl habits tutorials use, through the real pykubectl CLI against a real apiserver
process: create, run, label, annotate, get -o jsonpath / custom-columns / --sort-by /
--no-headers, get all, wait (on a live watch), version, api-resources and events."""

from __future__ import annotations

import subprocess
import sys

from apiserver_process import REPO_ROOT, ApiserverProcess, repo_env

EVENT = """\
apiVersion: v1
kind: Event
metadata: {name: web.1}
involvedObject: {kind: Pod, name: web, namespace: default}
reason: Pulled
type: Normal
message: Successfully pulled image "nginx:1.25"
firstTimestamp: "2024-05-01T12:00:00Z"
lastTimestamp: "2024-05-01T12:00:00Z"
count: 1
"""


def test_the_everyday_verbs_and_flags(apiserver: ApiserverProcess, kubectl) -> None:
    version = kubectl("version")
    assert version.code == 0
    assert version.out.startswith("Client Version: v") and "\nServer Version: v" in version.out

    resources = kubectl("api-resources", "--no-headers")
    assert resources.code == 0
    assert ["deployments", "deploy", "apps/v1", "true", "Deployment"] in [line.split() for line in
                                                                          resources.out.splitlines()]

    assert kubectl("create", "namespace", "team-a").out == "namespace/team-a created\n"
    assert kubectl("create", "deployment", "shop", "--image=nginx:1.25", "--replicas=2").out == \
        "deployment.apps/shop created\n"
    assert kubectl("run", "web", "--image=nginx:1.25", "--port=80").out == "pod/web created\n"
    assert kubectl("run", "once", "--image=busybox", "--restart=Never", "--", "echo", "hi").out == \
        "pod/once created\n"

    assert kubectl("label", "pod/web", "tier=front").out == "pod/web labeled\n"
    refused = kubectl("label", "pod/web", "tier=back")
    assert (refused.code, refused.err) == (1, "error: 'tier' already has a value (front), and --overwrite is false\n")
    assert kubectl("label", "pods", "--all", "tier=back", "--overwrite").out == "pod/once labeled\npod/web labeled\n"
    assert kubectl("annotate", "pod/web", "owner=team-a").out == "pod/web annotated\n"

    names = kubectl("get", "pods", "-o", "jsonpath={.items[*].metadata.name}")
    assert (names.code, names.out) == (0, "once web")
    one = kubectl("get", "pod", "web", "-o", "jsonpath={.metadata.labels.tier}/{.metadata.annotations.owner}")
    assert one.out == "back/team-a"
    lines = kubectl("get", "pods", "-o",
                    'jsonpath={range .items[*]}{.metadata.name}={.spec.restartPolicy}{"\\n"}{end}')
    assert lines.out == "once=Never\nweb=Always\n"
    columns = kubectl("get", "pods", "-o", "custom-columns=NAME:.metadata.name,ARGS:.spec.containers[0].args",
                      "--sort-by=.spec.restartPolicy", "--no-headers")
    assert columns.out.split("\n")[0].split() == ["web", "<none>"]
    assert columns.out.split("\n")[1].split() == ["once", '["echo","hi"]']

    everything = kubectl("get", "all")
    assert everything.code == 0
    assert "pod/web " in everything.out and "deployment.apps/shop " in everything.out

    bad = kubectl("get", "pods", "-o", "jsonpath={.metadata.name")
    assert (bad.code, bad.out, bad.err) == (1, "", "error: error parsing jsonpath {.metadata.name, unclosed action\n")
    bad = kubectl("get", "pods", "-o", "custom-columns=NAME")
    assert (bad.code, bad.err) == (1, "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>\n")

    # wait follows a live watch: it is started first, then the change it waits for is made.
    waiter = subprocess.Popen(
        [sys.executable, "-m", "kubectl", "--server", apiserver.address, "wait", "pod/web",
         "--for=jsonpath={.metadata.labels.ready}=yes", "--timeout=60s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=repo_env(), cwd=REPO_ROOT)
    try:
        assert kubectl("label", "pod/web", "ready=yes").code == 0
        out, err = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    assert (waiter.returncode, out, err) == (0, "pod/web condition met\n", "")
    timed_out = kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=1s")
    assert (timed_out.code, timed_out.err) == (1, "error: timed out waiting for the condition on pods/web\n")

    assert kubectl("apply", "-f", "-", stdin=EVENT).code == 0
    events = kubectl("events", "--for", "pod/web")
    assert events.code == 0
    assert events.out.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "Normal   Pulled   Pod/web   Successfully pulled image \"nginx:1.25\"" in events.out
