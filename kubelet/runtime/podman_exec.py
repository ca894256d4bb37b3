"""``kubectl exec`` on Podman: the command runs under ``podman --url <node socket> exec``.

Podman's REST API can exec with a TTY too, but only over a hijacked HTTP connection that
podman-py does not offer; its own client does all of it (stdin, raw TTY, resizes, the exit
code) and is on every node already. So each session is one ``podman exec`` process:

* without a TTY: stdin, stdout and stderr are pipes, so stdout and stderr stay apart;
* with a TTY (``-t``): the process gets a pseudo-terminal of its own as its controlling
  terminal (``setsid --ctty``), so ``podman exec -t`` sees a real terminal and asks the
  container for one; a resize sets the pty's size, the kernel sends SIGWINCH to podman, and
  podman passes the new size to the container's terminal.

Its exit code is the command's (``podman exec`` passes it through; 125-127 are Podman's own
"could not run it" codes, as ``docker exec`` has them).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import struct
import termios
from typing import AsyncIterator

from kubelet.runtime import ContainerRuntimeError

READ_SIZE = 64 * 1024


def podman_exec_argv(url: str, container_id: str, command: list[str], *, stdin: bool, tty: bool) -> list[str]:
    podman = shutil.which("podman")
    if podman is None:
        raise ContainerRuntimeError("podman (the CLI) is not installed on this node: exec needs it")
    flags = (["--interactive"] if stdin else []) + (["--tty"] if tty else [])
    return [podman, "--remote", "--url", url, "exec", *flags, container_id, *command]


def set_size(fd: int, width: int, height: int) -> None:
    if width > 0 and height > 0:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


class PodmanExecSession:
    """One running ``podman exec`` (see the module docstring); implements ExecSession."""

    def __init__(self, proc: asyncio.subprocess.Process, master: int | None) -> None:
        self.proc = proc
        self.master = master  # the pty's master side (TTY sessions), else None

    @classmethod
    async def start(cls, url: str, container_id: str, command: list[str], *, stdin: bool, tty: bool,
                    width: int = 0, height: int = 0) -> "PodmanExecSession":
        argv = podman_exec_argv(url, container_id, command, stdin=stdin, tty=tty)
        if not tty:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
            return cls(proc, None)
        master, slave = os.openpty()
        try:
            set_size(slave, width, height)
            setsid = shutil.which("setsid") or "setsid"
            proc = await asyncio.create_subprocess_exec(setsid, "--ctty", *argv, stdin=slave, stdout=slave,
                                                        stderr=slave)
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)  # the child has its own copy: the master reads EOF (EIO) when it exits
        os.set_blocking(master, False)
        return cls(proc, master)

    async def output(self) -> AsyncIterator[tuple[str, bytes]]:
        if self.master is not None:
            async for data in self._pty_output():
                yield "stdout", data
            return
        queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()

        async def pump(name: str, reader: asyncio.StreamReader) -> None:
            while data := await reader.read(READ_SIZE):
                await queue.put((name, data))
            await queue.put(None)

        assert self.proc.stdout is not None and self.proc.stderr is not None
        pumps = [asyncio.create_task(pump("stdout", self.proc.stdout)),
                 asyncio.create_task(pump("stderr", self.proc.stderr))]
        try:
            open_streams = 2
            while open_streams:
                item = await queue.get()
                if item is None:
                    open_streams -= 1
                else:
                    yield item
        finally:
            for task in pumps:
                task.cancel()

    async def _pty_output(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        assert self.master is not None
        master = self.master
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(master, lambda: ready.done() or ready.set_result(None))
            try:
                await ready
            finally:
                loop.remove_reader(master)
            try:
                data = os.read(master, READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:  # EIO: every process on the terminal has exited
                return
            if not data:
                return
            yield data

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            await asyncio.get_running_loop().run_in_executor(None, _write_all, self.master, data)
        elif self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.proc.stdin.write(data)
                await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            await self.write_stdin(b"\x04")  # a terminal's end of input is Ctrl-D
        elif self.proc.stdin is not None:
            self.proc.stdin.close()

    async def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            set_size(self.master, width, height)

    async def wait(self) -> int:
        return await self.proc.wait()

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)  # podman ends its side of the session
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None


def _write_all(fd: int, data: bytes) -> None:
    """Write everything to a non-blocking fd (a pty's input queue may be briefly full)."""
    import select

    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
