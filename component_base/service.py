"""How every long-running pykube component runs in the foreground: start, then
serve until SIGTERM or Ctrl-C, then stop cleanly. A start that fails (or never
finishes before the signal) still gets the clean stop."""

from __future__ import annotations

import asyncio
import signal
from typing import Awaitable, Callable

import structlog


async def run_until_signalled(component: str, start: Callable[[], Awaitable[object]],
                              stop: Callable[[], Awaitable[object]]) -> None:
    log = structlog.get_logger(component)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    starting = asyncio.ensure_future(start())
    waiting = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait([starting, waiting], return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start ends here, with its error
            await waiting
        log.info(f"{component} stopping", reason="signal")
    finally:
        starting.cancel()
        waiting.cancel()
        await asyncio.gather(starting, waiting, return_exceptions=True)
        await stop()
