"""Fixtures for pykubectl's unit tests (the fakes live in kubectl_testlib)."""

from __future__ import annotations

from typing import Any, Callable

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
