"""Test tiers: `make test` runs everything; `make test-fast` runs `pytest -m "not torch"`.

A module whose tests build torch modules says so once, `pytestmark = pytest.mark.torch`.
When the marker expression is exactly `not torch`, such modules are not even imported:
all their tests would be deselected anyway, and importing torch and torchvision for
nothing would cost several seconds of the fast tier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TORCH_MODULE = "\npytestmark = pytest.mark.torch"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Skip importing a torch test module when `-m "not torch"` would deselect all of it."""
    if config.getoption("markexpr") == "not torch" and collection_path.suffix == ".py":
        return TORCH_MODULE in collection_path.read_text() or None
    return None
