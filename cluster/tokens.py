"""``pykube token create|list|delete``: join tokens, as ``kubeadm token`` has them.

    sudo pykube token create [TOKEN] [--ttl 24h] [--description TEXT] [--node-name NAME]
    sudo pykube token list
    sudo pykube token delete TOKEN_ID|TOKEN...

``create`` prints the join string ``K10<CA hash>::<id>.<secret>`` (k3s' form: the token and
the pin of the cluster CA, so a kubelet needs nothing else) for ``pykubelet --token``.
Tokens are kept where the apiserver checks them, ``<state>/apiserver/bootstrap-tokens.json``
(``client.token_store``: Kubernetes' bootstrap-token Secrets, since pykube has no Secret kind
yet); the CA is ``<state>/pki/ca.crt``. Editing them needs root, as the state dir is root's.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

from apimachinery.duration import parse_duration
from apimachinery.names import is_dns1123_subdomain
from client import pki
from client.bootstrap_token import (DEFAULT_TTL, TokenError, format_join_token, generate_token, new_token_record,
                                    parse_join_token, parse_token)
from client.token_store import StoredToken, TokenStore, path_in

CA_FILE = Path("pki") / "ca.crt"
APISERVER_DATA = "apiserver"


def _ttl(text: str) -> datetime.timedelta:
    try:
        return datetime.timedelta(seconds=parse_duration(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def short_human_duration(left: datetime.timedelta) -> str:
    """Kubernetes' duration.ShortHumanDuration (kubeadm token list's TTL column): 45s, 59m, 23h, 3d."""
    seconds = int(left.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 48 * 3600:
        return f"{seconds // 3600}h"
    if seconds < 365 * 86400:
        return f"{seconds // 86400}d"
    return f"{seconds // (365 * 86400)}y"


def add_token_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    token = sub.add_parser("token", parents=[common], help="join tokens for kubelets (as kubeadm token)",
                           description="Manage the join tokens kubelets join the cluster with "
                                       "(pykubelet --token JOIN --bootstrap-server HOST:PORT).")
    verbs = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = verbs.add_parser("create", parents=[common], help="create a token and print its join string",
                              description="Create a bootstrap token and print the join string "
                                          "K10<CA hash>::<id>.<secret> for pykubelet --token.")
    create.add_argument("token", nargs="?", default=None, metavar="TOKEN",
                        help="the token to create ([a-z0-9]{6}.[a-z0-9]{16}); default: a random one")
    create.add_argument("--ttl", type=_ttl, default=DEFAULT_TTL, metavar="DURATION",
                        help="how long the token is good for (e.g. 30m, 24h; 0: never expires; default 24h)")
    create.add_argument("--description", default="", help="a human-friendly note on what the token is for")
    create.add_argument("--node-name", default="", metavar="NAME",
                        help="the token joins this node only (and may re-join it while it is Ready)")
    verbs.add_parser("list", parents=[common], help="list the tokens", description="List the bootstrap tokens.")
    delete = verbs.add_parser("delete", parents=[common], help="delete tokens",
                              description="Delete bootstrap tokens (by id or whole token).")
    delete.add_argument("tokens", nargs="+", metavar="TOKEN_ID|TOKEN")


def store_of(state_dir: Path) -> TokenStore:
    return TokenStore(path_in(state_dir / APISERVER_DATA))


def cmd_create(state_dir: Path, args: argparse.Namespace, now: datetime.datetime) -> str:
    ca_path = state_dir / CA_FILE
    try:
        ca = pki.load_cert(ca_path)
    except pki.PKIError as err:
        raise TokenError(f"{err} (is there a cluster in {state_dir}? pykube up makes its CA)") from None
    if args.node_name and (problems := is_dns1123_subdomain(args.node_name)):
        raise TokenError(f'invalid --node-name "{args.node_name}": {"; ".join(problems)}')
    token = parse_token(args.token) if args.token else generate_token()
    ttl = args.ttl if args.ttl.total_seconds() > 0 else None
    record = new_token_record(now, ttl, description=args.description, token=token)
    store_of(state_dir).add(StoredToken(record, args.node_name))
    return format_join_token(pki.ca_hash(ca), token)


def list_table(tokens: list[StoredToken], now: datetime.datetime) -> str:
    rows = [("TOKEN", "TTL", "EXPIRES", "USAGES", "NODE", "DESCRIPTION", "EXTRA GROUPS")]
    for stored in sorted(tokens, key=lambda t: t.record.token_id):
        record = stored.record
        if record.expiration is None:
            ttl, expires = "<forever>", "<never>"
        else:
            left = record.expiration - now
            ttl = short_human_duration(left) if left.total_seconds() > 0 else "<invalid>"
            expires = record.to_data()["expiration"]
        rows.append((str(record.token), ttl, expires, "authentication", stored.node_name or "<none>",
                     record.description or "<none>", ",".join(record.extra_groups)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(row, widths)) + "   " + row[-1] for row in rows)


def cmd_token(state_dir: Path, args: argparse.Namespace, out=print) -> int:
    """Raises TokenError (one line) when it cannot do what was asked."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    store = store_of(state_dir)
    if args.token_command == "create":
        out(cmd_create(state_dir, args, now))
    elif args.token_command == "list":
        tokens = list(store.load().values())
        if tokens:
            out(list_table(tokens, now))
    else:
        for text in args.tokens:
            token_id = parse_join_token(text).token.id if "." in text else text
            if not store.delete(token_id):
                raise TokenError(f'bootstrap token "{token_id}" not found')
            out(f'bootstrap token "{token_id}" deleted')
    return 0
