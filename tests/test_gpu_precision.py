"""The GPU fast kernel's arithmetic, measured at CPU speed: fast_pixel.fast_pixel_value compiled for the CPU
(tests/fast_pixel_cpu.py, the same source the GPU runs) on every golden case.

* double: the CPU fast kernel's own arithmetic in its own order, so the image is the CPU fast kernel's bit
  for bit; with the cells shared among threads (another summation order) within 1e-12 of the peak.
* mixed (float32 sines, ratio and F^2 on float64-reduced arguments): within the documented bound of
  nanoBragg.c's image on every golden case (README: at most 1e-6 of the peak, correlation >= 0.999999;
  the issue's target was 1e-5 and 0.99999).

tests/test_cuda.py checks, under the CUDA simulator, that the GPU kernel itself computes these same
values bit for bit."""
import os
import shutil

import numpy as np
import pytest

import fast_pixel_cpu as twin
from conftest import GOLDEN, golden_cases, golden_params
from nbnumba.cli.argv import parse_argv
from nbnumba.plan import make_plan
from nbnumba.render import run

CASES = [c for c in golden_cases() if (GOLDEN / "cases" / c["name"] / "exit_code").read_text().strip() == "0"]
MIXED_BOUND = 1e-6          # of the peak, README's figure for -gpu_precision mixed


def _plan(case, folder):
    os.chdir(folder)
    plan = make_plan(golden_params(case, folder), lambda line: None)
    golden = np.fromfile(GOLDEN / "cases" / case["name"] / os.path.basename(plan.p.floatfilename), np.float32)
    return plan, golden


def _error(got, want):
    got, want = got.astype(np.float64), want.astype(np.float64)
    peak = np.abs(want).max()
    err = np.abs(got - want).max() / peak if peak > 0 else np.abs(got).max()
    corr = np.corrcoef(got, want)[0, 1] if np.std(got) > 0 and np.std(want) > 0 else 1.0
    return err, corr


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_gpu_fast_arithmetic_on_golden(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plan, golden = _plan(case, tmp_path)
    cpu_fast = run(plan, kernel="fast").floatimage
    double, omega = twin.render(plan, mixed=False)
    assert np.array_equal(double.view(np.uint32), cpu_fast.view(np.uint32)), case["name"]
    shared, _ = twin.render(plan, mixed=False, parts=3)
    assert _error(shared, cpu_fast)[0] <= 1e-12
    mixed, _ = twin.render(plan, mixed=True)
    assert np.all(np.isfinite(mixed) == np.isfinite(golden))
    err, corr = _error(mixed, golden)
    assert err <= MIXED_BOUND and corr >= 0.999999, (case["name"], err, corr)


def test_mixed_precision_on_sharp_peaks(tmp_path, monkeypatch):
    """Large crystals make the sharpest peaks (the ratio of small sines near every Bragg condition):
    mixed stays within the bound of the exact kernel there too, and is not bit-identical (it is float32)."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(GOLDEN / "inputs" / "P1.hkl", tmp_path / "P1.hkl")
    plan = make_plan(parse_argv(("-hkl P1.hkl -cell 70 80 90 75 85 95 -misset 10 20 30 -N 60 -lambda 1 "
                                 "-distance 100 -detpixels 96 -pixel 0.3 -mosaic 0.3 -mosaic_dom 4 -phisteps 3 "
                                 "-osc 0.2 -seed 1").split(), warn=lambda m: None), lambda line: None)
    exact = run(plan, kernel="exact").floatimage
    mixed, _ = twin.render(plan, mixed=True)
    err, corr = _error(mixed, exact)
    assert 0 < err <= MIXED_BOUND and corr >= 0.999999, (err, corr)
