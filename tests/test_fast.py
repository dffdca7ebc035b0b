"""-kernel fast: close to nanoBragg.c on every golden case, close to the exact kernel on random small
plans, and its reduced grating factor against the libm formula nanoBragg.c uses.

"Close" is the issue's criterion: float image within 1e-6 of the image's peak at every pixel and
correlation >= 0.999999; int and PGM images differ in at most 0.1% of pixels, by one count at most;
the noise image's photon total within 1%.
"""
import math
import os
import re
import shlex
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import GOLDEN, golden_cases
from nbnumba.cli.argv import parse_argv
from nbnumba.kernels.cpu import covered
from nbnumba.kernels.fast_pixel import grating_parts, sincg_fast, sinpi
from nbnumba.kernels.vecmath import sincg
from nbnumba.plan import make_plan, save_fdump
from nbnumba.render import run

EPS = 2.0 ** -52


def assert_close(want, got, what=""):
    want = np.asarray(want, np.float64).reshape(-1)
    got = np.asarray(got, np.float64).reshape(-1)
    bad = ~np.isfinite(want)
    assert np.array_equal(want[bad], got[bad], equal_nan=True) and np.all(np.isfinite(got[~bad])), what
    ok = ~bad
    want, got = want[ok], got[ok]
    if want.size == 0:
        return
    peak = np.max(np.abs(want))
    err = np.max(np.abs(want - got))
    assert err <= 1e-6 * peak, "%s: max error %g, peak %g" % (what, err, peak)
    if np.std(want) > 0.0 and np.std(got) > 0.0:
        assert np.corrcoef(want, got)[0, 1] >= 0.999999, what


def plan_for(args):
    return make_plan(parse_argv(args, warn=lambda m: None), lambda line: None)


# ---------------------------------------------------------------- golden cases

CASES = [c for c in golden_cases() if (GOLDEN / "cases" / c["name"] / "exit_code").read_text().strip() == "0"]


def _tail_of(path, n, dtype):
    data = np.fromfile(path, np.uint8)
    return data[data.size - n * np.dtype(dtype).itemsize:].view(dtype)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden_close(case, tmp_path, monkeypatch):
    gdir = GOLDEN / "cases" / case["name"]
    for f in (GOLDEN / "inputs").iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    tail = ["-omp_threads", str(case["threads"])] if int(case.get("threads", 1)) > 1 else []
    for pre in case.get("before", []):
        save_fdump(plan_for(shlex.split(pre) + tail), lambda line: None)
    plan = plan_for(shlex.split(case["args"]) + tail)
    p = plan.p
    result = run(plan, threads=2, kernel="fast")
    want = np.fromfile(gdir / os.path.basename(p.floatfilename), np.float32)
    assert_close(want, result.floatimage, case["name"])

    # the integer outputs, scaled from our own max_I and rmsd as C would
    from nbnumba.outputs import int_image, pgm_image
    from nbnumba.random_numbers import noise_image
    npx = p.fpixels * p.spixels
    flat = result.floatimage
    scale = p.intfile_scale if p.intfile_scale > 0.0 else (55000.0 / result.max_I if result.max_I > 0 else 1.0)
    ints = int_image(flat, scale, p.adc_offset, p)
    golden_ints = _tail_of(gdir / os.path.basename(p.intfilename), npx, "<u2")
    diff = np.abs(ints.astype(np.int64) - golden_ints.astype(np.int64))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= 0.001 * npx
    if p.write_pgm:
        pscale = p.pgm_scale if p.pgm_scale > 0.0 else (250.0 / (5.0 * result.rmsd) if result.rmsd > 0 else scale)
        pgm = pgm_image(flat, pscale, p)
        golden_pgm = _tail_of(gdir / os.path.basename(p.pgmfilename), npx, np.uint8)
        diff = np.abs(pgm.astype(np.int64) - golden_pgm.astype(np.int64))
        assert diff.max() <= 1 and np.count_nonzero(diff) <= 0.001 * npx
    if p.calculate_noise:
        line = re.search(r"^(\S+) photons on noise image", (gdir / "stdout.txt").read_text(), re.M)
        _, photons, _ = noise_image(plan.rng, flat, p.fpixels, p.spixels, p.roi_xmin, p.roi_xmax, p.roi_ymin,
                                    p.roi_ymax, p.adc_offset, np.array([p.seed], np.int64))
        assert abs(photons - float(line.group(1))) <= 0.01 * max(float(line.group(1)), 1.0)


