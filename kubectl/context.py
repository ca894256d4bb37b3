"""What a verb needs to run: the API, the resolved settings, and where to print."""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from client.config import Settings


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


@dataclass
class Context:
    settings: Settings
    # Returns the API stub (api_pb2_grpc.APIStub, or in tests any object with its methods).
    # Called on first use only, so a command that fails before talking to the server
    # (a bad manifest) never dials it.
    connect: Callable[[], Any]
    out: TextIO
    err: TextIO
    stdin: TextIO
    now: Callable[[], datetime.datetime] = field(default=utc_now)

    @functools.cached_property
    def api(self) -> Any:
        return self.connect()

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    def print(self, text: str = "") -> None:
        """A line (or several) on stdout, flushed so watches show up at once."""
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    def warn(self, text: str) -> None:
        """A line on stderr: errors that do not stop the command, warnings, "No resources found"."""
        self.err.write(text + "\n")
        self.err.flush()
