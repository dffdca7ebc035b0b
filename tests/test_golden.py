"""Every golden case, byte for byte against nanoBragg.c's outputs (the EXACT parity level), with our own
options placed before, among (even between a flag and its values) and after nanoBragg's flags: C's rules
that look at following arguments must see exactly what C would see."""
import pytest

from conftest import golden_cases
from golden_runner import compare_case

CASES = golden_cases()
IDS = [c["name"] for c in CASES]


@pytest.mark.parametrize("place", ["first", "middle", "last"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_golden_exact(case, place, golden_dir, tmp_path):
    assert compare_case(case, golden_dir, tmp_path, ["-kernel", "exact", "-threads", "2"], place) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_golden_fast_kernel_by_default(case, golden_dir, tmp_path):
    # the default kernel reproduces every golden case byte for byte too
    assert compare_case(case, golden_dir, tmp_path, [], "last") == []
