"""Image derivatives: the analytic pass (kernels/gradient.py) against central differences, as gradcheck stands
beside autograd, on random small plans, on the golden cases the float64 renderer takes, and through a
scalar (a weighted sum of pixels); the image of the analytic pass against the fast kernel's.

The comparison, and why 1e-4 is a fair bound. A central difference with step h has a truncation error of
about h^2/6 |f'''| and a rounding error of about eps |f| / h. The steps of derivatives.PARAMETERS move h, k, l by
1e-4 or less, well inside a Bragg peak's width 1/N, so both errors are small, and the reference here is
the Richardson combination of the differences with h and h/2, whose error is of order h^4. The image is
not smooth everywhere: F^2 from the table is constant between half-integer h, k, l, and the resolution
cut jumps, so a difference across such an edge measures the jump, not a derivative. Those pixels are found
where the differences with h, h/2 and h/4 do not converge as a smooth function's do (their changes must
stay below 1e-4 and 3e-5 of the derivative's scale; a jump inside the steps changes them by its size over
h), and left out; the test asserts that they are few. On the rest, analytic and central must agree to 1e-4
of the derivative image's largest value (in practice 1e-8)."""
import math
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GOLDEN, golden_cases
from nbnumba import derivatives as D
from nbnumba.api import params as api_params
from nbnumba.errors import NanoBraggError

ANALYTIC = [n for n, v in D.PARAMETERS.items() if v.analytic]
TOL = 1e-4


def compare(p, names, min_conditioned=0.9):
    """Analytic against central (h/2) on the pixels where central differences are well conditioned; returns
    {name: (largest error relative to the derivative's scale, fraction of pixels conditioned)}."""
    a = D.derivatives(p, names, "analytic")
    c1 = D.derivatives(p, names, "central")
    c2 = D.derivatives(p, names, "central", steps={n: D.PARAMETERS[n].step / 2 for n in names})
    c4 = D.derivatives(p, names, "central", steps={n: D.PARAMETERS[n].step / 4 for n in names})
    assert np.array_equal(a.image, c1.image)
    scale_image = float(np.abs(a.image).max())
    out = {}
    for n in names:
        ref = (4.0 * c4.d[n] - c2.d[n]) / 3.0         # Richardson: the h^2 error terms cancel
        scale = float(np.abs(c2.d[n]).max())
        if scale * D.PARAMETERS[n].step < 1e-9 * scale_image:
            # the image barely moves with this parameter (e.g. lambda with a -mat cell, where a and s both
            # scale with it): no difference resolves it; the analytic value must be as small
            assert float(np.abs(a.d[n]).max()) * D.PARAMETERS[n].step < 1e-8 * scale_image, n
            out[n] = (0.0, 1.0)
            continue
        # smooth: halving the step shrinks the difference about fourfold (h^2); across a jump it does not
        good = (np.abs(c1.d[n] - c2.d[n]) <= 1e-4 * scale) & (np.abs(c2.d[n] - c4.d[n]) <= 3e-5 * scale)
        err = float(np.abs(a.d[n] - ref)[good].max()) / scale
        out[n] = (err, float(good.mean()))
        assert good.mean() >= min_conditioned, (n, good.mean())
        assert err <= TOL, (n, err)
    return out


BASE = "-cell 70 80 90 75 85 95 -misset 10 20 30 -lambda 1 -distance 100 -pixel 0.25 -seed 1 -nointerpolate"


