"""``pykube``: a whole pykube cluster on one machine.

    sudo pykube up --nodes 3                 # registry, apiserver, scheduler, controller-manager,
                                             # 3 nodes (Podman + relay + pykubelet each); waits for Ready
    pykube status                            # every component: PID, running/stopped, address, log
    sudo pykube down [--purge]               # stop everything by PID; --purge deletes the state dir
    sudo pykube stop-node n2                 # lab helper: lose a node (as by a power cut)
    sudo pykube start-node n2                # ... and boot it again
    sudo pykube user add alice --group devs  # a client certificate + kubeconfig for alice
    sudo pykube token create [--ttl 24h]     # a join string for pykubelet --token (also list, delete)
    sudo pykube pki --server IP:6443 --apiserver-ip IP   # only the control plane's certificates
    sudo pykube up --nodes 0 --hollow-nodes 200   # hollow-1..hollow-200: real kubelets on the fake
                                             # runtime, all in one process (component hollow-nodes)

Every command takes ``--state-dir DIR`` (default ``$PYKUBE_STATE_DIR``, else ``/var/lib/pykube``). See :mod:`cluster.local_cluster` for what lives there.
Exit codes: 0 success, 1 failure (one line on stderr saying why), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from client.bootstrap_token import TokenError
from cluster import cluster_pki, image_load, tokens, users
from cluster.local_cluster import (
    DEFAULT_NAME,
    DEFAULT_PORT,
    OPTIONAL_COMPONENTS,
    START_TIMEOUT,
    ClusterError,
    ComponentStatus,
    LocalCluster,
    default_state_dir,
)

PROG = "pykube"


def _err(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:  # stderr closed (e.g. piped into head): progress lines are not worth a failure
        pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="pykube: a whole pykube cluster on one machine.")
    state_help = f"where the cluster's PID files, logs and data live (default: {default_state_dir()})"
    parser.add_argument("--state-dir", type=Path, default=None, metavar="DIR", help=state_help)
    common = argparse.ArgumentParser(add_help=False)  # the same flag after the command
    common.add_argument("--state-dir", type=Path, default=argparse.SUPPRESS, metavar="DIR", help=state_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", parents=[common], help="start a local cluster (root)",
                        description="Start a local cluster and wait until every node is Ready.")
    up.add_argument("--nodes", type=int, default=1, metavar="N", help="real nodes n1..nN (default 1)")
    up.add_argument("--hollow-nodes", type=int, default=0, metavar="M",
                    help="hollow nodes hollow-1..hollow-M: real kubelets on the fake runtime, all "
                         "in one process (component hollow-nodes; default 0)")
    up.add_argument("--name", default=DEFAULT_NAME,
                    help="cluster name, part of the nodes' network namespace names "
                         "pykube-<name>-nI (default %(default)s)")
    up.add_argument("--port", type=int, default=None,
                    help=f"apiserver port on 127.0.0.1 (default {DEFAULT_PORT} if free, else any free port)")
    up.add_argument("--skip", action="append", default=[], choices=OPTIONAL_COMPONENTS,
                    help="do not start this control-plane component (repeatable; for "
                         "debugging, or while a component is being written)")
    for component in ("kubelet", "apiserver", "scheduler", "controller-manager"):
        up.add_argument(f"--{component}-arg", action="append", default=[], metavar="ARG",
                        dest=f"{component.replace('-', '_')}_args",
                        help=f"extra argument for every {component} (repeatable; write "
                             f"--{component}-arg=--flag=value)")
    up.add_argument("--timeout", type=float, default=START_TIMEOUT, metavar="SECONDS",
                    help="give up when the cluster is not Ready after this long (default %(default)s)")
    up.add_argument("--registry-upstream", default=None, metavar="URL",
                    help="make the cluster's registry a pull-through cache of this registry "
                         "(e.g. https://registry-1.docker.io): images not in the lab are fetched once")
    up.add_argument("--no-user-config", action="store_true",
                    help="write the pykubectl config only to <state>/config, "
                         "not to $PYKUBECONFIG / ~/.pykube/config")

    down = sub.add_parser("down", parents=[common], help="stop the local cluster (root)",
                          description="Stop every component by PID; remove the nodes' containers, "
                                      "mounts and network namespaces. Keeps logs, the apiserver's "
                                      "data and the registry's images unless --purge.")
    down.add_argument("--purge", action="store_true", help="also delete the whole state dir")

    sub.add_parser("status", parents=[common], help="show each component and each node",
                   description="Each component (PID, running/stopped, address, log) and each "
                               "Node's status as the apiserver sees it. Exit 0 when every "
                               "component runs, else 1.")

    for verb, text in (("stop-node", ("lab helper: lose a node as by a power cut: its kubelet, Podman "
                                     "service, relay and containers are killed (root)")),
                       ("start-node", "lab helper: boot a stopped node again and wait until it is Ready (root)")):
        p = sub.add_parser(verb, parents=[common], help=text, description=text)
        p.add_argument("node", help="node name, e.g. n2 or hollow-7 (a hollow node: only its kubelet, "
                                    "inside the hollow-nodes process)")
    image = sub.add_parser("image", parents=[common], help="images in the cluster's registry",
                           description="Images in the cluster's registry.")
    image_sub = image.add_subparsers(dest="image_command", required=True, metavar="COMMAND")
    load = image_sub.add_parser(
        "load", parents=[common], help="push images into the cluster's registry (like kind load docker-image)",
        description="Push images from the host's Podman storage (or a podman save archive) into the "
                    "cluster's registry under their docker.io names, so a Pod naming them runs on every node.")
    load.add_argument("images", nargs="*", metavar="IMAGE",
                      help="an image in the host's Podman storage (foo:1, me/app:2...), or a .tar archive")
    load.add_argument("--archive", action="append", default=[], type=Path, metavar="FILE",
                      help="a podman save archive (repeatable)")

    podman = sub.add_parser("podman", parents=[common], help="run podman against a node's Podman service",
                            description="Run podman against NODE's own Podman service, e.g. "
                                        "pykube podman n2 ps (exit code passed through).")
    podman.add_argument("node", help="node name, e.g. n2")
    podman.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="podman's arguments")
    _add_user_parser(sub, common)
    tokens.add_token_parser(sub, common)
    cluster_pki.add_pki_parser(sub, common)
    return parser


# ------------------------------------------------------------------ pykube user (cluster/users.py)


def _add_user_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    user = sub.add_parser("user", parents=[common], help="people who use the cluster",
                          description="People who use the cluster: each a client certificate from the cluster CA.")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="COMMAND")
    add = user_sub.add_parser(
        "add", parents=[common], help="issue a certificate for a user and write a kubeconfig (root)",
        description="Issue a client certificate (CN=NAME, O=each group) from the cluster CA and write a "
                    "kubeconfig for it, like kubeadm kubeconfig user. What the user may do is up to RBAC.")
    add.add_argument("name", metavar="NAME", help="the user name RBAC knows them by, e.g. alice")
    add.add_argument("--group", action="append", default=[], dest="groups", metavar="G",
                     help="a group the user is in (repeatable)")
    add.add_argument("--out", type=Path, default=None, metavar="FILE",
                     help="where to write the kubeconfig (default <state>/users/NAME.kubeconfig), mode 0600")


def cmd_user(cluster: LocalCluster, args: argparse.Namespace) -> int:
    added = users.add_user(cluster.state_dir, args.name, tuple(args.groups), args.out)
    print(users.describe(added))
    return 0


def status_table(cluster: LocalCluster, rows: list[ComponentStatus]) -> str:
    def rel(path: Path) -> str:
        try:
            return str(path.relative_to(cluster.state_dir))
        except ValueError:
            return str(path)

    table = [("COMPONENT", "PID", "STATE", "ADDRESS/SOCKET", "LOG")]
    table += [(r.component, str(r.pid) if r.pid else "-", r.state, r.address, rel(r.log)) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "   " + row[-1]
                     for row in table)


def nodes_table(cluster: LocalCluster) -> str:
    try:
        states = cluster.node_states(timeout=3)
    except ClusterError as err:
        return f"nodes: unknown ({err})"
    if not states:
        return "nodes: none registered"
    width = max(len("NODE"), *(len(n) for n in states))
    lines = [f"{'NODE'.ljust(width)}   STATUS (as the apiserver sees it)"]
    lines += [f"{name.ljust(width)}   {state}" for name, state in sorted(states.items())]
    return "\n".join(lines)


def cmd_up(cluster: LocalCluster, args: argparse.Namespace) -> int:
    spec = cluster.up(
        args.nodes, port=args.port, hollow_nodes=args.hollow_nodes, skip=args.skip,
        kubelet_args=args.kubelet_args, apiserver_args=args.apiserver_args,
        scheduler_args=args.scheduler_args, controller_manager_args=args.controller_manager_args,
        kubeconfig=False if args.no_user_config else None, timeout=args.timeout,
        registry_upstream=args.registry_upstream)
    ready = len(spec.all_nodes)
    print(f'cluster "{spec.name}" is up: apiserver {spec.address}, {ready} node(s) Ready\n')
    print(status_table(cluster, cluster.status()))
    print()
    print(f"state dir:        {cluster.state_dir}   (logs: {cluster.log_dir}/)")
    configs = [str(cluster.config_path)]
    if cluster.user_config_path is not None:
        configs.insert(0, str(cluster.user_config_path))
    print(f"pykubectl config: {' and '.join(configs)}   (the admin, system:masters; keep it 0600)")
    print(f"certificates:     {cluster.pki.directory}/   (mutual TLS, Node,RBAC; the CA stays until down --purge)")
    if spec.skip:
        print(f"not started:      {', '.join(spec.skip)} (--skip)")
    print()
    hint_env = "" if cluster.user_config_path else f"PYKUBECONFIG={cluster.config_path} "
    print(f"try:   {hint_env}pykubectl get nodes")
    if spec.http_port:
        print(f"       kubectl --kubeconfig {cluster.kubeconfig_path} get pods -o wide   "
              f"(the real kubectl: the Kubernetes HTTP API at https://{spec.http_address})")
    if os.environ.get("SUDO_USER") and cluster.user_config_path is not None:
        print(f"       (as {os.environ['SUDO_USER']}: export PYKUBECONFIG={cluster.config_path})")
    state = "" if args.state_dir is None else f" --state-dir {cluster.state_dir}"
    print(f"stop:  pykube down{state}")
    return 0


def cmd_down(cluster: LocalCluster, args: argparse.Namespace) -> int:
    found = cluster.down(purge=args.purge)
    if not found:
        print(f"no cluster in {cluster.state_dir}: nothing to stop")
    elif args.purge:
        print(f"cluster stopped; {cluster.state_dir} deleted")
    else:
        print(f"cluster stopped; logs and data kept in {cluster.state_dir} "
              f"(pykube up starts it again, pykube down --purge deletes it)")
    return 0


def cmd_status(cluster: LocalCluster, args: argparse.Namespace) -> int:
    rows = cluster.status()
    if not rows:
        print(f"no cluster in {cluster.state_dir}")
        return 1
    print(f"state dir: {cluster.state_dir}")
    print(status_table(cluster, rows))
    print()
    if any(r.component == "apiserver" and r.running for r in rows):
        print(nodes_table(cluster))
    else:
        print("nodes: unknown (the apiserver is not running)")
    return 0 if all(r.running for r in rows) else 1


def cmd_stop_node(cluster: LocalCluster, args: argparse.Namespace) -> int:
    cluster.stop_node(args.node)
    spec = cluster.spec()
    if spec is not None and args.node in spec.hollow_nodes:
        print(f"hollow node {args.node} stopped (as by a power cut: its kubelet and fake containers; "
              f"the other hollow nodes run on)")
    else:
        print(f"node {args.node} stopped (as by a power cut: kubelet, Podman, containers; its disk is kept)")
    return 0


def cmd_start_node(cluster: LocalCluster, args: argparse.Namespace) -> int:
    cluster.start_node(args.node)
    print(f"node {args.node} started and Ready")
    return 0


def cmd_image(cluster: LocalCluster, args: argparse.Namespace) -> int:
    archives = list(args.archive) + [Path(i) for i in args.images if i.endswith(".tar")]
    names = [i for i in args.images if not i.endswith(".tar")]
    if not archives and not names:
        raise ClusterError("name at least one IMAGE or --archive FILE")
    registry = cluster.registry_address()
    loaded = image_load.load_from_host(names, registry) if names else []
    for archive in archives:
        loaded += image_load.load_from_archive(archive, registry)
    for item in loaded:
        print(f'Image: "{item.source}" with ID "{item.image_id[:12]}" loaded into the cluster registry '
              f"as {item.target}")
    return 0


def cmd_podman(cluster: LocalCluster, args: argparse.Namespace) -> int:
    podman = cluster.node_podman(args.node)
    return subprocess.run(["podman", "--remote", "--url", podman.url, *args.args], env=podman.full_env(),
                          check=False).returncode


def cmd_token(cluster: LocalCluster, args: argparse.Namespace) -> int:
    try:
        return tokens.cmd_token(cluster.state_dir, args)
    except TokenError as err:
        raise ClusterError(str(err)) from None


def cmd_pki(cluster: LocalCluster, args: argparse.Namespace) -> int:
    try:
        print(cluster_pki.cmd_pki(cluster.state_dir, args))
    except ValueError as err:  # client.pki.PKIError: an unreadable CA, a bad address
        raise ClusterError(str(err)) from None
    return 0


COMMANDS = {"up": cmd_up, "down": cmd_down, "status": cmd_status,
            "stop-node": cmd_stop_node, "start-node": cmd_start_node, "image": cmd_image, "podman": cmd_podman,
            "user": cmd_user, "token": cmd_token, "pki": cmd_pki}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cluster = LocalCluster(args.state_dir, name=getattr(args, "name", None),
                           out=lambda line: _err(f"pykube: {line}"))
    try:
        return COMMANDS[args.command](cluster, args)
    except ClusterError as err:
        _err(f"pykube {args.command}: {err}")
        if err.detail:
            _err("--- log tail ---\n" + err.detail)
        return 1
    except (RuntimeError, OSError) as err:  # a piece of the machine (podman, registry, ip) failed
        _err(f"pykube {args.command}: {err}")
        return 1
    except KeyboardInterrupt:
        _err(f"pykube {args.command}: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
