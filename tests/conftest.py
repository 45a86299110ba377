"""Shared test fixtures: the shared test data folder beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