@st.composite
def small_plans(draw):
    cell = [draw(st.floats(40, 90)) for _ in range(3)] + [draw(st.floats(80, 100)) for _ in range(3)]
    a = ["-cell"] + ["%.3f" % v for v in cell]
    a += ["-misset"] + ["%.2f" % draw(st.floats(-40, 40)) for _ in range(3)]
    a += ["-Na", str(draw(st.integers(2, 8))), "-Nb", str(draw(st.integers(1, 8))), "-Nc", str(draw(st.integers(2, 8)))]
    a += ["-lambda", "%.3f" % draw(st.floats(0.8, 1.6)), "-distance", "%.2f" % draw(st.floats(60, 150))]
    a += ["-detpixels", str(draw(st.integers(10, 16))), "-pixel", "%.3f" % draw(st.floats(0.4, 1.0))]
    a += draw(st.sampled_from([[], ["-mosflm"], ["-xds"], ["-dials"], ["-adxv"], ["-denzo"],
                               ["-Xbeam", "3.1", "-Ybeam", "2.7"], ["-twotheta", "8"],
                               ["-detector_rotx", "4", "-detector_roty", "-3", "-pivot", "sample"]]))
    a += draw(st.sampled_from([["-default_F", "100"], ["-hkl", "P1.hkl"]]))
    a += draw(st.sampled_from([[], ["-oversample", "2"]]))
    a += draw(st.sampled_from([[], ["-mosaic", "0.4", "-mosaic_dom", "3"]]))
    a += draw(st.sampled_from([[], ["-phi", "0", "-osc", "0.4", "-phisteps", "2"],
                               ["-phi", "0", "-osc", "0.4", "-phisteps", "2", "-omp_threads", "2"]]))
    a += draw(st.sampled_from([[], ["-dispersion", "1", "-dispsteps", "2"],
                               ["-hdivrange", "0.2", "-hdivsteps", "2", "-vdivrange", "0.2", "-vdivsteps", "2"]]))
    a += draw(st.sampled_from([[], ["-detector_thick", "200", "-detector_thicksteps", "2", "-detector_abs", "300"]]))
    a += draw(st.sampled_from([[], ["-nopolar"], ["-polar", "0.9"], ["-point_pixel"]]))
    return a + ["-seed", "1", "-nointerpolate", "-skip", "dumpfile"]


@pytest.fixture(scope="module")
def hkl_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("deriv")
    shutil.copy(GOLDEN / "inputs" / "P1.hkl", d / "P1.hkl")
    return d


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=small_plans())
def test_analytic_matches_central_on_random_plans(args, hkl_dir, monkeypatch):
    monkeypatch.chdir(hkl_dir)
    p = api_params(args)
    names = [n for n in ANALYTIC if (n not in ("Na", "Nb", "Nc") or getattr(p, n) > 1.0)]      # (N <= 1: no lattice factor on that axis)
    compare(p, names, min_conditioned=0.8 if "P1.hkl" in args else 0.99)


GOLDEN_OK = []
for _case in golden_cases():
    _args = _case["args"]
    if ((GOLDEN / "cases" / _case["name"] / "exit_code").read_text().strip() != "0" or _case.get("before")
            or any(f in _args for f in ("-round_xtal", "-gauss_xtal", "-tophat", "-curved", "-oversample_",
                                        "-interpolate", "-printout", "-img", "-mask"))):
        continue
    GOLDEN_OK.append(_case)


@pytest.mark.parametrize("case", GOLDEN_OK, ids=[c["name"] for c in GOLDEN_OK])
def test_analytic_matches_central_on_golden_cases(case, tmp_path, monkeypatch):
    for f in (GOLDEN / "inputs").iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.chdir(tmp_path)
    args = case["args"].split() + ["-nointerpolate", "-skip", "dumpfile"]
    if int(case.get("threads", 1)) > 1:
        args += ["-omp_threads", str(case["threads"])]
    p = api_params(args)
    sized = p.sample_x > 0 or p.sample_y > 0 or p.sample_z > 0
    names = [n for n in ANALYTIC if not (n in D.CELL and (not p.user_cell or p.matfilename or sized))
             and (n not in ("Na", "Nb", "Nc") or getattr(p, n) > 1.0)]
    compare(p, names, min_conditioned=0.8)


def test_gradient_of_a_weighted_sum():
    """d/dtheta of sum(w * image), analytic (sum of w times each derivative image) against the central
    difference of the sum itself, for every parameter, on a plan with no table (nothing jumps)."""
    p = api_params((BASE + " -N 5 -detpixels 24 -default_F 100 -mosaic 0.3 -mosaic_dom 2 -oversample 2").split())
    w = np.random.default_rng(3).uniform(0.5, 1.5, (24, 24))
    a = D.derivatives(p, ANALYTIC, "analytic")
    for n in ANALYTIC:
        h = D.PARAMETERS[n].step
        up = D.perturbed_plan(p, D.base_plan(p), n if n != "fluence" else None, a.values[n] + h,
                              fluence_scale=1.0 + h if n == "fluence" else 1.0)
        down = D.perturbed_plan(p, D.base_plan(p), n if n != "fluence" else None, a.values[n] - h,
                                fluence_scale=1.0 - h if n == "fluence" else 1.0)
        fd = (np.sum(w.reshape(-1) * D.render(up)[0]) - np.sum(w.reshape(-1) * D.render(down)[0])) / (2 * h)
        an = float(np.sum(w * a.d[n]))
        assert math.isclose(an, fd, rel_tol=1e-6, abs_tol=1e-9 * np.sum(np.abs(w * a.d[n]))), (n, an, fd)


