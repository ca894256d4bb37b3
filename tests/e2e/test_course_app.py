"""The course app (examples/complex/) end to end, on the e2e session's `pykube up --nodes 3`.

Applied as a user does, the whole directory at once, into a namespace of its own:
`pykubectl apply -f examples/complex/ -n <ns>`. Then, every part seen doing its job:

* the migration Job completes (it wrote the schema version and the first note);
* the web client answers on the NodePort (the host's 127.0.0.1:31580) with the welcome text
  of the ConfigMap's file and the notes it got from the API with the Secret's token; a note
  added through its form is stored by the API in the kv store;
* the worker counts the notes, each node's agent (a DaemonSet) writes its node's line;
* the API refuses a request without the token (from inside a web Pod, by the Service's name);
* the kv store's Pod kv-0 is deleted: the StatefulSet makes a new kv-0, which mounts the same
  PersistentVolumeClaim (data-kv-0) and finds the notes there.

The last test deletes what the first one made (the claim and the namespace too).
Everything waits for an event with a deadline; nothing sleeps a fixed time."""

from __future__ import annotations

import os
import re

from apimachinery.kinds import unwrap
from e2e_support import EXAMPLES, kubectl, list_objects, live, running, stub, wait_for
from protos import api_pb2
from test_services import first_answer, http_get

APP = EXAMPLES / "complex"
NS = f"course-{os.getpid() % 10000}"
NODE_PORT = 31580
PAGE = f"http://127.0.0.1:{NODE_PORT}/"
TOKEN = "course-token-change-me"  # examples/complex/00-config.yaml
NOTE = "a note that outlives its Pod"
NODES = ("n1", "n2", "n3")


def pods(cluster, component: str) -> list:
    return list_objects(cluster, "Pod", namespace=NS, label_selector=f"app=course,component={component}")


def running_pods(cluster, component: str, want: int):
    current = [p for p in pods(cluster, component) if live(p)]
    return current if len(current) == want and all(running(p) for p in current) else None


def get(cluster, kind: str, name: str):
    reply = stub(cluster).Get(api_pb2.GetRequest(kind=kind, namespace=NS, name=name), timeout=10)
    return unwrap(reply)


def exec_in_web(cluster, script: str) -> tuple[int, str]:
    web = running_pods(cluster, "web", 2)
    assert web, "the web Pods are not running"
    done = kubectl(cluster, "exec", "-n", NS, web[0].metadata.name, "--", "sh", "-c", script, timeout=60)
    return done.returncode, done.stdout + done.stderr


def section(page: str, title: str) -> str:
    """The text of the page's <pre> under <h2>title</h2>."""
    match = re.search(rf"<h2>{title}</h2><pre>(.*?)</pre>", page, re.DOTALL)
    assert match, page
    return match.group(1)


def test_apply_the_directory_and_every_part_starts(cluster):
    created = kubectl(cluster, "create", "namespace", NS)
    assert created.returncode == 0, created.stdout + created.stderr
    applied = kubectl(cluster, "apply", "-f", str(APP), "-n", NS)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for line in ("configmap/course-config created", "secret/course-api-token created", "service/kv created",
                 "statefulset.apps/kv created", "job.batch/migrate created", "deployment.apps/api created",
                 "deployment.apps/worker created", "daemonset.apps/node-agent created", "service/web created",
                 "deployment.apps/web created"):
        assert line in applied.stdout, applied.stdout

    wait_for("kv-0 Running", lambda: running_pods(cluster, "kv", 1), timeout=180)
    claim = wait_for("kv-0's claim data-kv-0 Bound", lambda: (c := get(cluster, "PersistentVolumeClaim", "data-kv-0"))
                     .status.phase == "Bound" and c, timeout=30)
    assert claim.spec.storage_class_name == "local-path"  # the default class
    wait_for("the migration Job complete", lambda: get(cluster, "Job", "migrate").status.succeeded == 1, timeout=120)
    wait_for("2 api Pods ready", lambda: running_pods(cluster, "api", 2), timeout=120)
    wait_for("2 web Pods ready", lambda: running_pods(cluster, "web", 2), timeout=120)
    wait_for("the worker running", lambda: running_pods(cluster, "worker", 1), timeout=120)
    agents = wait_for("a node agent on each node", lambda: running_pods(cluster, "node-agent", len(NODES)),
                      timeout=120)
    assert sorted(p.spec.node_name for p in agents) == list(NODES)


