"""Every golden case, byte for byte against nanoBragg.c's outputs (the EXACT parity level)."""
import pytest

from conftest import golden_cases
from golden_runner import compare_case

CASES = golden_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_exact(case, golden_dir, tmp_path):
    assert compare_case(case, golden_dir, tmp_path, ["-kernel", "exact"]) == []
