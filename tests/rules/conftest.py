"""Fixture for the lint-rule tests: ``spec`` writes and lints small specs in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.helpers import SpecWriter


@pytest.fixture
def spec(tmp_path: Path) -> SpecWriter:
    return SpecWriter(tmp_path)
