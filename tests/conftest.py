"""Shared fixtures: paths to the example bodies in the repo and to UNIMAL-100 in ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "morphologies" / "examples"
UNIMAL100 = REPO.parent / "shared" / "morphologies" / "unimal100" / "train"


@pytest.fixture(scope="session")
def unimal_dir() -> Path:
    if not (UNIMAL100 / "xml").is_dir():
        pytest.skip(f"UNIMAL-100 bodies not found at {UNIMAL100} (CI has ../shared)")
    return UNIMAL100


@pytest.fixture(scope="session")
def unimal_files(unimal_dir: Path) -> list[Path]:
    return sorted((unimal_dir / "xml").glob("*.xml"))
