"""Every kernel against the plain NumPy reference (tests/reference.py) on random tiny plans.

The plans are seeded and small (4..8 pixels a side) but exercise what the per-pixel loop does:
detector thickness layers, oversample, divergence and dispersion sources, phi steps (phi0 = 0 on some,
so the carry-over of quirk D1 is in play), mosaic domains, the four crystal shapes, an hkl table on
some, misset, triclinic cells, -N/-Na/-Nb/-Nc and -xtalsize, Kahn polarization, -nopolar,
-point_pixel and -twotheta. Pixels are big (1-4 mm) so a few Bragg spots and many fractional h,k,l
fall on the detector.

Tolerances:
* exact kernel: nanoBragg's arithmetic in double, stored as float32. The reference sums the same
  terms in the same order but rounds differently in places (Rodrigues' formula, (F*FL)^2, norms), so
  its double differs from C's in the last bits and the float32 store (half a step, <= 6e-8 relative)
  dominates: over seeds 0..99, every pixel of every image equalled float32(reference) exactly. We
  allow 2e-7 of the pixel (about three float32 steps) plus 1e-7 of the image's peak (for a pixel
  that is a near-cancellation, e.g. sincg close to a zero, where the double rounding is amplified).
* fast kernel: its promise, 1e-6 of the image's peak.
* CUDA renderer under numba's simulator (NUMBA_ENABLE_CUDASIM=1, set before numba.cuda is imported, so
  this file runs itself in a subprocess on three of the plans): the exact kernel's tolerance, since the
  simulator runs the device functions (kernels/cuda_functions.py, pixel.py's own source) as Python,
  with the exact kernel's double arithmetic and the same libm (on a real GPU the libm differs).
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference  # noqa: E402

from nbnumba import render  # noqa: E402
from nbnumba.cli.argv import parse_argv  # noqa: E402
from nbnumba.plan import make_plan  # noqa: E402

N_PLANS = 20
SHAPES = ["-square_xtal", "-round_xtal", "-gauss_xtal", "-tophat_spots"]
EXACT_RTOL, EXACT_PEAK_TOL = 2e-7, 1e-7
FAST_PEAK_TOL = 1e-6


def _f(x):
    return "%.6g" % x


def random_case(seed):
    """argv and hkl table ({(h,k,l): F} or None) of one random tiny plan."""
    rng = np.random.default_rng(seed)
    argv = []
    if rng.random() < 0.5:
        cell = [rng.uniform(25, 80) for _ in range(3)] + [90, 90, 90]
    else:
        cell = [rng.uniform(25, 80) for _ in range(3)] + [rng.uniform(75, 105) for _ in range(3)]
    argv += ["-cell"] + [_f(x) for x in cell]
    if rng.random() < 0.7:
        argv += ["-misset"] + [_f(rng.uniform(-180, 180)) for _ in range(3)]
    shape = SHAPES[seed % 4]
    # GAUSS and TOPHAT spots shrink as 1/(Na Nb Nc) (quirk D14): keep the product small enough that
    # the spots cover pixels
    nmax = 9 if shape in ("-square_xtal", "-round_xtal") else 7
    r = rng.random()
    if r < 0.4:
        argv += ["-N", str(rng.integers(1, nmax))]
    elif r < 0.8 or nmax < 9:
        for axis in "abc":
            argv += ["-N" + axis, str(rng.integers(1, nmax))]
    else:
        argv += ["-xtalsize", _f(rng.uniform(0.0002, 0.0006))]   # mm: Na = ceil(size/|a|), 3..24 cells
    argv += [shape]
    if seed % 4 and rng.random() < 0.5:
        argv += ["-fudge", _f(rng.uniform(0.3, 2.0))]
    table = None
    argv += ["-default_F", _f(rng.uniform(10, 200))]
    if rng.random() < 0.4:
        table = {(h, k, l): round(float(rng.uniform(0, 500)), 2)
                 for h in range(-2, 3) for k in range(-2, 3) for l in range(-1, 2) if rng.random() < 0.8}
        argv += ["-nointerpolate"]
    argv += ["-lambda", _f(rng.uniform(0.8, 2.0)), "-distance", _f(rng.uniform(60, 150)),
             "-detpixels", str(rng.integers(4, 9)), "-pixel", _f(rng.uniform(1.0, 4.0))]
    if rng.random() < 0.4:
        argv += ["-Xbeam", _f(rng.uniform(-5, 20)), "-Ybeam", _f(rng.uniform(-5, 20))]
    if rng.random() < 0.2:
        argv += ["-twotheta", _f(rng.uniform(-20, 20))]
    if rng.random() < 0.5:
        argv += ["-divergence", _f(rng.uniform(0.5, 5)), "-divsteps", str(rng.integers(2, 4))]
        if rng.random() < 0.5:
            argv += ["-square_div"]
    if rng.random() < 0.5:
        argv += ["-dispersion", _f(rng.uniform(0.5, 5)), "-dispsteps", str(rng.integers(2, 4))]
    if rng.random() < 0.6:
        phi0 = 0.0 if rng.random() < 0.5 else rng.uniform(-30, 30)
        argv += ["-phi", _f(phi0), "-osc", _f(rng.uniform(0.1, 2)), "-phisteps", str(rng.integers(1, 4))]
    if rng.random() < 0.6:
        argv += ["-mosaic", _f(rng.uniform(0.1, 2)), "-mosaic_dom", str(rng.integers(2, 5))]
    argv += ["-oversample", str(rng.integers(1, 3))]
    if rng.random() < 0.4:
        argv += ["-detector_thick", _f(rng.uniform(50, 500)), "-detector_thicksteps", str(rng.integers(1, 4))]
        if rng.random() < 0.5:
            argv += ["-detector_abs", _f(rng.uniform(100, 1000))]
    r = rng.random()
    if r < 0.5:
        argv += ["-polar", _f(rng.uniform(0, 1))]
    elif r < 0.65:
        argv += ["-nopolar"]
    if rng.random() < 0.15:
        argv += ["-point_pixel"]
    if table is not None:
        argv += ["-hkl", "P1.hkl"]
    return argv, table


def build(seed, workdir):
    """The plan, made in workdir (no stray Fdump.bin is read; the hkl file is written there)."""
    argv, table = random_case(seed)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    old = os.getcwd()
    os.chdir(workdir)
    try:
        if table is not None:
            Path("P1.hkl").write_text("".join("%d %d %d %g\n" % (*hkl, F) for hkl, F in table.items()))
        return make_plan(parse_argv(argv, warn=lambda m: None), log=lambda line: None), table, argv
    finally:
        os.chdir(old)


def pick_pixels(image, seed, n=5):
    """The first pixel (quirk D1), the brightest, and a few at random."""
    rng = np.random.default_rng(seed + 1000)
    spixels, fpixels = image.shape
    picks = [(0, 0), np.unravel_index(int(np.argmax(image)), image.shape)]
    while len(picks) < n:
        picks.append((int(rng.integers(spixels)), int(rng.integers(fpixels))))
    return [(int(s), int(f)) for s, f in dict.fromkeys(picks)]


def check_against_reference(plan, table, image, pixels, rtol, peak_tol):
    peak = float(np.max(np.abs(image)))
    bad = []
    for s, f in pixels:
        want = reference.pixel_intensity(plan, f, s, table)
        got = float(image[s, f])
        if not abs(got - want) <= rtol * abs(want) + peak_tol * peak:
            bad.append("pixel (s=%d, f=%d): kernel %.9g, reference %.9g, peak %.9g" % (s, f, got, want, peak))
    return bad


@pytest.mark.parametrize("seed", range(N_PLANS))
def test_cpu_kernels_match_reference(seed, tmp_path):
    plan, table, argv = build(seed, tmp_path)
    exact = render.run(plan, kernel="exact").image
    fast = render.run(plan, kernel="fast").image
    assert np.max(exact) > 0
    pixels = pick_pixels(exact, seed)
    bad = check_against_reference(plan, table, exact, pixels, EXACT_RTOL, EXACT_PEAK_TOL)
    assert not bad, "exact kernel, argv %s:\n%s" % (" ".join(argv), "\n".join(bad))
    bad = check_against_reference(plan, table, fast, pixels, 0.0, FAST_PEAK_TOL)
    assert not bad, "fast kernel, argv %s:\n%s" % (" ".join(argv), "\n".join(bad))


def test_phi_step_exactly_zero_mid_range(tmp_path, monkeypatch):
    """-phi -0.2 -osc 0.5 -phisteps 5: step 2 is exactly 0 and reuses step 1's rotation (quirk D1)."""
    argv = ("-cell 45 55 65 88 92 95 -misset 10 20 30 -N 6 -default_F 50 -lambda 1.2 -distance 80 "
            "-detpixels 5 -pixel 3 -phi -0.2 -osc 0.5 -phisteps 5 -mosaic 0.5 -mosaic_dom 2 -polar 0.9 "
            "-oversample 1").split()
    monkeypatch.chdir(tmp_path)
    plan = make_plan(parse_argv(argv, warn=lambda m: None), log=lambda line: None)
    assert 0.0 in [plan.p.phi0 + plan.p.phistep * k for k in range(plan.p.phisteps)]
    pixels = [(s, f) for s in range(5) for f in range(5)]
    exact = render.run(plan, kernel="exact").image
    assert not check_against_reference(plan, None, exact, pixels, EXACT_RTOL, EXACT_PEAK_TOL)
    fast = render.run(plan, kernel="fast").image
    assert not check_against_reference(plan, None, fast, pixels, 0.0, FAST_PEAK_TOL)


