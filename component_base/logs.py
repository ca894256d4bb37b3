"""Logging set-up shared by the pykube services: structlog, JSON lines to stderr
(one event per line, machine-readable) or a readable console format."""

from __future__ import annotations

import argparse
import logging
import sys

import structlog

LOG_FORMATS = ("json", "console")
DEFAULT_LOG_FORMAT = "json"


def add_log_format_flag(parser: argparse.ArgumentParser) -> None:
    """--log-format json|console, the same on every server."""
    parser.add_argument("--log-format", choices=LOG_FORMATS, default=DEFAULT_LOG_FORMAT,
                        help="json lines (default) or a readable console format")


def configure_logging(fmt: str = DEFAULT_LOG_FORMAT, level: int = logging.INFO) -> None:
    renderer = (structlog.processors.JSONRenderer() if fmt == "json"
                else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
