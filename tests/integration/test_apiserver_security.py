"""A real pykube-apiserver over mutual TLS with ``--authorization-mode Node,RBAC``: who gets
in (a certificate from the cluster CA, nothing else) and who may do what (the bootstrap
policy, a Role for alice, the Node authorizer for kubelets), with Kubernetes' wording."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from apimachinery.convert import from_dict
from apimachinery.kinds import wrap
from client import pki
from client.connection import TLSConfig, connect
from kubectl.manifest import load_objects
from protos import api_pb2, api_pb2_grpc
from apiserver_process import ApiserverProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

USERS = {
    "admin": ("system:admin", ("system:masters",)),
    "alice": ("alice", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "n1": ("system:node:n1", ("system:nodes",)),
}


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> tuple[pki.CertKey, Path]:
    root = tmp_path_factory.mktemp("pki")
    ca = pki.create_ca()
    pki.write_cert_key(root, "ca", ca)
    pki.write_cert_key(root, "apiserver", pki.issue_serving_cert(ca, "pykube-apiserver", ips=["127.0.0.1"],
                                                                  dns_names=["localhost"]))
    return ca, root


@pytest.fixture(scope="module")
def apiserver(ca, tmp_path_factory):
    _, root = ca
    base = tmp_path_factory.mktemp("secure-apiserver")
    server = ApiserverProcess(base / "data", base / "apiserver.log", extra_args=[
        "--tls-cert-file", str(root / "apiserver.crt"), "--tls-private-key-file", str(root / "apiserver.key"),
        "--client-ca-file", str(root / "ca.crt"), "--authorization-mode", "Node,RBAC"]).start()
    try:
        yield server
    finally:
        server.stop()


def client(apiserver, ca: pki.CertKey, who: str | None, trusted: pki.CertKey | None = None):
    """A connection as ``who`` (a key of USERS; None: no certificate), trusting ``trusted``."""
    pair = pki.issue_client_cert(ca, *USERS[who]) if who else None
    tls = TLSConfig((trusted or ca).cert_pem(), pair.cert_pem() if pair else None, pair.key_pem() if pair else None)
    return connect(apiserver.address, tls=tls)


def create(conn, manifest: dict):
    return conn.stub.Create(api_pb2.CreateRequest(object=wrap(from_dict(manifest))))


def denied(call) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, caught.value
    return caught.value.details()


def pod(name: str, namespace: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": "main", "image": "docker.io/library/multi-worker:1.0"}]}}


def test_a_client_without_a_certificate_from_the_cluster_ca_is_refused_at_the_handshake(apiserver, ca):
    plaintext = grpc.insecure_channel(apiserver.address)
    with pytest.raises(grpc.RpcError) as caught:
        api_pb2_grpc.APIStub(plaintext).Version(api_pb2.VersionRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    with client(apiserver, ca[0], None) as conn, pytest.raises(grpc.RpcError) as caught:
        conn.stub.Version(api_pb2.VersionRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    other = pki.create_ca("someone else's CA")
    with client(apiserver, other, "admin", trusted=ca[0]) as conn, pytest.raises(grpc.RpcError) as caught:
        conn.stub.Version(api_pb2.VersionRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_alice_with_a_role_in_dev_lists_pods_there_and_nowhere_else(apiserver, ca):
    with client(apiserver, ca[0], "admin") as admin:
        create(admin, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}})
        for obj in load_objects([str(EXAMPLES / "rbac-alice.yaml")]):  # the README's example
            admin.stub.Create(api_pb2.CreateRequest(object=wrap(obj)))
    with client(apiserver, ca[0], "alice") as alice:
        assert alice.stub.List(api_pb2.ListRequest(kind="Pod", namespace="dev")).items == []
        message = denied(lambda: alice.stub.List(api_pb2.ListRequest(kind="Pod", namespace="default")))
        assert message.startswith('pods is forbidden: User "alice" cannot list resource "pods" in API group "" '
                                  'in the namespace "default"'), message
        denied(lambda: create(alice, pod("sneaky", "dev")))


def test_the_scheduler_cannot_delete_a_deployment(apiserver, ca):
    with client(apiserver, ca[0], "admin") as admin:
        create(admin, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                                "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [{"name": "main", "image": "docker.io/library/multi-worker:1.0"}]}}}})
    with client(apiserver, ca[0], "scheduler") as scheduler:
        message = denied(lambda: scheduler.stub.Delete(api_pb2.DeleteRequest(kind="Deployment", namespace="default",
                                                                              name="web")))
        assert message.startswith('deployments.apps "web" is forbidden: User "system:kube-scheduler" cannot delete '
                                  'resource "deployments" in API group "apps" in the namespace "default"'), message
        assert scheduler.stub.List(api_pb2.ListRequest(kind="Pod")) is not None  # it may read Pods


def test_kubelet_n1_writes_only_its_own(apiserver, ca):
    with client(apiserver, ca[0], "admin") as admin:
        for name in ("n1", "n2"):
            create(admin, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        create(admin, pod("on-n2"))
        admin.stub.Bind(api_pb2.BindRequest(namespace="default", name="on-n2", node_name="n2"))
        on_n2 = admin.stub.Get(api_pb2.GetRequest(kind="Pod", namespace="default", name="on-n2"))
        n2 = admin.stub.Get(api_pb2.GetRequest(kind="Node", name="n2"))
    with client(apiserver, ca[0], "n1") as kubelet:
        denied(lambda: kubelet.stub.UpdateStatus(api_pb2.UpdateRequest(object=on_n2)))
        denied(lambda: kubelet.stub.UpdateStatus(api_pb2.UpdateRequest(object=n2)))
        denied(lambda: kubelet.stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace="default", name="on-n2")))
        own = kubelet.stub.Get(api_pb2.GetRequest(kind="Node", name="n1"))  # reads are allowed
        assert kubelet.stub.UpdateStatus(api_pb2.UpdateRequest(object=own)) is not None


def test_kubelet_n1_cannot_label_its_own_node_to_attract_workloads(apiserver, ca):
    with client(apiserver, ca[0], "admin") as admin:
        try:
            create(admin, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    with client(apiserver, ca[0], "n1") as kubelet:
        own = kubelet.stub.Get(api_pb2.GetRequest(kind="Node", name="n1"))
        own.node.metadata.labels["node-restriction.kubernetes.io/fast-disk"] = "true"
        message = denied(lambda: kubelet.stub.Update(api_pb2.UpdateRequest(object=own)))
        assert message == ('nodes "n1" is forbidden: is not allowed to modify labels: '
                           'node-restriction.kubernetes.io/fast-disk'), message
        stored = kubelet.stub.Get(api_pb2.GetRequest(kind="Node", name="n1"))
        assert "node-restriction.kubernetes.io/fast-disk" not in stored.node.metadata.labels


def test_a_user_who_may_create_rolebindings_cannot_bind_cluster_admin_to_himself(apiserver, ca):
    rbac = "rbac.authorization.k8s.io"
    with client(apiserver, ca[0], "admin") as admin:
        create(admin, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
        create(admin, {"apiVersion": f"{rbac}/v1", "kind": "Role", "metadata": {"name": "binder", "namespace": "team"},
                       "rules": [{"apiGroups": [rbac], "resources": ["rolebindings"],
                                  "verbs": ["get", "list", "create"]}]})
        create(admin, {"apiVersion": f"{rbac}/v1", "kind": "RoleBinding",
                       "metadata": {"name": "alice-binds", "namespace": "team"},
                       "subjects": [{"kind": "User", "name": "alice", "apiGroup": rbac}],
                       "roleRef": {"kind": "Role", "name": "binder", "apiGroup": rbac}})
    with client(apiserver, ca[0], "alice") as alice:
        review = api_pb2.SelfSubjectAccessReviewRequest(resource_attributes=api_pb2.ResourceAttributes(
            verb="create", group=rbac, resource="rolebindings", namespace="team"))
        assert alice.stub.SelfSubjectAccessReview(review).allowed  # what auth can-i asks
        message = denied(lambda: create(alice, {
            "apiVersion": f"{rbac}/v1", "kind": "RoleBinding", "metadata": {"name": "root", "namespace": "team"},
            "subjects": [{"kind": "User", "name": "alice", "apiGroup": rbac}],
            "roleRef": {"kind": "ClusterRole", "name": "cluster-admin", "apiGroup": rbac}}))
        assert message.startswith(f'rolebindings.{rbac} "root" is forbidden: user "alice" (groups=['), message
        assert "is attempting to grant RBAC permissions not currently held" in message
        listed = alice.stub.List(api_pb2.ListRequest(kind="RoleBinding", namespace="team"))
        assert [o.role_binding.metadata.name for o in listed.items] == ["alice-binds"]
        review.resource_attributes.CopyFrom(api_pb2.ResourceAttributes(verb="delete", resource="nodes"))
        assert not alice.stub.SelfSubjectAccessReview(review).allowed
        review.impersonate_user = "system:admin"  # alice may not impersonate
        assert denied(lambda: alice.stub.SelfSubjectAccessReview(review)).startswith(
            'users "system:admin" is forbidden: User "alice" cannot impersonate resource "users"')


def test_pykube_user_add_makes_a_kubeconfig_the_apiserver_accepts(apiserver, ca, tmp_path):
    from client.config import load_settings
    from cluster.state_dir import ClusterSpec
    from cluster.users import add_user
    authority, root = ca
    state = tmp_path / "state"
    pki.write_cert_key(state / "pki", "ca", authority)
    ClusterSpec(name="t", port=int(apiserver.address.rsplit(":", 1)[1]), nodes=[]).save(state / "cluster.json")
    added = add_user(state, "carol", ("viewers",))
    settings = load_settings(None, None, {"PYKUBECONFIG": str(added.path)})
    with connect(settings.server, tls=settings.tls) as conn:
        review = api_pb2.SelfSubjectAccessReviewRequest(resource_attributes=api_pb2.ResourceAttributes(
            verb="list", resource="pods", namespace="default"))
        assert not conn.stub.SelfSubjectAccessReview(review).allowed  # carol, who may do nothing yet
        denied(lambda: conn.stub.List(api_pb2.ListRequest(kind="Pod", namespace="default")))