def test_the_web_page_shows_the_config_and_the_notes_and_takes_a_new_one(cluster):
    page = first_answer(PAGE, timeout=60)
    assert "<h1>Course notes, kept in a key-value store on a PersistentVolumeClaim</h1>" in page, page
    assert "note-0-welcome: Welcome! This first note was written by the migration Job." in section(page, "Notes")
    assert "schema-version: 1" in section(page, "Info")

    # The form's GET: the web Pod posts it to the API, which stores it; then back to "/".
    after = http_get(f"{PAGE}cgi-bin/add?text={NOTE.replace(' ', '+')}", timeout=10)
    notes = section(after, "Notes")
    assert re.search(rf"^note-\d+-\d+: {NOTE}$", notes, re.MULTILINE), notes


def test_the_worker_counts_the_notes_and_every_node_agent_reports(cluster):
    def info():
        text = section(http_get(PAGE, timeout=10), "Info")
        return text if "notes-counted: 2" in text and all(f"node-{n}: agent node-agent-" in text for n in NODES) \
            else None
    text = wait_for("notes-counted 2 and a line from each node's agent", info, timeout=60)
    assert re.search(r"^node-n1: agent node-agent-\S+: \d+ cpus, \d+ kB, up [0-9.]+ s$", text, re.MULTILINE), text
    (worker,) = running_pods(cluster, "worker", 1)
    logs = kubectl(cluster, "logs", "-n", NS, worker.metadata.name)
    assert logs.returncode == 0 and "counted 2 notes" in logs.stdout, logs.stdout + logs.stderr


def test_the_api_wants_the_secrets_token(cluster):
    url = f"http://api.{NS}.svc.cluster.local:8080/cgi-bin/notes"
    rc, out = exec_in_web(cluster, f"timeout 5 wget -qO- {url}")
    assert rc != 0 and "401" in out, out
    rc, out = exec_in_web(cluster, f"timeout 5 wget -qO- --header 'Authorization: Bearer wrong' {url}")
    assert rc != 0 and "401" in out, out
    rc, out = exec_in_web(cluster, f"timeout 5 wget -qO- --header 'Authorization: Bearer {TOKEN}' {url}")
    assert rc == 0 and NOTE in out, out


def test_a_new_kv_pod_finds_the_data_of_the_deleted_one(cluster):
    (old,) = running_pods(cluster, "kv", 1)
    stub(cluster).Delete(api_pb2.DeleteRequest(kind="Pod", namespace=NS, name="kv-0", grace_period_seconds=1),
                         timeout=10)

    def replaced():
        now = running_pods(cluster, "kv", 1)
        return now[0] if now and now[0].metadata.uid != old.metadata.uid else None
    new = wait_for("a new kv-0 Running", replaced, timeout=120)
    (volume,) = [v for v in new.spec.volumes if v.name == "data"]
    assert volume.persistent_volume_claim.claim_name == "data-kv-0"
    assert new.spec.node_name == old.spec.node_name  # the local volume's node affinity brought it back
    # The store answers by its Service name (DNS now gives the new Pod's address) ...
    url = f"http://kv.{NS}.svc.cluster.local:8080/cgi-bin/kv"
    keys = wait_for("the new kv-0 answering through its Service",
                    lambda: (r := exec_in_web(cluster, f"timeout 5 wget -qO- {url}"))[0] == 0 and r[1], timeout=60)
    # ... with the keys the old Pod stored: the migration's, and the note added through the page.
    assert {"schema-version", "note-0-welcome"} <= set(keys.split()), keys
    notes = section(http_get(PAGE, timeout=10), "Notes")
    assert NOTE in notes and "note-0-welcome" in notes, notes


def test_deleting_the_app_leaves_nothing(cluster):
    deleted = kubectl(cluster, "delete", "-f", str(APP), "-n", NS, "--grace-period", "1", "--timeout", "90s",
                      timeout=120)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    # The claim outlives the StatefulSet (retention policy Retain, as Kubernetes): deleted by hand.
    claim = kubectl(cluster, "delete", "pvc", "data-kv-0", "-n", NS)
    assert claim.returncode == 0, claim.stdout + claim.stderr
    wait_for("the app's Pods gone", lambda: not list_objects(cluster, "Pod", namespace=NS), timeout=120)
    # The class reclaims with Delete: the volume provisioned for the claim goes with it.
    wait_for("the claim's volume deleted", lambda: not [pv for pv in list_objects(cluster, "PersistentVolume", "")
                                                        if pv.spec.claim_ref.namespace == NS], timeout=60)
    gone = kubectl(cluster, "delete", "namespace", NS)
    assert gone.returncode == 0, gone.stdout + gone.stderr
