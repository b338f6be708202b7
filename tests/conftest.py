"""Shared fixtures: real Kermany images copied into tests/fixtures (see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def kermany_mini() -> Path:
    return FIXTURES / "kermany_mini"


@pytest.fixture(scope="session")
def fullres_images() -> list[Path]:
    return sorted((FIXTURES / "fullres").glob("*.jpeg"))


@pytest.fixture(scope="session")
def fixture_images(kermany_mini: Path) -> list[Path]:
    return sorted(kermany_mini.rglob("*.jpeg"))


@pytest.fixture(scope="session")
def kermany_224() -> Path:
    """The complete Kermany split beside the repo (../shared/data), as CI lays it out."""
    root = SHARED_DATA / "kermany_224"
    if not (root / "train").is_dir():
        pytest.skip("shared Kermany data not present")
    return root
