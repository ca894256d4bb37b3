"""``pykubectl exec``'s command line: flags before or after POD, the command after ``--``."""

from __future__ import annotations

import pytest

from kubectl.errors import CliError
from kubectl.main import build_parser
from kubectl.verbs.exec import command_of


@pytest.mark.parametrize("argv, command, container, stdin, tty", [
    (["exec", "web", "--", "ls", "-l"], ["ls", "-l"], "", False, False),
    (["exec", "-it", "web", "--", "sh"], ["sh"], "", True, True),
    (["exec", "web", "-c", "side", "-i", "--", "cat", "-n"], ["cat", "-n"], "side", True, False),
    (["exec", "web", "-it", "--", "sh", "-c", "exit 3"], ["sh", "-c", "exit 3"], "", True, True),
    (["exec", "web", "--", "grep", "--", "-x"], ["grep", "--", "-x"], "", False, False),
])
def test_flags_anywhere_before_the_double_dash(argv, command, container, stdin, tty) -> None:
    args = build_parser().parse_args(argv)
    assert command_of(args) == command
    assert (args.pod, args.container, args.stdin, args.tty) == ("web", container, stdin, tty)


def test_no_command_is_kubectls_error() -> None:
    with pytest.raises(CliError, match="you must specify at least one command for the container"):
        command_of(build_parser().parse_args(["exec", "web", "-i", "--"]))