# ---------------------------------------------------------------- fast vs exact on random plans

@pytest.fixture(scope="module")
def inputs_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fast_inputs")
    shutil.copy(GOLDEN / "inputs" / "small.hkl", d / "small.hkl")
    return d


def _num(draw, lo, hi, places=3):
    return "%.*f" % (places, draw(st.floats(lo, hi)))


@st.composite
def small_runs(draw):
    a = ["-cell"] + [_num(draw, 30, 120, 2) for _ in range(3)]
    if draw(st.booleans()):
        a += ["90", "90", "90"]
    else:
        a += [_num(draw, 80, 100, 2) for _ in range(3)]
    if draw(st.booleans()):
        a += ["-N", str(draw(st.integers(1, 12)))]
    else:
        a += ["-Na", str(draw(st.integers(1, 12))), "-Nb", str(draw(st.integers(1, 12))),
              "-Nc", str(draw(st.integers(1, 12)))]
    if draw(st.integers(0, 3)) == 0:
        a += ["-hkl", "small.hkl", "-default_F", _num(draw, 0, 50, 1), "-nointerpolate"]
    else:
        a += ["-default_F", _num(draw, 1, 200, 1)]
    a += ["-lambda", _num(draw, 0.8, 6.0), "-distance", _num(draw, 40, 300, 1), "-detpixels", "32",
          "-pixel", _num(draw, 0.05, 0.4), "-oversample", str(draw(st.integers(1, 2))), "-seed", "1"]
    a += draw(st.sampled_from([[], ["-round_xtal"], ["-gauss_xtal"], ["-tophat_spots"]]))
    if draw(st.booleans()):
        a += ["-phi", draw(st.sampled_from(["0", "-0.5", "1"])), "-osc", _num(draw, 0.0, 2.0),
              "-phisteps", str(draw(st.integers(1, 3)))]
    if draw(st.booleans()):
        a += ["-mosaic", _num(draw, 0.0, 1.0), "-mosaic_dom", str(draw(st.integers(1, 3))),
              "-mosaic_seed", str(draw(st.integers(1, 10 ** 6)))]
    if draw(st.booleans()):
        a += ["-hdivrange", _num(draw, 0.0, 1.0), "-hdivsteps", str(draw(st.integers(1, 2))),
              "-vdivrange", _num(draw, 0.0, 1.0), "-vdivsteps", str(draw(st.integers(1, 2)))]
    if draw(st.booleans()):
        a += ["-dispersion", _num(draw, 0.0, 5.0), "-dispsteps", str(draw(st.integers(1, 3)))]
    if draw(st.integers(0, 3)) == 0:
        a += ["-misset", "random", "-misset_seed", str(draw(st.integers(1, 10 ** 6)))]
    for flag in ("-nopolar", "-curved_det", "-point_pixel", "-oversample_omega", "-oversample_polar"):
        if draw(st.integers(0, 5)) == 0:
            a.append(flag)
    if draw(st.integers(0, 3)) == 0:
        a += ["-polar", _num(draw, 0.0, 1.0)]
    if draw(st.integers(0, 3)) == 0:
        a += ["-dmin", _num(draw, 1.0, 20.0, 2)]
    if draw(st.integers(0, 4)) == 0:
        a += ["-water", _num(draw, 10, 200, 1)]
    if draw(st.integers(0, 4)) == 0:
        a += ["-detector_thick", _num(draw, 10, 300, 1), "-detector_abs", _num(draw, 50, 500, 1),
              "-thicksteps", str(draw(st.integers(1, 2)))]
    a += ["-omp_threads", str(draw(st.integers(1, 3)))]
    return a


