"""rollout status for DaemonSets and StatefulSets: kubectl's status viewers' lines."""

from __future__ import annotations

import pytest

from kubectl.errors import CliError
from kubectl.verbs.rollout.status import status_of
from protos import apps_pb2, meta_pb2


def ds(generation=2, observed=2, desired=3, updated=3, available=3, strategy="RollingUpdate"):
    obj = apps_pb2.DaemonSet(metadata=meta_pb2.ObjectMeta(name="agent", generation=generation))
    obj.spec.update_strategy.type = strategy
    obj.status.observed_generation = observed
    obj.status.desired_number_scheduled = desired
    obj.status.updated_number_scheduled = updated
    obj.status.number_available = available
    return obj


def test_daemon_set_status_lines():
    assert status_of(ds(observed=1)).message == "Waiting for daemon set spec update to be observed..."
    assert status_of(ds(updated=1)).message == (
        'Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...')
    assert status_of(ds(available=2)).message == (
        'Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...')
    done = status_of(ds())
    assert (done.message, done.done) == ('daemon set "agent" successfully rolled out', True)
    with pytest.raises(CliError, match="only available for RollingUpdate"):
        status_of(ds(strategy="OnDelete"))


def sts(replicas=3, ready=3, updated=3, partition=None, current="a", update="a", observed=1):
    obj = apps_pb2.StatefulSet(metadata=meta_pb2.ObjectMeta(name="db", generation=1))
    obj.spec.replicas = replicas
    obj.spec.update_strategy.type = "RollingUpdate"
    if partition is not None:
        obj.spec.update_strategy.rolling_update.partition = partition
    obj.status.observed_generation = observed
    obj.status.ready_replicas = ready
    obj.status.updated_replicas = updated
    obj.status.current_replicas = updated
    obj.status.current_revision, obj.status.update_revision = current, update
    return obj


def test_stateful_set_status_lines():
    assert status_of(sts(observed=0)).message == "Waiting for statefulset spec update to be observed..."
    assert status_of(sts(ready=1)).message == "Waiting for 2 pods to be ready..."
    assert status_of(sts(partition=1, updated=1)).message == (
        "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...")
    done = status_of(sts(partition=0))
    assert (done.message, done.done) == ("partitioned roll out complete: 3 new pods have been updated...", True)
    assert status_of(sts(updated=1, update="b")).message == (
        "waiting for statefulset rolling update to complete 1 pods at revision b...")
    assert status_of(sts()).message == "statefulset rolling update complete 3 pods at revision a..."
