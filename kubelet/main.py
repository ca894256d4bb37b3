"""``pykubelet``: the node agent, in the foreground.

    pykubelet --kubeconfig kubelet.conf --node-name n1 --podman-url unix:///run/pykube/n1/podman.sock

Stops cleanly on SIGTERM or Ctrl-C, leaving the node's containers running (a
restarted kubelet adopts them)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from client.api import AsyncAPI
from client.config import ConfigError, add_connection_flags, component_settings
from apimachinery.identity import KUBE_PROXY_USER
from client.connection import TLSConfig
from client.files import write_atomic
from client.kubeconfig import build_kubeconfig, dump_kubeconfig
from component_base.logs import add_log_format_flag, configure_logging
from component_base.service import run_until_signalled
from kubelet.bootstrap import DEFAULT_CERT_DIR, BootstrapError, Credentials, Wanted, join_credentials, serving_files
from kubelet.config import KubeletConfig, add_settings_flags, config_from_flags
from kubelet.kubelet import Kubelet
from kubelet.server_tls import KubeletServing, add_serving_flags, serving_from_flags
from component_base.netns import netns_executor

log = structlog.get_logger("kubelet")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, KubeletConfig]:
    parser = argparse.ArgumentParser(prog="pykubelet", description=__doc__.splitlines()[0])
    add_connection_flags(parser)
    parser.add_argument("--node-name", required=True, help="this node's name (a DNS-1123 subdomain)")
    parser.add_argument("--runtime", choices=("podman", "fake"), default="podman",
                        help="podman (real containers) or fake (hollow node: no containers)")
    parser.add_argument("--podman-url", default="", metavar="unix:///PATH",
                        help="the node's Podman API socket (podman system service)")
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                        help="where the kubelet's own service (logs) listens (default %(default)s)")
    parser.add_argument("--probe-netns", default="", metavar="PATH",
                        help="network namespace to run httpGet/tcpSocket probes from (the node's)")
    # --- the token join (kubelet/bootstrap.py; Kubernetes: --bootstrap-kubeconfig, --cert-dir) ---
    parser.add_argument("--token", default="", metavar="JOIN",
                        help='join the cluster with this join string ("pykube token create" prints it: '
                             "K10<CA hash>::<id>.<secret>), unless --cert-dir already holds a valid certificate")
    parser.add_argument("--bootstrap-server", default="", metavar="HOST:PORT",
                        help="the apiserver's bootstrap listener (its --bootstrap-listen), for --token")
    parser.add_argument("--cert-dir", default=DEFAULT_CERT_DIR, metavar="DIR",
                        help="where the kubelet keeps its client key and certificate and the cluster CA "
                             "(default %(default)s)")
    parser.add_argument("--server-tls-bootstrap", action="store_true",
                        help="with --token: also get the kubelet's serving certificate at the join (SANs: "
                             "--node-name and --node-ip; Kubernetes' serverTLSBootstrap) and serve mutual TLS "
                             "with it, accepting clients of the cluster CA")
    parser.add_argument("--kube-proxy-kubeconfig", default="", metavar="PATH",
                        help="with --token: also get a system:kube-proxy client certificate at the join and "
                             "write pykube-proxy's kubeconfig to PATH (0600), as a k3s agent does for its kube-proxy")
    add_settings_flags(parser)
    # The kubelet's own service over mutual TLS (see kubelet/server_tls.py).
    add_serving_flags(parser)
    add_log_format_flag(parser)
    args = parser.parse_args(argv)
    if args.token and not args.bootstrap_server:
        parser.error("--token needs --bootstrap-server HOST:PORT")
    if args.token and args.kubeconfig:
        parser.error("--token and --kubeconfig do not go together: a joining kubelet gets its credentials by the join")
    if (args.server_tls_bootstrap or args.kube_proxy_kubeconfig) and not args.token:
        parser.error("--server-tls-bootstrap and --kube-proxy-kubeconfig need --token: they are got at the join")
    if args.server_tls_bootstrap and args.tls_cert_file:
        parser.error("--server-tls-bootstrap and --tls-cert-file do not go together: the join gives the certificate")
    if args.runtime == "podman" and not args.podman_url:
        parser.error("--podman-url is required with --runtime podman")
    try:
        args.serving = serving_from_flags(args)
        args.serving.credentials()  # the files are readable
    except ValueError as err:
        parser.error(str(err))
    try:
        args.settings = component_settings(args.server, args.kubeconfig)
    except ConfigError as err:
        parser.error(str(err))
    host, _, port = args.listen.rpartition(":")
    config = config_from_flags(args, args.node_name, listen_host=host or "127.0.0.1", listen_port=int(port or 0),
                               probe_netns=args.probe_netns)
    configure_logging(args.log_format)
    return args, config


def make_runtime(args: argparse.Namespace, config: KubeletConfig):
    if args.runtime == "fake":
        from kubelet.runtime.fake import FakeRuntime
        return FakeRuntime(node_name=config.node_name, any_image=True, record_calls=False)
    from kubelet.runtime.podman import PodmanRuntime
    # Container defaults (ulimits, OCI runtime, cgroup manager) come from the node's
    # containers.conf, written for this host by cluster.podman_config.
    return PodmanRuntime(args.podman_url, config.node_name)


async def serve(args: argparse.Namespace, config: KubeletConfig, tls: TLSConfig | None = None) -> None:
    """tls: the credentials a token join gave (else the --kubeconfig's, if any)."""
    api = AsyncAPI(args.settings.server, tls=tls or args.settings.tls)
    runtime = make_runtime(args, config)
    executor = None
    if config.probe_netns:
        executor = netns_executor(config.probe_netns)
    kubelet = Kubelet(api, runtime, config, executor)
    from kubelet.log_server import start_log_server
    server, port = await start_log_server(runtime, kubelet.find_container,
                                          listen=f"{config.listen_host}:{config.listen_port}",
                                          serving=args.serving)

    async def stop() -> None:
        await kubelet.stop()
        await server.stop(1.0)
        await runtime.close()
        await api.close()
        if executor is not None:
            executor.shutdown(wait=False)
        log.info("kubelet stopped", node=config.node_name)
    await run_until_signalled("kubelet", lambda: kubelet.start(port), stop)


def use_joined(args: argparse.Namespace, credentials: Credentials) -> None:
    """Serve with the joined serving certificate; write pykube-proxy's kubeconfig. Raises
    BootstrapError."""
    if credentials.serving is not None:
        cert, key, ca = serving_files(args.cert_dir)
        args.serving = KubeletServing(tls_cert_file=cert, tls_private_key_file=key, client_ca_file=ca)
    if credentials.proxy is not None:
        config = build_kubeconfig(args.settings.server, ca_pem=credentials.ca_pem, user=KUBE_PROXY_USER,
                                  cert_pem=credentials.proxy.cert_pem(), key_pem=credentials.proxy.key_pem())
        try:
            write_atomic(args.kube_proxy_kubeconfig, dump_kubeconfig(config), 0o600)
        except OSError as err:
            raise BootstrapError(f"cannot write --kube-proxy-kubeconfig {args.kube_proxy_kubeconfig}: "
                                 f"{err.strerror}") from None


def main(argv: list[str] | None = None) -> int:
    args, config = parse_args(argv)
    tls = None
    if args.token:
        wanted = Wanted(serving_ips=(config.node_ip,) if args.server_tls_bootstrap else None,
                        proxy=bool(args.kube_proxy_kubeconfig))
        try:
            credentials, joined = join_credentials(args.cert_dir, config.node_name, args.token,
                                                   args.bootstrap_server, wanted=wanted)
            use_joined(args, credentials)
        except BootstrapError as err:
            print(f"pykubelet: {err}", file=sys.stderr)
            return 1
        tls = credentials.tls
        log.info("joined the cluster" if joined else "using the client certificate in the cert dir",
                 node=config.node_name, cert_dir=args.cert_dir, serving=credentials.serving is not None,
                 kube_proxy_kubeconfig=args.kube_proxy_kubeconfig or None)
    try:
        asyncio.run(serve(args, config, tls))
    except OSError as err:
        print(f"pykubelet: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
