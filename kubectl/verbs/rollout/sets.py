"""kubectl's DaemonSetStatusViewer and StatefulSetStatusViewer, as pure functions of
the object (``pykubectl rollout status ds/NAME`` and ``sts/NAME``)."""

from __future__ import annotations

from kubectl.errors import CliError
from protos import apps_pb2

ROLLING_UPDATE_ONLY = "rollout status is only available for RollingUpdate strategy type"


def daemon_set_status(ds: apps_pb2.DaemonSet) -> tuple[str, bool]:
    if ds.spec.update_strategy.type not in ("", "RollingUpdate"):
        raise CliError(ROLLING_UPDATE_ONLY)
    status, name = ds.status, ds.metadata.name
    if ds.metadata.generation > status.observed_generation:
        return "Waiting for daemon set spec update to be observed...", False
    waiting = f'Waiting for daemon set "{name}" rollout to finish: '
    if status.updated_number_scheduled < status.desired_number_scheduled:
        return (f"{waiting}{status.updated_number_scheduled} out of {status.desired_number_scheduled} new pods "
                "have been updated..."), False
    if status.number_available < status.desired_number_scheduled:
        return (f"{waiting}{status.number_available} of {status.desired_number_scheduled} updated pods are "
                "available..."), False
    return f'daemon set "{name}" successfully rolled out', True


def stateful_set_status(sts: apps_pb2.StatefulSet) -> tuple[str, bool]:
    strategy = sts.spec.update_strategy
    if strategy.type not in ("", "RollingUpdate"):
        raise CliError(ROLLING_UPDATE_ONLY)
    status = sts.status
    if status.observed_generation == 0 or sts.metadata.generation > status.observed_generation:
        return "Waiting for statefulset spec update to be observed...", False
    replicas = sts.spec.replicas if sts.spec.HasField("replicas") else 1
    if status.ready_replicas < replicas:
        return f"Waiting for {replicas - status.ready_replicas} pods to be ready...", False
    if strategy.HasField("rolling_update"):
        if strategy.rolling_update.HasField("partition"):
            wanted = replicas - strategy.rolling_update.partition
            if status.updated_replicas < wanted:
                return (f"Waiting for partitioned roll out to finish: {status.updated_replicas} out of {wanted} "
                        "new pods have been updated..."), False
        return f"partitioned roll out complete: {status.updated_replicas} new pods have been updated...", True
    if status.update_revision != status.current_revision:
        return (f"waiting for statefulset rolling update to complete {status.updated_replicas} pods at revision "
                f"{status.update_revision}..."), False
    return (f"statefulset rolling update complete {status.current_replicas} pods at revision "
            f"{status.current_revision}..."), True
