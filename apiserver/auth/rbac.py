"""The RBAC authorizer: Kubernetes' plugin/pkg/auth/authorizer/rbac semantics over
pykube's Role, ClusterRole, RoleBinding and ClusterRoleBinding objects.

A request is allowed when some rule granted to the user allows it:

* a ClusterRoleBinding grants its ClusterRole's rules everywhere (every namespace and
  cluster-scoped resources);
* a RoleBinding grants its Role's rules, or its ClusterRole's, in the binding's namespace only;
* a subject matches by user name (User), group (Group), or ServiceAccount, which is the user
  ``system:serviceaccount:<namespace>:<name>`` (namespace: the RoleBinding's when unset);
* a rule matches verb (or "*"), API group (or "*"), resource: "pods", "pods/status"
  (resource/subresource), "*", or "*/status" (that subresource of anything), and
  resourceNames (empty: any; else the request's name must be listed, so requests without
  a name, create/list/watch/deletecollection, cannot be restricted by name); a non-resource
  request matches nonResourceURLs ("/version", "*", or a "/apis/*" prefix);
* the group ``system:masters`` may do anything (Kubernetes' privileged group, checked first).

The hot path never re-evaluates unchanged RBAC: the objects are indexed (per subject:
the grants that bind it, cluster-wide and per namespace), and decisions are memoized per
(user, groups, verb, group, resource, subresource, namespace, name, path). Any change to
an RBAC object (``apply_event``, fed from the apiserver's watch cache, or ``replace``)
drops the memo and marks the index stale; the index is rebuilt once, at the next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from google.protobuf.message import Message

from apimachinery.identity import UserInfo
from apimachinery.kinds import RBAC_GROUP
from apiserver.auth.attributes import ALLOW, SERVICE_ACCOUNT_PREFIX, Attributes, Decision
from protos import rbac_pb2

SYSTEM_MASTERS = "system:masters"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
MEMO_LIMIT = 65536  # decisions remembered before the memo starts over (bounded memory)

SubjectKey = tuple[str, str]  # ("User", name) or ("Group", name)


@dataclass(frozen=True, slots=True)
class Rule:
    """A PolicyRule, prepared for matching."""

    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: tuple[str, ...]
    resource_names: frozenset[str]
    non_resource_urls: tuple[str, ...]

    @classmethod
    def of(cls, rule: rbac_pb2.PolicyRule) -> "Rule":
        return cls(frozenset(rule.verbs), frozenset(rule.api_groups), tuple(rule.resources),
                   frozenset(rule.resource_names), tuple(rule.non_resource_urls))

    @classmethod
    def make(cls, verbs: Iterable[str], api_groups: Iterable[str] = (), resources: Iterable[str] = (),
             resource_names: Iterable[str] = (), non_resource_urls: Iterable[str] = ()) -> "Rule":
        return cls(frozenset(verbs), frozenset(api_groups), tuple(resources), frozenset(resource_names),
                   tuple(non_resource_urls))

    def allows(self, attrs: Attributes) -> bool:
        """Kubernetes' RuleAllows."""
        if not ("*" in self.verbs or attrs.verb in self.verbs):
            return False
        if not attrs.is_resource_request:
            return any(url == "*" or url == attrs.path or (url.endswith("*") and attrs.path.startswith(url[:-1]))
                       for url in self.non_resource_urls)
        if not ("*" in self.api_groups or attrs.api_group in self.api_groups):
            return False
        sub = attrs.subresource
        combined = f"{attrs.resource}/{sub}" if sub else attrs.resource
        if not any(r == "*" or r == combined or (sub and r == f"*/{sub}") for r in self.resources):
            return False
        return not self.resource_names or attrs.name in self.resource_names

    def to_proto(self) -> rbac_pb2.PolicyRule:
        return rbac_pb2.PolicyRule(verbs=sorted(self.verbs), api_groups=sorted(self.api_groups),
                                   resources=self.resources, resource_names=sorted(self.resource_names),
                                   non_resource_urls=self.non_resource_urls)


def rules_allow(attrs: Attributes, rules: Iterable[Rule]) -> bool:
    return any(rule.allows(attrs) for rule in rules)


@dataclass(frozen=True, slots=True)
class Grant:
    """What one binding gives one subject: its role's rules, described as Kubernetes
    describes the source of an allow. error: the role it names does not exist."""

    rules: tuple[Rule, ...]
    source: str
    error: str = ""


