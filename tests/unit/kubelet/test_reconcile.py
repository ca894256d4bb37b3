"""The pod worker's decision as a pure function: desired spec + observed
containers + back-off state → actions."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from kubelet.backoff import BackOff, BackOffPolicy
from kubelet.reconcile import CRASH_LOOP_BACK_OFF, KillContainer, PodObservation, StartContainer, decide
from kubelet.runtime import CREATED, EXITED, RUNNING, ContainerStatus, Sandbox
from protos import core_pb2, meta_pb2

POLICY = BackOffPolicy(initial=10, maximum=300, reset_after=600)
NOW = 1_000_000.0


def pod(*names: str, restart_policy: str = "Always", deleting: bool = False) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name="web", namespace="default", uid="uid-1"),
                     spec=core_pb2.PodSpec(restart_policy=restart_policy, node_name="n1"))
    for name in names or ("app",):
        p.spec.containers.add(name=name, image="docker.io/library/multi-worker:1.0")
    if deleting:
        p.metadata.deletion_timestamp.CopyFrom(Timestamp(seconds=int(NOW)))
    return p


SANDBOX = Sandbox("sb1", "uid-1", "web", "default", "10.88.0.2", True)


def container(name: str = "app", attempt: int = 0, state: str = RUNNING, exit_code: int = 0,
              started: float = NOW - 100, finished: float | None = None, cid: str | None = None) -> ContainerStatus:
    return ContainerStatus(id=cid or f"{name}-{attempt}", pod_uid="uid-1", pod_name="web", pod_namespace="default",
                           name=name, attempt=attempt, image="img", image_id="sha256:1", state=state,
                           exit_code=exit_code, started_at=started, finished_at=finished)


def run(p: core_pb2.Pod, *containers: ContainerStatus, sandbox: Sandbox | None = SANDBOX,
        restarts: dict[str, int] | None = None, liveness_failed: frozenset[str] = frozenset(), now: float = NOW):
    return decide(p, PodObservation(sandbox, tuple(containers)), restarts or {}, liveness_failed, POLICY, now)


def test_new_pod_gets_a_sandbox_and_every_container_attempt_0():
    actions = run(pod("a", "b"), sandbox=None)
    assert actions.create_sandbox
    assert actions.start == [StartContainer("a", 0), StartContainer("b", 0)]
    assert not actions.kill and not actions.remove and not actions.kill_pod


def test_running_pod_needs_nothing():
    actions = run(pod(), container())
    assert actions.idle and not actions.waiting and actions.requeue_at is None


def test_first_death_restarts_at_once_with_the_next_attempt():
    actions = run(pod(), container(state=EXITED, exit_code=137, finished=NOW - 0.1))
    assert actions.start == [StartContainer("app", 1)]
    assert not actions.waiting


def test_later_deaths_wait_out_the_back_off_as_crash_loop_back_off():
    died = container(attempt=1, state=EXITED, exit_code=1, started=NOW - 3, finished=NOW - 2)
    actions = run(pod(), died, restarts={"app": 1})
    assert actions.start == []
    assert actions.waiting["app"].reason == CRASH_LOOP_BACK_OFF
    assert "back-off 10s restarting failed container=app pod=web_default(uid-1)" in actions.waiting["app"].message
    assert actions.requeue_at == NOW - 2 + 10

    # Once the back-off has passed, it restarts.
    assert run(pod(), died, restarts={"app": 1}, now=NOW + 8).start == [StartContainer("app", 2)]


def test_back_off_doubles_up_to_the_cap_and_resets_after_a_long_run():
    assert [POLICY.next_allowed(n, 0.0, 1.0) for n in range(7)] == [0, 10, 20, 40, 80, 160, 300]
    assert POLICY.next_allowed(6, 0.0, 601.0) == 0.0  # ran 10 min: the curve starts over
    state = BackOff(POLICY)
    state.record_restart("k", ran_for=1)
    state.record_restart("k", ran_for=1)
    assert state.restarts("k") == 2
    state.record_restart("k", ran_for=700)
    assert state.restarts("k") == 1


def test_restart_policies():
    ok = container(state=EXITED, exit_code=0, finished=NOW - 1)
    failed = container(state=EXITED, exit_code=2, finished=NOW - 1)
    assert run(pod(restart_policy="Always"), ok).start == [StartContainer("app", 1)]
    assert run(pod(restart_policy="OnFailure"), ok).start == []
    assert run(pod(restart_policy="OnFailure"), failed).start == [StartContainer("app", 1)]
    assert run(pod(restart_policy="Never"), failed).start == []


def test_liveness_failure_kills_the_running_container():
    running = container(cid="c-live")
    actions = run(pod(), running, liveness_failed=frozenset({"c-live"}))
    assert actions.kill == [KillContainer("c-live", "app", "failed liveness probe, will be restarted")]


def test_deleting_pod_is_killed_whole():
    actions = run(pod(deleting=True), container())
    assert actions.kill_pod and not actions.start


def test_containers_not_in_spec_are_killed_and_removed():
    stranger = container(name="old", cid="c-old")
    actions = run(pod("app"), container(), stranger)
    assert KillContainer("c-old", "old", "not in the Pod's spec") in actions.kill
    assert "c-old" in actions.remove


def test_only_current_and_previous_attempts_are_kept():
    attempts = [container(attempt=i, state=EXITED, exit_code=1, finished=NOW - 100 + i, cid=f"c{i}") for i in range(4)]
    actions = run(pod(), *attempts, container(attempt=4, cid="c4"))
    assert sorted(actions.remove) == ["c0", "c1", "c2"]


def test_lost_sandbox_recreates_it_and_restarts_containers():
    running = container(cid="c-run")
    actions = run(pod(), running, sandbox=Sandbox("sb1", "uid-1", "web", "default", "", False))
    assert actions.create_sandbox
    assert KillContainer("c-run", "app", "its Pod sandbox is gone") in actions.kill
    assert actions.start == [StartContainer("app", 1)]


def test_created_but_never_started_container_is_replaced():
    actions = run(pod(), container(state=CREATED, cid="c-created"))
    assert "c-created" in actions.remove
    assert actions.start == [StartContainer("app", 1)]
