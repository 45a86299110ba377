"""Shared test fixtures: the shared test data folder beside the checkout, and a real Anvil
node for a test (a module that needs another scope or Ganache too defines its own)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.nodes import Node

SHARED = Path(__file__).resolve().parents[2] / "shared"


def shared_dir(*parts: str) -> Path:
    """A folder of the shared test data, read in place.

    Outside CI a missing folder skips the test with a message; under ``CI=true`` it fails.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"shared test data not found at {path} (expected ../shared beside the checkout)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def anvil() -> Iterator[Node]:
    """A fresh Anvil node for one test, stopped after it."""
    with Node("anvil") as node:
        yield node
