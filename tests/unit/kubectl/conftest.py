"""Fixtures for pykubectl's unit tests (the fakes live in kubectl_testlib)."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator

import pytest

from kubectl_testlib import FakeAPI, Harness


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


@pytest.fixture
def harness(api: FakeAPI) -> Callable[..., Harness]:
    """harness(namespace=..., namespace_from_flag=..., stdin=...) -> a Context over ``api``."""

    def make(**kwargs: Any) -> Harness:
        return Harness(api, **kwargs)

    return make


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """describe prints local time, like kubectl; pin it to UTC for exact expectations."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
