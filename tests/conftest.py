import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"


def golden_cases():
    return tomllib.loads((GOLDEN / "cases.toml").read_text())["case"]


@pytest.fixture
def golden_dir():
    return GOLDEN
