"""A small simulator of the Deployment controller's world, for testing its decisions
(controllers.rollout) without processes.

It stands in for the apiserver and the ReplicaSet controller: it applies each Plan
to its objects, then lets the "ReplicaSet controller" make status.replicas follow
spec.replicas (deleting unavailable Pods first, as the real one does) and, when
told, marks every Pod available."""

from __future__ import annotations

from controllers import rollout
from controllers.rollout.progress import get_condition
from controllers.rollout.util import find_new_replica_set
from protos import apps_pb2, core_pb2, meta_pb2

IMAGE_V1 = "docker.io/library/multi-worker:1.0"
IMAGE_V2 = "docker.io/library/multi-worker:2.0"
START = 1_700_000_000.0


def int_or_str(value: int | str) -> meta_pb2.IntOrString:
    return meta_pb2.IntOrString(int_val=value) if isinstance(value, int) else meta_pb2.IntOrString(str_val=value)


def deployment(name: str = "web", replicas: int = 4, image: str = IMAGE_V1, surge: int | str = "25%",
               unavailable: int | str = "25%", strategy: str = "RollingUpdate", history: int = 10,
               deadline: int = 600) -> apps_pb2.Deployment:
    d = apps_pb2.Deployment(api_version="apps/v1", kind="Deployment")
    d.metadata.name, d.metadata.namespace, d.metadata.uid = name, "default", f"uid-{name}"
    d.metadata.generation = 1
    d.metadata.resource_version = "1"
    d.spec.replicas = replicas
    d.spec.selector.match_labels["app"] = name
    d.spec.template.metadata.labels["app"] = name
    d.spec.template.spec.containers.add(name="main", image=image)
    d.spec.strategy.type = strategy
    if strategy == "RollingUpdate":
        d.spec.strategy.rolling_update.max_surge.CopyFrom(int_or_str(surge))
        d.spec.strategy.rolling_update.max_unavailable.CopyFrom(int_or_str(unavailable))
    d.spec.revision_history_limit = history
    d.spec.progress_deadline_seconds = deadline
    return d


class Sim:
    """The apiserver plus the ReplicaSet controller, for pure rollout tests."""

    def __init__(self, d: apps_pb2.Deployment) -> None:
        self.d = d
        self.rss: dict[str, apps_pb2.ReplicaSet] = {}
        self.pods: dict[str, list[core_pb2.Pod]] = {}  # by RS uid, for Recreate
        self.now = START
        self.seq = 0
        self.events: list[str] = []
        self.plans: list[rollout.Plan] = []

    # ---------------------------------------------------------------- API side

    def sync(self) -> rollout.Plan:
        plan = rollout.plan_sync(self.d, list(self.rss.values()), self.pods, self.now, dict(self.rss))
        self.plans.append(plan)
        for write in plan.writes:
            name = write.rs.metadata.name
            if write.op == "create":
                assert name not in self.rss, f"{name} created twice"
                rs = rollout.copy(write.rs)
                self.seq += 1
                rs.metadata.uid = f"uid-rs-{self.seq}"
                rs.metadata.creation_timestamp.seconds = int(self.now) + self.seq
                rs.metadata.generation = 1
                self.rss[name] = rs
            elif write.op == "update":
                old = self.rss[name]
                rs = rollout.copy(write.rs)
                rs.status.CopyFrom(old.status)
                if rs.spec != old.spec:
                    rs.metadata.generation = old.metadata.generation + 1
                self.rss[name] = rs
            else:
                del self.rss[name]
            self.events += [message for _, _, message in write.events]
        if plan.deployment_update is not None:
            self.d.metadata.CopyFrom(plan.deployment_update.metadata)
        if plan.status is not None:
            self.d.status.CopyFrom(plan.status)
        self.events += [message for _, _, message in plan.events]
        return plan

    def change_template(self, image: str | None = None, annotations: dict[str, str] | None = None) -> None:
        if image:
            self.d.spec.template.spec.containers[0].image = image
        for key, value in (annotations or {}).items():
            self.d.spec.template.metadata.annotations[key] = value
        self.d.metadata.generation += 1

    def scale(self, replicas: int) -> None:
        self.d.spec.replicas = replicas
        self.d.metadata.generation += 1

    # ------------------------------------------------- ReplicaSet controller side

    def rs_controller(self) -> None:
        """Pods follow spec.replicas at once; new Pods start unavailable, and a
        scale-down deletes unavailable Pods first."""
        for rs in self.rss.values():
            want = rs.spec.replicas
            rs.status.available_replicas = min(rs.status.available_replicas, want)
            rs.status.ready_replicas = min(rs.status.ready_replicas, want)
            rs.status.replicas = want
            rs.status.observed_generation = rs.metadata.generation

    def pods_ready(self, rs_name: str | None = None) -> None:
        for rs in self.rss.values():
            if rs_name is None or rs.metadata.name == rs_name:
                rs.status.ready_replicas = rs.status.available_replicas = rs.status.replicas

    # ------------------------------------------------------------------ views

    def new_rs(self) -> apps_pb2.ReplicaSet:
        found = find_new_replica_set(self.d, self.rss.values())
        assert found is not None
        return found

    def sizes(self) -> dict[str, int]:
        return {name: rs.spec.replicas for name, rs in self.rss.items()}

    def condition(self, kind: str) -> meta_pb2.Condition:
        cond = get_condition(self.d.status, kind)
        assert cond is not None, f"no {kind} condition"
        return cond

    def settle(self, max_steps: int = 60) -> None:
        """Sync, run Pods, make them available, until nothing changes."""
        for _ in range(max_steps):
            self.rs_controller()
            self.pods_ready()
            plan = self.sync()
            if not plan.writes and plan.status is None and plan.deployment_update is None:
                return
        raise AssertionError("did not settle")


def rolled_out(surge: int | str = "25%", unavailable: int | str = "25%", replicas: int = 4, **kw) -> Sim:
    sim = Sim(deployment(replicas=replicas, surge=surge, unavailable=unavailable, **kw))
    sim.settle()
    return sim