def test_analytic_pass_image_is_the_fast_kernels():
    """The float64 image of the analytic pass, stored as float32, is the fast kernel's image bit for bit
    (every pixel but each emulated thread's first, which both compute with the exact pixel_value's
    arithmetic in one and the fast formulas in the other: those agree to 1e-6 of the peak)."""
    from nbnumba.plan import make_plan
    from nbnumba.render import run
    args = (BASE + " -N 6 -detpixels 32 -default_F 100 -phi 0 -osc 0.3 -phisteps 3 -omp_threads 3").split()
    p = api_params(args)
    d = D.derivatives(p, ["distance", "rotx"], "analytic")
    fast = run(make_plan(p, lambda line: None), kernel="fast").image
    ours = d.image.astype(np.float32)
    differ = np.flatnonzero(ours.view(np.uint32) != fast.view(np.uint32))
    assert differ.size <= 3
    assert np.abs(ours.astype(float) - fast).max() <= 1e-6 * np.abs(fast).max()


def test_non_integer_n_derivative_is_smooth():
    """N through the reduced lattice factor: the derivative in N is continuous across an integer N."""
    ds = []
    for N in (4.0 - 1e-7, 4.0, 4.0 + 1e-7):
        p = api_params((BASE + " -detpixels 16 -default_F 100").split(), Na=N, Nb=4.0, Nc=4.0)
        ds.append(D.derivatives(p, ["Na"], "analytic").d["Na"])
    scale = np.abs(ds[1]).max()
    assert np.abs(ds[0] - ds[1]).max() <= 1e-5 * scale and np.abs(ds[2] - ds[1]).max() <= 1e-5 * scale


def test_mosaic_by_central_differences():
    p = api_params((BASE + " -N 5 -detpixels 20 -default_F 100 -mosaic 0.5 -mosaic_dom 4").split())
    c1 = D.derivatives(p, ["mosaic"], "central").d["mosaic"]
    c2 = D.derivatives(p, ["mosaic"], "central", richardson=True).d["mosaic"]
    scale = np.abs(c2).max()
    assert scale > 0 and np.abs(c1 - c2).max() <= 1e-3 * scale


@pytest.mark.parametrize("wrt,method,message", [
    (["spin"], "analytic", "cannot differentiate with respect to 'spin'; choose from distance, Xbeam"),
    (["mosaic"], "analytic", "mosaic: no analytic derivative (use method='central'); analytic: distance"),
    (["distance"], "symbolic", "method must be 'analytic' or 'central'"),
    (["Na", "Na"], "analytic", "named twice"),
])
def test_bad_requests(wrt, method, message):
    p = api_params((BASE + " -N 5 -detpixels 8 -default_F 100").split())
    with pytest.raises(NanoBraggError, match=message.replace("(", r"\(").replace(")", r"\)")):
        D.derivatives(p, wrt, method)


@pytest.mark.parametrize("extra,message", [
    ("-round_xtal", "parallelepiped crystal"), ("-curved_det", "flat detector"),
    ("-oversample_omega", "oversample_omega"), ("-interpolate", "without structure-factor interpolation"),
])
def test_unsupported_plans(extra, message, hkl_dir, monkeypatch):
    monkeypatch.chdir(hkl_dir)
    p = api_params((extra + " " + BASE + " -N 5 -detpixels 8 -hkl P1.hkl").split())
    if extra == "-interpolate":
        p.interpolate = 1
    with pytest.raises(NanoBraggError, match=message):
        D.derivatives(p, ["distance"], "central")


def test_cell_parameters_need_a_cell(hkl_dir, monkeypatch):
    monkeypatch.chdir(hkl_dir)
    shutil.copy(GOLDEN / "inputs" / "A.mat", hkl_dir / "A.mat")
    p = api_params("-mat A.mat -N 5 -detpixels 8 -default_F 10".split())
    with pytest.raises(NanoBraggError, match="a: cell parameters need a cell from -cell"):
        D.derivatives(p, ["a"], "analytic")