# ---------------------------------------------------------------- the CUDA renderer, simulated

CUDA_SEEDS = [1, 12, 14]     # small: ROUND with the phi carry-over, SQUARE, GAUSS with an hkl table


def simulator_main(seeds):
    """In the subprocess: render each plan with the CUDA renderer; print the images as JSON."""
    import tempfile
    images = {}
    for seed in seeds:
        plan, _, _ = build(seed, tempfile.mkdtemp(prefix="nb_ref_"))
        images[seed] = render.run(plan, kernel="exact", device="cuda").image.tolist()
    print(json.dumps(images))


def test_cuda_simulator_matches_reference(tmp_path):
    if importlib.util.find_spec("numba.cuda") is None:
        pytest.skip("numba.cuda not installed")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=str(root))
    proc = subprocess.run([sys.executable, __file__] + [str(s) for s in CUDA_SEEDS], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    images = json.loads(proc.stdout.strip().splitlines()[-1])
    for seed in CUDA_SEEDS:
        image = np.array(images[str(seed)], np.float32)
        plan, table, argv = build(seed, tmp_path / str(seed))
        assert image.shape == (plan.p.spixels, plan.p.fpixels) and np.max(image) > 0
        pixels = [(s, f) for s in range(image.shape[0]) for f in range(image.shape[1])]
        bad = check_against_reference(plan, table, image, pixels, EXACT_RTOL, EXACT_PEAK_TOL)
        assert not bad, "CUDA (simulated), argv %s:\n%s" % (" ".join(argv), "\n".join(bad))


if __name__ == "__main__":
    simulator_main([int(a) for a in sys.argv[1:]])