@settings(max_examples=int(os.environ.get("FAST_EXAMPLES", "40")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=small_runs())
def test_fast_matches_exact(args, inputs_dir, monkeypatch):
    monkeypatch.chdir(inputs_dir)
    plan = plan_for(args)
    assume(plan.steps * plan.p.detector_thicksteps <= 400)
    want = run(plan, threads=2, kernel="exact")
    got = run(plan, threads=2, kernel="fast")
    assert_close(want.floatimage, got.floatimage, " ".join(args))
    assert math.isclose(want.omega_sum, got.omega_sum, rel_tol=1e-12)


def test_fresh_and_interpolating_pixels_go_exact(inputs_dir, monkeypatch):
    """A thread's first pixel (carried phi rotation) and interpolating pixels are bit-identical."""
    monkeypatch.chdir(inputs_dir)
    plan = plan_for("-cell 100 100 100 90 90 90 -hkl small.hkl -default_F 2 -N 4 -interpolate -lambda 1 "
                    "-distance 100 -detpixels 32 -pixel 0.4 -oversample 1 -phi 0 -osc 1 -phisteps 3 "
                    "-omp_threads 3".split())
    exact_result = run(plan, kernel="exact")
    want = exact_result.floatimage
    got = run(plan, kernel="fast").floatimage
    assert exact_result.interpolation_off_at >= 0
    from nbnumba.render import pixel_order
    order, block_starts = pixel_order(plan.p)
    first = order[block_starts[:-1]]
    assert np.array_equal(want[first].view(np.uint32), got[first].view(np.uint32))
    assert_close(want, got)


def test_coverage_rules():
    """The tiled path takes any N (the reduced lattice factor) but not the oversample_* flags (C's
    running-sum quirks); -N is read as an integer, but the Python API can set any N."""
    plan = plan_for("-cell 100 100 100 90 90 90 -default_F 1 -N 5 -detpixels 8".split())
    assert covered(plan.params)
    params = plan.params.copy()
    params[0]["Nb"] = 2.5
    assert covered(params)
    for flag in ("-oversample_thick", "-oversample_polar", "-oversample_omega"):
        p = plan_for("-cell 100 100 100 90 90 90 -default_F 1 -N 5 -detpixels 8".split() + [flag])
        assert not covered(p.params)


def _n_plan(Na):
    from nbnumba.api import params as api_params
    params = api_params("-cell 100 100 100 90 90 90 -misset 3 7 11 -default_F 10 -lambda 1 -distance 100 "
                        "-detpixels 32 -pixel 0.3 -oversample 1".split(), Na=Na, Nb=3.0, Nc=4.0)
    return make_plan(params, lambda line: None)


def test_non_integer_n_renders_the_reduced_lattice_factor():
    """A non-integer N is rendered through sin(pi N d)/sin(pi d), d = h - h0, by both kernels: the fast
    and exact images agree, the image is continuous across an integer N (where the reduced form is C's
    sin(pi N h)/sin(pi h) up to a sign the square removes), and one pixel matches the formula by hand."""
    plan = _n_plan(2.5)
    exact = run(plan, kernel="exact").floatimage
    assert_close(exact, run(plan, kernel="fast").floatimage)
    at_three = run(_n_plan(3.0), kernel="exact").floatimage
    assert_close(at_three, run(_n_plan(3.0 + 1e-9), kernel="exact").floatimage)
    assert_close(at_three, run(_n_plan(3.0 + 1e-9), kernel="fast").floatimage)
    # one pixel by hand: the factor of a along with C's others, from the same plan
    from reference import pixel_intensity
    for Na in (2.5, 3.7):
        plan = _n_plan(Na)
        img = run(plan, kernel="exact").image
        for idx in (int(np.argmax(img)), 37, 300):
            want = pixel_intensity(plan, idx % plan.p.fpixels, idx // plan.p.fpixels)
            assert math.isclose(img.reshape(-1)[idx], want, rel_tol=1e-6), (Na, idx, want)


# ---------------------------------------------------------------- the reduced grating factor

def c_sincg(h, n):
    """nanoBragg.c's F_latt factor for one axis: sincg(pi*h, N) (libm sin on the large argument)."""
    return sincg(math.pi * h, n)


def c_error_bound(h, n):
    """The rounding error of C's own formula: its arguments pi*h and pi*h*N carry ~ulp-level errors
    that sin turns into absolute errors, divided by |sin(pi h)|."""
    s = abs(math.sin(math.pi * h))
    return 8 * EPS * (math.pi * abs(h) * n + 4.0) / max(s, 1e-300) * (1.0 + abs(c_sincg(h, n)))


def test_sinpi_polynomial():
    xs = np.linspace(-0.5, 0.5, 4001)
    for x in xs:
        ref = math.sin(math.pi * x)
        assert abs(sinpi_py(x) - ref) <= 4 * EPS * max(abs(ref), 1e-300) + 1e-300
    assert sinpi_py(0.5) == pytest.approx(1.0, abs=4 * EPS)
    assert sinpi_py(0.0) == 0.0


def sinpi_py(x):
    return sinpi(x)


def test_grating_zero_offset_is_n():
    for n in (1.0, 2.0, 5.0, 20.0, 777.0):
        assert grating_parts(0.0, n) == (n, 1.0)
        for h in (0.0, -0.0, 1.0, -3.0, 1234.0):
            assert abs(sincg_fast(h, n)) == n


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 20, 33, 100, 1000, 12345])
def test_sincg_fast_against_libm_formula(n):
    rng = np.random.default_rng(n)
    hs = np.concatenate([rng.uniform(-0.5, 0.5, 300),            # C's formula is accurate here
                         rng.uniform(-300, 300, 300),            # large arguments
                         rng.uniform(-1e4, 1e4, 100),
                         np.round(rng.uniform(-50, 50, 100)) + rng.normal(0, 1e-4, 100),   # near peaks
                         np.arange(-4, 4.25, 0.25) + 0.5 / n])  # near zeros of the numerator
    for h in hs:
        got = abs(sincg_fast(h, float(n)))
        want = abs(c_sincg(h, float(n)))
        tol = 4e-15 * n + c_error_bound(h, n)
        assert abs(got - want) <= tol, (h, n, got, want)
        # periodic in h with period 1 (sign aside), bit for bit: the reduction is exact (h on a
        # 2^-40 grid, so that h + 7 is exact too)
        if abs(h) < 1e3:
            g = round(h * 2.0 ** 40) / 2.0 ** 40
            assert abs(sincg_fast(g + 7.0, float(n))) == abs(sincg_fast(g, float(n)))