def describe_subject(subject: rbac_pb2.Subject, binding_namespace: str) -> str:
    if subject.kind == "ServiceAccount":
        return f'ServiceAccount "{subject.name}/{subject.namespace or binding_namespace}"'
    return f'{subject.kind} "{subject.name}"'


def subject_key(subject: rbac_pb2.Subject, binding_namespace: str) -> SubjectKey | None:
    if subject.kind == "User" and subject.api_group in ("", RBAC_GROUP):
        return ("User", subject.name)
    if subject.kind == "Group" and subject.api_group in ("", RBAC_GROUP):
        return ("Group", subject.name)
    if subject.kind == "ServiceAccount" and not subject.api_group:
        namespace = subject.namespace or binding_namespace
        return ("User", f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{subject.name}") if namespace else None
    return None


def _not_found(kind: str, name: str) -> str:
    return f'{kind.lower()}.{RBAC_GROUP} "{name}" not found'


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate's wording: one error alone, several as [a, b]."""
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


class RBACAuthorizer:
    """Authorizes by the RBAC objects it was given; see the module docstring."""

    def __init__(self, objects: Iterable[Message] = (), memo_limit: int = MEMO_LIMIT) -> None:
        self.memo_limit = memo_limit
        self._roles: dict[tuple[str, str], rbac_pb2.Role] = {}
        self._cluster_roles: dict[str, rbac_pb2.ClusterRole] = {}
        self._role_bindings: dict[tuple[str, str], rbac_pb2.RoleBinding] = {}
        self._cluster_role_bindings: dict[str, rbac_pb2.ClusterRoleBinding] = {}
        self._cluster: dict[SubjectKey, list[Grant]] = {}
        self._namespaced: dict[str, dict[SubjectKey, list[Grant]]] = {}
        self._memo: dict[tuple, Decision] = {}
        self._named: set = set()
        self._stale = True
        self.rebuilds = 0  # how often the index was built (tests and metrics)
        self.replace(objects)

    # ------------------------------------------------------------ feeding

    def replace(self, objects: Iterable[Message]) -> None:
        """Start over from these objects (non-RBAC objects are ignored): a relist."""
        self._roles.clear()
        self._cluster_roles.clear()
        self._role_bindings.clear()
        self._cluster_role_bindings.clear()
        for obj in objects:
            self._put(obj)
        self._invalidate()

    def apply_event(self, event_type: str, obj: Message) -> None:
        """A watch event (ADDED, MODIFIED, DELETED) of any kind; only RBAC kinds matter."""
        if type(obj).__name__ not in RBAC_KINDS or event_type == "BOOKMARK":
            return
        if event_type == "DELETED":
            self._remove(obj)
        else:
            self._put(obj)
        self._invalidate()

    def _table(self, obj: Message) -> tuple[dict, object]:
        meta = obj.metadata  # type: ignore[attr-defined]
        if isinstance(obj, rbac_pb2.Role):
            return self._roles, (meta.namespace, meta.name)
        if isinstance(obj, rbac_pb2.RoleBinding):
            return self._role_bindings, (meta.namespace, meta.name)
        if isinstance(obj, rbac_pb2.ClusterRole):
            return self._cluster_roles, meta.name
        if isinstance(obj, rbac_pb2.ClusterRoleBinding):
            return self._cluster_role_bindings, meta.name
        return {}, None

    def _put(self, obj: Message) -> None:
        table, key = self._table(obj)
        if key is not None:
            table[key] = obj

    def _remove(self, obj: Message) -> None:
        table, key = self._table(obj)
        table.pop(key, None)

    def _invalidate(self) -> None:
        self._memo.clear()
        self._stale = True

    # ------------------------------------------------------------ the index

    def _role_rules(self, ref: rbac_pb2.RoleRef, namespace: str) -> tuple[tuple[Rule, ...] | None, str]:
        if ref.kind == "ClusterRole":
            role: Message | None = self._cluster_roles.get(ref.name)
        elif ref.kind == "Role":
            role = self._roles.get((namespace, ref.name))
        else:
            return None, f'unsupported role reference kind: "{ref.kind}"'
        if role is None:
            return None, _not_found(ref.kind, ref.name)
        return tuple(Rule.of(r) for r in role.rules), ""  # type: ignore[attr-defined]

    def _rebuild(self) -> None:
        self._cluster, self._namespaced = {}, {}
        self._named = self._named_resources()
        for name in sorted(self._cluster_role_bindings):
            binding = self._cluster_role_bindings[name]
            self._index(self._cluster, binding, "", f'ClusterRoleBinding "{name}"')
        for namespace, name in sorted(self._role_bindings):
            binding = self._role_bindings[(namespace, name)]
            self._index(self._namespaced.setdefault(namespace, {}), binding, namespace,
                        f'RoleBinding "{name}/{namespace}"')
        self._stale = False
        self.rebuilds += 1

    def _named_resources(self) -> set:
        """(group, resource) pairs some rule restricts by resourceNames ("*" when a wildcard
        resource is restricted so: then every name matters)."""
        named: set = set()
        for role in (*self._roles.values(), *self._cluster_roles.values()):
            for rule in role.rules:
                if not rule.resource_names:
                    continue
                for resource in rule.resources:
                    base = resource.partition("/")[0]
                    if base == "*":
                        named.add("*")
                    for group in rule.api_groups:
                        named.add((group, base))
        return named

    def _index(self, index: dict[SubjectKey, list[Grant]], binding: Message, namespace: str, what: str) -> None:
        ref = binding.role_ref  # type: ignore[attr-defined]
        rules, error = self._role_rules(ref, namespace)
        seen: set[SubjectKey] = set()  # a binding counts once per subject (its first match describes it)
        for subject in binding.subjects:  # type: ignore[attr-defined]
            key = subject_key(subject, namespace)
            if key is None or key in seen:
                continue
            seen.add(key)
            source = f'{what} of {ref.kind} "{ref.name}" to {describe_subject(subject, namespace)}'
            index.setdefault(key, []).append(Grant(rules or (), source, error))

    def _grants(self, user: UserInfo, namespace: str) -> Iterable[Grant]:
        """The grants that apply to user in namespace: cluster-wide first, as Kubernetes visits them."""
        if self._stale:
            self._rebuild()
        keys = [("User", user.name), *(("Group", group) for group in user.groups)]
        for key in keys:
            yield from self._cluster.get(key, ())
        if namespace:
            local = self._namespaced.get(namespace, {})
            for key in keys:
                yield from local.get(key, ())

    # --------------------------------------------------------------- deciding

    def authorize(self, attrs: Attributes) -> Decision:
        user = attrs.user
        if SYSTEM_MASTERS in user.groups:
            return ALLOW
        # The name matters only where some rule names objects: elsewhere one entry serves every
        # Pod's status update or binding, instead of one per Pod.
        name = attrs.name if self._names_matter(attrs) else ""
        key = (user.name, user.groups, attrs.verb, attrs.api_group, attrs.resource, attrs.subresource,
               attrs.namespace, name, attrs.path)
        decision = self._memo.get(key)
        if decision is None:
            decision = self._decide(attrs)
            if len(self._memo) >= self.memo_limit:
                self._memo.clear()
            self._memo[key] = decision
        return decision

    def _names_matter(self, attrs: Attributes) -> bool:
        if self._stale:
            self._rebuild()
        named = self._named
        return "*" in named or (attrs.api_group, attrs.resource) in named or ("*", attrs.resource) in named \
            or (attrs.api_group, "*") in named

    def _decide(self, attrs: Attributes) -> Decision:
        errors = []
        for grant in self._grants(attrs.user, attrs.namespace):
            if grant.error:
                errors.append(grant.error)
            elif rules_allow(attrs, grant.rules):
                return Decision(True, f"RBAC: allowed by {grant.source}")
        return Decision(False, f"RBAC: {_aggregate(errors)}" if errors else "")

    def role_rules(self, kind: str, namespace: str, name: str) -> tuple[Rule, ...] | None:
        """The rules of a Role (in namespace) or ClusterRole; None when it does not exist."""
        ref = rbac_pb2.RoleRef(api_group=RBAC_GROUP, kind=kind, name=name)
        return self._role_rules(ref, namespace)[0]

    def rules_for(self, user: UserInfo, namespace: str = "") -> list[Rule]:
        """Every rule that applies to user in namespace (``auth can-i --list``)."""
        if SYSTEM_MASTERS in user.groups:
            return [Rule.make(["*"], ["*"], ["*"]), Rule.make(["*"], non_resource_urls=["*"])]
        return [rule for grant in self._grants(user, namespace) for rule in grant.rules]
