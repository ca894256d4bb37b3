"""``pykubectl describe TYPE [NAME_PREFIX]``: one object in words, with its Events.

    pykubectl describe pod web-7d4b9c-x7k2p
    pykubectl describe deploy/web
    pykubectl describe pods web        # every pod whose name starts with "web", like kubectl
    pykubectl describe nodes           # all of them

The layout is kubectl's describers (k8s.io/kubectl/pkg/describe): the same sections,
labels and column alignment (a Go tabwriter, reproduced by describe_text.tabbed), so what a
reader knows from Kubernetes reads the same here. Each object ends with the Events
whose involvedObject is that object, found with a field selector on the server.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, Sequence

import grpc
from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, info_of
from client.api import is_not_found
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.resources import parse_resource_args
from kubectl.verbs.describe.batch import describe_cron_job, describe_job
from kubectl.verbs.describe.common import find_events
from kubectl.verbs.describe.config import describe_config_map, describe_secret
from kubectl.verbs.describe.generic import describe_generic, describe_namespace
from kubectl.verbs.describe.nodes import describe_node
from kubectl.verbs.describe.pods import describe_pod
from kubectl.verbs.describe.rbac import describe_role, describe_role_binding
from kubectl.verbs.describe.services import describe_endpoint_slice, describe_service
from kubectl.verbs.describe.sets import describe_daemon_set, describe_stateful_set
from kubectl.verbs.describe.storage import (describe_persistent_volume, describe_persistent_volume_claim,
                                            describe_storage_class)
from kubectl.verbs.describe.workloads import describe_deployment, describe_replica_set
from kubectl.verbs.options import no_resources_found
from kubectl.verbs.updating import get_object
from kubectl.watching import Query, list_objects
from protos import core_pb2


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "describe", parents=[common], help="Show details of a specific resource or group of resources",
        description="Describe pods, deployments, replicasets, daemonsets, statefulsets, jobs, cronjobs, nodes, "
                    "services, endpointslices, configmaps, secrets, roles and bindings, persistentvolumes, "
                    "persistentvolumeclaims, storageclasses (and other "
                    "kinds generically), "
                    "with their events. A NAME that matches no object is taken as a name prefix.",
    )
    parser.add_argument("resource", nargs="?", metavar="TYPE[/NAME]", help="pods, deploy/web, rs, nodes")
    parser.add_argument("names", nargs="*", metavar="NAME_PREFIX", help="names (or name prefixes)")
    parser.add_argument("-l", "--selector", default="", help="label selector, e.g. app=web")
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="describe across all namespaces")
    parser.add_argument("--show-events", type=_bool, nargs="?", const=True, default=True, metavar="BOOL",
                        help="end with the object's events (default true)")
    parser.set_defaults(run=run)


def _bool(text: str) -> bool:
    if text.lower() in ("true", "t", "1"):
        return True
    if text.lower() in ("false", "f", "0"):
        return False
    raise argparse.ArgumentTypeError(f'invalid boolean value "{text}"')


# -------------------------------------------------------------------- verb


def run(args: argparse.Namespace, ctx: Context) -> int:
    if not args.resource:
        raise CliError("You must specify the type of resource to describe. Use \"pykubectl api-resources\" "
                       "for a complete list of supported resources.")
    info, names = parse_resource_args(args.resource, args.names)
    namespace = "" if (args.all_namespaces or not info.namespaced) else ctx.namespace
    if names and (args.selector or args.all_namespaces):
        raise CliError("name cannot be provided when a selector is specified" if args.selector
                       else "a resource cannot be retrieved by name across all namespaces")
    if not names:
        objects, _ = list_objects(ctx.api, Query(info, namespace, args.selector))
        if not objects:
            ctx.warn(no_resources_found(namespace))
            return 0
        ctx.out.write("\n\n".join(describe(ctx, obj, args.show_events) for obj in objects))
        ctx.out.flush()
        return 0
    first = True
    for name in names:
        try:
            obj = get_object(ctx.api, info, namespace, name)
        except grpc.RpcError as err:
            if not is_not_found(err):
                raise
            _describe_matching(ctx, info, namespace, name, args.show_events, err)
            continue
        ctx.out.write(("" if first else "\n\n") + describe(ctx, obj, args.show_events))
        ctx.out.flush()
        first = False
    return 0


def _describe_matching(ctx: Context, info: KindInfo, namespace: str, prefix: str, show_events: bool,
                       not_found: grpc.RpcError) -> None:
    """kubectl describe's fallback: a name that is not an object is a prefix of names."""
    objects, _ = list_objects(ctx.api, Query(info, namespace))
    matching = [obj for obj in objects if obj.metadata.name.startswith(prefix)]
    if not matching:
        raise not_found
    for obj in matching:
        ctx.out.write(describe(ctx, obj, show_events) + "\n")
        ctx.out.flush()


def describe(ctx: Context, obj: Message, show_events: bool = True) -> str:
    """The describe text of one object (ends with a newline)."""
    describer = DESCRIBERS.get(info_of(obj).kind, describe_generic)
    events = find_events(ctx, obj) if show_events else None
    return describer(ctx, obj, events)


Describer = Callable[[Context, Any, Sequence[core_pb2.Event] | None], str]
DESCRIBERS: dict[str, Describer] = {
    "Pod": describe_pod,
    "Deployment": describe_deployment,
    "ReplicaSet": describe_replica_set,
    "Node": describe_node,
    "Namespace": describe_namespace,
    "Service": describe_service,
    "EndpointSlice": describe_endpoint_slice,
    "ConfigMap": describe_config_map,
    "Secret": describe_secret,
    "Role": describe_role,
    "ClusterRole": describe_role,
    "RoleBinding": describe_role_binding,
    "ClusterRoleBinding": describe_role_binding,
    "DaemonSet": describe_daemon_set,
    "StatefulSet": describe_stateful_set,
    "Job": describe_job,
    "CronJob": describe_cron_job,
    "PersistentVolume": describe_persistent_volume,
    "PersistentVolumeClaim": describe_persistent_volume_claim,
    "StorageClass": describe_storage_class,
}
