"""SelfSubjectAccessReview against a real in-process apiserver with Node,RBAC, and
``pykubectl auth can-i`` asking it: yes/no as kubectl prints them, impersonation (--as)
only for callers allowed to impersonate. Callers are named by an ``x-user`` header."""

from __future__ import annotations

import io
from typing import Any

import grpc
import pytest

from apimachinery.convert import from_dict
from apimachinery.kinds import wrap
from apiserver.auth.attributes import NO_USER_MESSAGE
from apiserver_testlib import HeaderAuthenticator, namespace, rpc_error
from client.config import Settings
from kubectl.context import Context
from kubectl.main import parse_command_line
from kubectl.verbs.auth import build_request
from protos import api_pb2

RBAC = "rbac.authorization.k8s.io"


ADMIN = [("x-user", "admin|system:masters")]
ALICE = [("x-user", "alice")]
BOB = [("x-user", "bob")]


@pytest.fixture
def server(server_factory: Any) -> Any:
    server = server_factory(authenticator=HeaderAuthenticator(), authorization_mode="Node,RBAC")
    stub = server.stub
    stub.Create(api_pb2.CreateRequest(object=namespace("dev")), metadata=ADMIN)
    for manifest in (
        {"kind": "Role", "metadata": {"name": "pod-reader", "namespace": "dev"},
         "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
        {"kind": "RoleBinding", "metadata": {"name": "alice-reads", "namespace": "dev"},
         "subjects": [{"kind": "User", "name": "alice", "apiGroup": RBAC}],
         "roleRef": {"kind": "Role", "name": "pod-reader", "apiGroup": RBAC}},
        {"kind": "ClusterRole", "metadata": {"name": "impersonate-bob"},
         "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["bob"]}]},
        {"kind": "ClusterRoleBinding", "metadata": {"name": "alice-is-bob"},
         "subjects": [{"kind": "User", "name": "alice", "apiGroup": RBAC}],
         "roleRef": {"kind": "ClusterRole", "name": "impersonate-bob", "apiGroup": RBAC}},
    ):
        stub.Create(api_pb2.CreateRequest(object=wrap(from_dict({"apiVersion": f"{RBAC}/v1", **manifest}))),
                    metadata=ADMIN)
    return server


def review(verb: str, resource: str, namespace: str = "", *, name: str = "", subresource: str = "",
           as_user: str = "", as_groups: tuple[str, ...] = ()) -> api_pb2.SelfSubjectAccessReviewRequest:
    return api_pb2.SelfSubjectAccessReviewRequest(
        resource_attributes=api_pb2.ResourceAttributes(verb=verb, resource=resource, namespace=namespace, name=name,
                                                       subresource=subresource),
        impersonate_user=as_user, impersonate_groups=as_groups)


def test_a_user_reviews_their_own_access(server: Any) -> None:
    ask = server.stub.SelfSubjectAccessReview
    assert ask(review("list", "pods", "dev"), metadata=ALICE).allowed
    assert not ask(review("list", "pods", "default"), metadata=ALICE).allowed
    assert not ask(review("delete", "pods", "dev", name="x"), metadata=ALICE).allowed
    assert ask(review("delete", "nodes"), metadata=ADMIN).allowed
    version = api_pb2.SelfSubjectAccessReviewRequest(
        non_resource_attributes=api_pb2.NonResourceAttributes(path="/version", verb="get"))
    assert ask(version, metadata=BOB).allowed  # system:public-info-viewer
    err = rpc_error(lambda: ask(api_pb2.SelfSubjectAccessReviewRequest(), metadata=BOB))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "exactly one of nonResourceAttributes or resourceAttributes must be specified" in err.details()
    assert rpc_error(lambda: ask(review("get", "pods"))).code() == grpc.StatusCode.UNAUTHENTICATED


def test_impersonation_needs_the_impersonate_verb(server: Any) -> None:
    ask = server.stub.SelfSubjectAccessReview
    assert not ask(review("list", "pods", "dev", as_user="bob"), metadata=ALICE).allowed  # answered for bob
    assert ask(review("list", "pods", "dev", as_user="alice"), metadata=ADMIN).allowed
    err = rpc_error(lambda: ask(review("list", "pods", "dev", as_user="carol"), metadata=ALICE))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == ('users "carol" is forbidden: User "alice" cannot impersonate resource "users" in API '
                             'group "" at the cluster scope')
    err = rpc_error(lambda: ask(review("list", "pods", "dev", as_user="bob", as_groups=("system:masters",)),
                                metadata=ALICE))
    assert err.details().startswith('groups "system:masters" is forbidden: User "alice" cannot impersonate')
    err = rpc_error(lambda: ask(review("list", "pods", "dev", as_groups=("devs",)), metadata=ADMIN))
    assert (err.code(), err.details()) == (grpc.StatusCode.INVALID_ARGUMENT, NO_USER_MESSAGE)
    # Impersonating a group in system:masters is as good as being one.
    assert ask(review("delete", "nodes", as_user="x", as_groups=("system:masters",)), metadata=ADMIN).allowed


# ------------------------------------------------------------------ pykubectl auth can-i


class AsUser:
    """The API stub, every call made as one x-user."""

    def __init__(self, stub: Any, metadata: list) -> None:
        self.stub, self.metadata = stub, metadata

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.stub, name)
        return lambda request: method(request, metadata=self.metadata)


def can_i(server: Any, who: list, *words: str) -> tuple[int, str, str]:
    args = parse_command_line(["auth", "can-i", *words])
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(server=server.address, namespace=args.namespace or "default")
    ctx = Context(settings=settings, connect=lambda: AsUser(server.stub, who), out=out, err=err, stdin=io.StringIO())
    return args.run(args, ctx), out.getvalue(), err.getvalue()


def test_can_i_answers_yes_or_no_with_kubectls_exit_codes(server: Any) -> None:
    assert can_i(server, ALICE, "list", "pods", "-n", "dev") == (0, "yes\n", "")
    assert can_i(server, ALICE, "get", "po/web", "-n", "dev") == (0, "yes\n", "")
    assert can_i(server, ALICE, "get", "pods", "web", "-n", "dev") == (0, "yes\n", "")
    assert can_i(server, ALICE, "list", "pods") == (1, "no\n", "")
    assert can_i(server, ALICE, "list", "pods", "-A") == (1, "no\n", "")
    assert can_i(server, ALICE, "-q", "list", "pods") == (1, "", "")
    assert can_i(server, ALICE, "get", "pods", "--subresource", "log", "-n", "dev") == (1, "no\n", "")
    assert can_i(server, ADMIN, "list", "nodes", "-n", "dev") == (
        0, "yes\n", "Warning: resource 'nodes' is not namespace scoped\n")
    assert can_i(server, BOB, "get", "/version") == (0, "yes\n", "")
    assert can_i(server, ALICE, "list", "pods", "-n", "dev", "--as", "bob") == (1, "no\n", "")
    assert can_i(server, ADMIN, "list", "pods", "-n", "dev", "--as", "alice") == (0, "yes\n", "")
    with pytest.raises(grpc.RpcError) as caught:  # pykubectl's main prints it as kubectl: Error from server (Forbidden)
        can_i(server, ALICE, "list", "pods", "--as", "carol")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_can_i_builds_kubectls_review() -> None:
    warnings: list[str] = []

    def built(*words: str, namespace: str = "default") -> Any:
        return build_request(parse_command_line(["auth", "can-i", *words]), namespace, warnings.append)

    request = built("create", "deployments.apps")
    assert request.resource_attributes == api_pb2.ResourceAttributes(verb="create", group="apps",
                                                                     resource="deployments", namespace="default")
    assert built("*", "*").resource_attributes.resource == "*"
    assert built("get", "/logs/").non_resource_attributes == api_pb2.NonResourceAttributes(path="/logs/", verb="get")
    assert built("list", "widgets.example.com/bar").resource_attributes.resource == "widgets.example.com"
    assert built("frob", "pods", "--as", "bob", "--as-group", "g1", "--as-group", "g2").impersonate_groups == [
        "g1", "g2"]
    built("list", "clusterroles")
    built("list", "clusterroles", namespace="")  # -A: no warning
    assert warnings == ["Warning: the server doesn't have a resource type 'widgets' in group 'example.com'",
                        "Warning: verb 'frob' is not a known verb",
                        "Warning: resource 'clusterroles' is not namespace scoped in group 'rbac.authorization.k8s.io'"]


def test_pykubectl_auth_can_i_end_to_end_on_a_plaintext_server(server_factory: Any) -> None:
    """Without TLS every caller is system:unsecured in system:masters: always yes."""
    from kubectl.main import main
    plain = server_factory()
    out, err = io.StringIO(), io.StringIO()
    env = {"PYKUBECONFIG": "/nonexistent/config"}
    assert main(["-s", plain.address, "auth", "can-i", "delete", "nodes"], env=env, stdout=out, stderr=err) == 0
    assert (out.getvalue(), err.getvalue()) == ("yes\n", "Warning: resource 'nodes' is not namespace scoped\n")
    out, err = io.StringIO(), io.StringIO()
    assert main(["-s", plain.address, "auth", "can-i", "list"], env=env, stdout=out, stderr=err) == 1
    assert err.getvalue() == "error: you must specify two arguments: verb resource or verb resource/resourceName.\n"