def test_sincg_fast_against_chebyshev_identity():
    """sin(N x)/sin(x) = U_{N-1}(cos x): an independent evaluation, accurate for small N and |h| < 1/2."""
    for n in range(1, 12):
        for h in np.linspace(-0.49, 0.49, 197):
            c = math.cos(math.pi * h)
            u0, u1 = 1.0, 2.0 * c
            u = u0 if n == 1 else u1
            for _ in range(n - 2):
                u0, u1 = u1, 2.0 * c * u1 - u0
                u = u1
            assert abs(sincg_fast(h, float(n))) == pytest.approx(abs(u), rel=1e-12, abs=1e-13 * n)


def test_polarizations_against_the_atan2_formula():
    """The fast kernel's cos(2 psi) from e and b (no atan2/cos) agrees with vecmath's libm formula,
    including the degenerate frame (axis along the beam), Kahn 0, and pixels already done."""
    from numba import njit

    from nbnumba.kernels.fast import _polarizations as compiled

    @njit
    def _polarizations(*args):       # kernel functions are callable only from compiled code
        return compiled(*args)
    from nbnumba.kernels.vecmath import polarization_factor, unitize
    rng = np.random.default_rng(5)
    for kahn, axis, beam in ((0.0, (0, 0, 1.0), (1.0, 0, 0)), (0.7, (0, 0, 1.0), (1.0, 0.01, 0)),
                             (1.0, (0, 1.0, 0), (1.0, 0, 0)), (0.5, (1.0, 0, 0), (1.0, 0, 0))):
        d = rng.normal(size=(3, 64)) + np.array([[2.0], [0.0], [0.0]])
        polar = np.zeros(64)
        polar[5] = 0.25                      # already computed: left alone
        on = np.ones(64, np.int64)
        on[7] = 0                            # this source does not reach it: left at 0
        ux, uy, uz = d.copy()
        ix, iy, iz = (-v for v in beam)
        pending = _polarizations(polar, on, (ux, uy, uz), (ix, iy, iz), kahn, np.array(axis))
        assert pending                       # pixel 7 is still 0
        _, uix, uiy, uiz = unitize(ix, iy, iz)
        for j in range(64):
            if j == 5 or j == 7:
                assert polar[j] == (0.25 if j == 5 else 0.0)
                continue
            _, dx, dy, dz = unitize(*d[:, j])
            assert (ux[j], uy[j], uz[j]) == (dx, dy, dz)       # re-unitized in place (quirk D10)
            want = polarization_factor(kahn, uix, uiy, uiz, dx, dy, dz, *axis)
            assert polar[j] == pytest.approx(want, rel=1e-14, abs=1e-15)
