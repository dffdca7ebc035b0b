"""The CUDA renderer (nbnumba.kernels.cuda), checked without a GPU.

* Under numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1, which must be set before numba.cuda is
  first imported, so this file runs itself as a script in one subprocess): golden cases rendered
  by the CUDA driver, whole (through render.run) or as a few hundred listed pixels in C's serial
  order (the carried-cell flags are computed on the full list first, as run() does), compared with
  C's float images. The simulator runs the device functions themselves (kernels/cuda_functions.py:
  pixel.py's and vecmath.py's sources compiled with cuda.jit(device=True)), as Python on the
  simulator's arrays; with the same IEEE arithmetic and libm as the CPU kernel every pixel must equal
  the CPU's bit for bit, which also checks the driver: indexing, the start offset, the fresh and
  interpolation flags, the float32 store and copy-back. A counting shim on the device functions
  proves that they, and not the CPU-compiled ones, are what runs.
* With libNVVM present (no GPU needed): the real kernel, its device functions included, compiles to
  PTX for sm_90, and the multiply-add contraction that would break C's roundings is off.
* Every device function is compiled from the same code object as its CPU twin, and none of them can
  reach a CPU-compiled function.
* Without a GPU: importing works and rendering is a one-line NanoBraggError.
"""
import importlib.util
import json
import re
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "golden"

# rendered as a subset of their pixel list (see pick_positions)
SUBSET_CASES = ["base_mosflm", "phi_carryover_threads3", "phi_carryover_threads2_roi", "mosaic",
                "water", "detector_thickness", "detector_thickness_oversample_thick", "curved_detector",
                "oversample_omega_polar", "polar_kahn", "dmin", "triclinic_misset", "round_xtal",
                "gauss_xtal", "tophat_spots", "divergence_round", "spindle_axis",
                "interpolate_auto", "interpolate_shutoff", "mask"]
# rendered whole through render.run(plan, device="cuda")
FULL_CASES = ["nonoise_nopgm"]


# ---------------------------------------------------------------- simulator side (subprocess)

def _cases():
    return {c["name"]: c for c in tomllib.loads((GOLDEN / "cases.toml").read_text())["case"]}


def _plan(args, workdir):
    from nbnumba.cli.argv import parse_argv
    from nbnumba.plan import make_plan
    old = os.getcwd()
    os.chdir(workdir)
    try:
        p = parse_argv(args, warn=lambda m: None)
        return make_plan(p, lambda line: None)
    finally:
        os.chdir(old)


def _case_plan(case, workdir):
    args = shlex.split(case["args"])
    if int(case.get("threads", 1)) > 1:
        args += ["-omp_threads", str(case["threads"])]
    return _plan(args, workdir)


def _golden_image(case, plan):
    return np.fromfile(GOLDEN / "cases" / case["name"] / plan.p.floatfilename, np.float32)


def _prepare(plan):
    """run()'s bookkeeping: the pixel list and the fresh (unrotated-cell) flags on the full list."""
    from nbnumba.kernels import cpu
    from nbnumba.render import pixel_order
    order, block_starts = pixel_order(plan.p)
    fresh = np.zeros(order.shape[0], np.int8)
    firsts = cpu.first_phi_positions(order, block_starts, plan.params, plan.det, plan.sources)
    fresh[firsts[firsts >= 0]] = 1
    return order, fresh


def _plan_arrays(plan):
    return plan.arrays()


def pick_positions(order, fresh, want, after=60):
    """List positions: around every fresh pixel, around the brightest pixel, and an even spread."""
    n = order.shape[0]
    picks = set(np.linspace(0, n - 1, min(n, 80)).astype(int).tolist())
    centres = np.flatnonzero(fresh).tolist() + [int(np.argmax(want[order]))]
    for c in centres:
        picks.update(range(max(0, c - 10), min(n, c + after)))
    return np.array(sorted(picks), np.int64)


def _render_subset(render, plan, order, fresh, sel, until):
    image = np.zeros(plan.p.fpixels * plan.p.spixels, np.float32)
    omega = np.zeros(sel.shape[0])
    switched = np.zeros(sel.shape[0], np.int8)
    render(order[sel], 0, fresh[sel], until, _plan_arrays(plan), image, omega, switched)
    return image, omega


def _compare(got, want, peak):
    d = np.abs(got.astype(np.float64) - want.astype(np.float64))
    if got.size > 1 and np.std(got) > 0 and np.std(want) > 0:
        corr = float(np.corrcoef(got.astype(np.float64), want.astype(np.float64))[0, 1])
    else:
        corr = 1.0 if np.array_equal(got, want) else 0.0
    return {"ndiff": int((got.view(np.uint32) != want.view(np.uint32)).sum()),
            "maxdiff_over_peak": float(d.max() / peak) if peak > 0 else float(d.max()), "corr": corr}


def subset_case(case, workdir):
    from nbnumba.kernels import cuda as kc
    from nbnumba.kernels import cpu
    plan = _case_plan(case, workdir)
    want_full = _golden_image(case, plan)
    order, fresh = _prepare(plan)
    n = order.shape[0]
    sel = pick_positions(order, fresh, want_full)
    until = -1
    if plan.interpolate:
        # C's global shut-off: positions after the first switching pixel (full serial list) run
        # without interpolation; find it with the CPU kernel, then keep it on up to there
        tmp_img = np.zeros(plan.p.fpixels * plan.p.spixels, np.float32)
        tmp_sw = np.zeros(n, np.int8)
        cpu.render_exact(order, 0, fresh, n, _plan_arrays(plan), tmp_img, np.zeros(n), tmp_sw)
        hits = np.flatnonzero(tmp_sw)
        first = int(hits[0]) if hits.size else n
        until = int(np.searchsorted(sel, first, side="right")) - 1
    t = time.perf_counter()
    img, om = _render_subset(kc.render_exact, plan, order, fresh, sel, until)
    seconds = time.perf_counter() - t
    cpu_img, cpu_om = _render_subset(cpu.render_exact, plan, order, fresh, sel, until)
    idx = order[sel]
    out = _compare(img[idx], want_full[idx], float(np.abs(want_full).max()))
    out.update(pixels=int(sel.shape[0]), of=int(n), fresh=int(fresh[sel].sum()), seconds=seconds,
               ndiff_cpu=int((img.view(np.uint32) != cpu_img.view(np.uint32)).sum()),
               omega_equal=bool(np.array_equal(om, cpu_om)))
    return out


def full_case(case, workdir):
    from nbnumba.render import run
    plan = _case_plan(case, workdir)
    want = _golden_image(case, plan)
    t = time.perf_counter()
    res = run(plan, device="cuda")
    seconds = time.perf_counter() - t
    cpu = run(_case_plan(case, workdir))
    out = _compare(res.floatimage, want, float(np.abs(want).max()))
    out.update(pixels=int(want.size), seconds=seconds,
               stats_equal=[res.max_I, res.mean, res.rms, res.rmsd, res.omega_sum]
               == [cpu.max_I, cpu.mean, cpu.rms, cpu.rmsd, cpu.omega_sum])
    return out


def full_fast(workdir):
    """A whole image through render.run(kernel="fast", device="cuda"): the CPU fast kernel's image and
    statistics bit for bit in double; mixed within its bound, with its statistics close."""
    from nbnumba.render import run
    args = shlex.split("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 24 "
                       "-pixel 0.4 -mosaic 0.5 -mosaic_dom 3 -phisteps 2 -osc 0.5 -seed 2")
    cpu = run(_plan(args, workdir), kernel="fast")
    out = {}
    for precision in ("double", "mixed"):
        plan = _plan(args + ["-gpu_precision", precision], workdir)
        res = run(plan, kernel="fast", device="cuda")
        out[precision] = _compare(res.floatimage, cpu.floatimage, float(cpu.max_I))
        out[precision]["stats"] = [res.max_I, res.mean, res.rms, res.rmsd, res.omega_sum]
    out["cpu_stats"] = [cpu.max_I, cpu.mean, cpu.rms, cpu.rmsd, cpu.omega_sum]
    return out


def interpolation_two_pass(workdir):
    """run()'s serial interpolation shut-off through the CUDA renderer: a synthetic structure-factor
    table whose h range ends inside the image, so the switch happens mid-list and run() re-renders
    the rest; the result must equal the CPU kernel's bit for bit."""
    from nbnumba.kernels import cpu as kcpu
    from nbnumba.render import run

    def make():
        plan = _plan(shlex.split("-cell 100 100 100 90 90 90 -default_F 10 -N 2 -lambda 1 -distance 100 "
                                 "-detpixels 48 -pixel 0.1 -oversample 1"), workdir)
        # h, k, l ranges: the first row's first 15 pixels interpolate, then k leaves the table
        ranges = ((-3, 3), (-1, 5), (-5, 1))
        plan.Fhkl = np.random.default_rng(5).uniform(1.0, 50.0, tuple(hi - lo + 1 for lo, hi in ranges))
        prm = plan.params[0]
        for axis, (lo, hi) in zip("hkl", ranges):
            prm[axis + "_min"], prm[axis + "_max"], prm[axis + "_range"] = lo, hi, hi - lo + 1
        prm["hkls"] = plan.Fhkl.size
        plan.interpolate = True
        return plan

    gpu_plan = make()
    gpu = run(gpu_plan, device="cuda")
    gpu_fast = run(make(), device="cuda", kernel="fast")
    cpu_plan = make()
    cpu = run(cpu_plan)
    cpu_fast = run(make(), kernel="fast")
    order, fresh = _prepare(cpu_plan)
    n = order.shape[0]
    switched = np.zeros(n, np.int8)
    kcpu.render_exact(order, 0, fresh, n, _plan_arrays(cpu_plan), np.zeros(n, np.float32), np.zeros(n), switched)
    a, b = gpu.floatimage, cpu.floatimage
    return {"switched": gpu.interpolation_off_at >= 0, "first": int(np.argmax(switched)), "of": n,
            "ndiff_cpu": int((a.view(np.uint32) != b.view(np.uint32)).sum()),
            "ndiff_fast": int((gpu_fast.floatimage.view(np.uint32) != cpu_fast.floatimage.view(np.uint32)).sum()),
            "fast_switched": gpu_fast.interpolation_off_at == cpu_fast.interpolation_off_at >= 0,
            "nonzero": int(np.count_nonzero(a))}


def device_calls(workdir):
    """Which functions the simulated kernel runs: each device function's Python body is wrapped to
    count its calls, then a tiny plan is rendered through render.run(device="cuda")."""
    from nbnumba.kernels import cuda as kc
    from nbnumba.kernels import cuda_functions as cf
    from nbnumba.render import run
    counts = {}
    def count_calls(space, names):
        for name in names:
            kernel = space[name]
            body = kernel.fn

            def counted(*args, _body=body, _name=name):
                counts[_name] = counts.get(_name, 0) + 1
                return _body(*args)
            kernel.fn = counted
    count_calls(cf.pixel_functions, ("pixel_value", "lattice_factor", "subpixel_position"))
    count_calls(cf.vecmath_functions, ("sincg", "unitize"))
    plan = _plan(shlex.split("-cell 100 100 100 90 90 90 -default_F 10 -N 3 -lambda 1 -distance 100 "
                             "-detpixels 6 -pixel 0.5 -oversample 1"), workdir)
    image = run(plan, device="cuda").floatimage
    exact_counts = dict(counts)
    counts.clear()
    fast = {}
    for precision in ("double", "mixed"):
        count_calls(cf.fast_functions(kc.fast_spec(plan.params, precision)),
                    ("fast_pixel_value", "square_latt2", "square_latt2_f32", "sinpi"))
        if precision == "double":
            fast_image = run(plan, device="cuda", kernel="fast").floatimage
        else:
            plan.p.gpu_precision = "mixed"
            run(plan, device="cuda", kernel="fast")
        fast[precision] = dict(counts)
        counts.clear()
    return {"counts": exact_counts, "fast_counts": fast, "pixels": int(image.size),
            "nonzero": int(np.count_nonzero(image)),
            "fast_equal": bool(np.array_equal(run(plan, kernel="fast").floatimage, fast_image)),
            "kernel_type": type(cf.pixel_value).__name__, "driver_calls_it": kc.pixel_value is cf.pixel_value}


# rendered by the fast GPU kernel (double and mixed) as a few dozen listed pixels each
FAST_CASES = ["base_mosflm", "phi_carryover_threads3", "mosaic", "mosaic_default_domains", "curved_detector", "detector_thickness", "dmin",
              "polar_kahn", "nopolar", "round_xtal", "tophat_spots", "oversample3", "water", "mask", "point_pixel",
              "divergence_round", "oversample_omega_polar"]


def pick_few(order, fresh, want):
    """A few dozen list positions: an even spread, around the brightest pixel and each fresh one."""
    n = order.shape[0]
    picks = set(np.linspace(0, n - 1, min(n, 12)).astype(int).tolist())
    b = int(np.argmax(want[order]))
    picks.update(range(max(0, b - 4), min(n, b + 5)))
    for c in np.flatnonzero(fresh).tolist():
        picks.update(range(max(0, c - 1), min(n, c + 2)))
    return np.array(sorted(picks), np.int64)


def fast_case(case, workdir):
    """The fast GPU kernel on a few listed pixels: in double the CPU fast kernel's values bit for bit,
    in mixed the values of the same source compiled for the CPU (fast_pixel_cpu) bit for bit, first with
    one thread per pixel in blocks of 8, then with pixels shared among threads (a different summation
    order: within 1e-12 of the peak)."""
    import functools

    import fast_pixel_cpu as twin
    from nbnumba.kernels import cpu, tunables
    from nbnumba.kernels import cuda as kc
    plan = _case_plan(case, workdir)
    want_full = _golden_image(case, plan)
    order, fresh = _prepare(plan)
    sel = pick_few(order, fresh, want_full)
    until = -1
    assert not plan.interpolate       # (interpolating plans: interpolation_two_pass)
    idx = order[sel]
    out = {"pixels": int(sel.size), "fresh": int(fresh[sel].sum()), "covered": bool(cpu.covered(plan.params)),
           "threads_per_pixel": kc.threads_per_pixel(int(sel.size), plan.cells[1].reshape(-1, 9).shape[0], 8)
           if cpu.covered(plan.params) else 1}
    cpu_img, cpu_om = _render_subset(cpu.render_fast, plan, order, fresh, sel, until)
    twin_mixed = twin.render(plan, mixed=True)[0]
    tunables.THREADS_PER_BLOCK = 8
    for precision in ("double", "mixed"):
        if precision == "mixed" and not out["covered"]:
            continue
        for label, gpu_threads in (("", 0), ("_shared", 1 << 30)):
            tunables.GPU_THREADS = gpu_threads
            t = time.perf_counter()
            render = functools.partial(kc.render_fast, precision=precision)
            img, om = _render_subset(render, plan, order, fresh, sel, until)
            out["seconds_" + precision + label] = time.perf_counter() - t
            ref = cpu_img[idx] if precision == "double" else twin_mixed[idx]
            out["ndiff_" + precision + label] = int((img[idx].view(np.uint32) != ref.view(np.uint32)).sum())
            peak = float(np.abs(ref).max()) or 1.0
            out["err_" + precision + label] = float(np.abs(img[idx].astype(float) - ref).max() / peak)
            out["golden_err_" + precision + label] = _compare(img[idx], want_full[idx],
                                                             float(np.abs(want_full).max()))["maxdiff_over_peak"]
            out["omega_close_" + precision + label] = bool(np.allclose(om, cpu_om, rtol=1e-12, atol=0))
    tunables.THREADS_PER_BLOCK = 128
    tunables.GPU_THREADS = 1 << 18
    return out


def simulator_main():
    cases = _cases()
    results = {}
    work = Path(tempfile.mkdtemp(prefix="nb_cuda_"))
    for f in (GOLDEN / "inputs").iterdir():
        shutil.copy(f, work / f.name)
    jobs = ([(n, subset_case) for n in SUBSET_CASES] + [(n, full_case) for n in FULL_CASES]
            + [("fast:" + n, fast_case) for n in FAST_CASES])
    for name, fn in jobs:
        try:
            results[name] = fn(cases[name.split(":")[-1]], work)
        except ImportError as e:    # an input reader not written (or importable) yet
            results[name] = {"skip": str(e)}
    results["interpolation_two_pass"] = interpolation_two_pass(work)
    results["full_fast"] = full_fast(work)
    results["device_calls"] = device_calls(work)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results))


# ---------------------------------------------------------------- pytest side

@pytest.fixture(scope="module")
def sim_results():
    if importlib.util.find_spec("numba.cuda") is None:
        pytest.skip("numba.cuda not installed")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    results["_seconds"] = time.perf_counter() - t
    return results


def _check_close(r):
    if "skip" in r:
        pytest.skip(r["skip"])
    # the close level: every pixel within 1e-6 of the peak, correlation >= 0.999999
    assert r["maxdiff_over_peak"] <= 1e-6, r
    assert r["corr"] >= 0.999999, r
    # the simulated device functions do the CPU kernel's IEEE arithmetic with the same libm, and the
    # driver adds nothing: no difference at all
    assert r["ndiff"] == 0, r


@pytest.mark.parametrize("name", SUBSET_CASES)
def test_simulator_subset_matches_golden(sim_results, name):
    r = sim_results[name]
    _check_close(r)
    assert r["ndiff_cpu"] == 0 and r["omega_equal"], r
    assert r["pixels"] >= 100 or r["pixels"] == r["of"], r


def test_simulator_subsets_include_fresh_pixels(sim_results):
    # the carried-cell regime is exercised where a C thread's block starts
    assert sim_results["phi_carryover_threads3"]["fresh"] == 3
    assert sim_results["phi_carryover_threads2_roi"]["fresh"] == 2


@pytest.mark.parametrize("name", FULL_CASES)
def test_simulator_full_run_matches_golden(sim_results, name):
    r = sim_results[name]
    _check_close(r)
    assert r["stats_equal"], r


def test_simulator_interpolation_shutoff_two_pass(sim_results):
    r = sim_results["interpolation_two_pass"]
    assert r["switched"] and 0 < r["first"] < r["of"] - 1 and r["nonzero"] > 0, r
    assert r["ndiff_cpu"] == 0, r
    assert r["ndiff_fast"] == 0 and r["fast_switched"], r


def test_simulator_runs_the_device_functions(sim_results):
    """The simulated kernel calls the cuda.jit(device=True) functions, callees included: one
    pixel_value per pixel, and lattice_factor, subpixel_position, sincg, unitize through it (no
    CPU-compiled code: that could not take the simulator's arrays anyway)."""
    r = sim_results["device_calls"]
    assert r["kernel_type"] == "FakeCUDAKernel" and r["driver_calls_it"], r
    assert r["counts"].get("pixel_value") == r["pixels"] == 36 and r["nonzero"] > 0, r
    for name in ("lattice_factor", "subpixel_position", "sincg", "unitize"):
        assert r["counts"].get(name, 0) >= r["pixels"], r


@pytest.mark.parametrize("name", FAST_CASES)
def test_simulator_fast_kernel(sim_results, name):
    """The fast GPU kernel (blocks of 8 threads): in double, the CPU fast kernel's values bit for bit; in
    mixed, the same source compiled for the CPU (fast_pixel_cpu) bit for bit and within the mixed bound
    of nanoBragg.c; the pixel shared among threads within 1e-12 of the peak."""
    r = sim_results["fast:" + name]
    assert r["pixels"] >= 20 and r["omega_close_double"], r
    assert r["ndiff_double"] == 0 and r["golden_err_double"] <= 1e-6, r
    assert r["err_double_shared"] <= 1e-12 and r["omega_close_double_shared"], r
    if r["covered"]:
        assert r["ndiff_mixed"] == 0 and r["golden_err_mixed"] <= 1e-6, r
        assert r["err_mixed_shared"] <= 1e-6, r


def test_simulator_fast_kernel_shares_pixels(sim_results):
    """Plans with several cells split each pixel among threads (here up to the block of 8)."""
    assert sim_results["fast:mosaic"]["threads_per_pixel"] == 8
    assert sim_results["fast:phi_carryover_threads3"]["fresh"] == 3


def test_simulator_fast_full_run(sim_results):
    r = sim_results["full_fast"]
    assert r["double"]["ndiff"] == 0 and r["double"]["stats"][:4] == r["cpu_stats"][:4], r
    assert abs(r["double"]["stats"][4] - r["cpu_stats"][4]) <= 1e-12 * r["cpu_stats"][4], r
    assert r["mixed"]["maxdiff_over_peak"] <= 1e-6 and r["mixed"]["corr"] >= 0.999999, r
    assert np.allclose(r["mixed"]["stats"], r["cpu_stats"], rtol=1e-5), r


def test_simulator_fast_kernel_runs_its_device_functions(sim_results):
    r = sim_results["device_calls"]
    assert r["fast_equal"], r
    double, mixed = r["fast_counts"]["double"], r["fast_counts"]["mixed"]
    assert double.get("fast_pixel_value", 0) >= r["pixels"] - 1 and double.get("sinpi", 0) > 0, r
    assert "square_latt2_f32" not in double and mixed.get("square_latt2_f32", 0) > 0 and "sinpi" not in mixed, r


def test_device_functions_share_the_cpu_sources():
    """cuda_functions compiles, as device functions, the very code objects the CPU kernels are compiled
    from (jit.plain_functions), and no global a device function reads is a CPU-compiled function."""
    if importlib.util.find_spec("numba.cuda") is None:
        pytest.skip("numba.cuda not installed")
    from numba import config
    from numba.core.registry import CPUDispatcher

    from nbnumba.kernels import cuda as kc
    from nbnumba.kernels import cuda_functions as cf
    from nbnumba.kernels import jit, pixel, vecmath
    assert kc.pixel_value is cf.pixel_value
    assert set(cf.pixel_functions) >= {"pixel_value", "lattice_factor", "nearest_F", "tricubic",
                                       "solid_angle", "layer_capture", "subpixel_position"}
    for module, space in ((pixel, cf.pixel_functions), (vecmath, cf.vecmath_functions)):
        assert set(space) == set(jit.plain_functions[module.__name__])
        for name, device in space.items():
            body = device.fn if config.ENABLE_CUDASIM else device.py_func
            if not config.ENABLE_CUDASIM:
                assert device.targetoptions["device"] is True, name
            assert body.__code__ is jit.plain_functions[module.__name__][name].__code__, name
            cpu_twin = getattr(pixel, name, None) if module is pixel else getattr(jit, name, None)
            assert cpu_twin is not None and cpu_twin.py_func.__code__ is body.__code__, name
            for used in body.__code__.co_names:
                value = body.__globals__.get(used)
                assert not isinstance(value, CPUDispatcher), (name, used)


def test_a_cpu_function_left_in_a_target_namespace_is_refused():
    """jit.in_namespace refuses to build a target's functions while a callee would still be the CPU's
    (here pixel.py without vecmath's device versions bound): nothing can fall back to CPU code."""
    from nbnumba.kernels import jit, pixel, vecmath
    with pytest.raises(TypeError, match=r"nbnumba\.kernels\.pixel: no .* version bound for .*magnitude"):
        jit.in_namespace(pixel, lambda f: f, {})
    plain = jit.in_namespace(vecmath, lambda f: f, {})
    assert set(jit.in_namespace(pixel, lambda f: f, plain)) == set(jit.plain_functions[pixel.__name__])


def _nvvm_or_skip():
    from numba import config
    if config.ENABLE_CUDASIM:
        pytest.skip("simulator on in this process")
    try:
        from numba.cuda.cudadrv import nvvm
        ok = nvvm.is_available()
    except Exception:
        ok = False
    if not ok:
        pytest.skip("libNVVM not found")


def test_multiply_add_is_not_contracted():
    _nvvm_or_skip()
    from numba import cuda, float64

    from nbnumba.kernels import cuda as kc
    from nbnumba.kernels.vecmath import polint4

    def madd(a, b, c):
        return a * b + c

    with kc._no_contraction():
        ptx, _ = cuda.compile_ptx(madd, (float64,) * 3, device=True, cc=(9, 0))
        ptx4, _ = cuda.compile_ptx(polint4, (float64,) * 9, device=True, cc=(9, 0))
    assert "fma" not in ptx and "mul.rn.f64" in ptx and "add.rn.f64" in ptx
    assert "fma" not in ptx4


def test_kernel_compiles_for_sm90(monkeypatch):
    """The real kernel, the device pixel_value and its callees included, types and compiles for a GPU
    (no GPU needed)."""
    _nvvm_or_skip()
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda, types

    from nbnumba.kernels import cuda as kc

    class Device:                  # device functions compiled on first call ask the current device for its cc
        compute_capability = (9, 0)
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: Device())
    from numba import from_dtype

    from nbnumba.kernels.layout import PLAN_ARRAYS
    a = types.Array
    f8, i8, b1 = types.float64, types.int64, types.int8
    plan = tuple(a(from_dtype(dtype), ndim, "C") for _, dtype, ndim in PLAN_ARRAYS)
    sig = (a(i8, 1, "C"), i8, a(b1, 1, "C"), i8, *plan, a(types.float32, 1, "C"), a(f8, 1, "C"), a(b1, 1, "C"))
    with kc._no_contraction():
        ptx, _ = cuda.compile_ptx(kc._render_body, sig, cc=(9, 0))
    assert ".entry" in ptx and "sm_90" in ptx


@pytest.mark.parametrize("precision", ["double", "mixed"])
def test_fast_kernel_compiles_for_sm90(monkeypatch, precision):
    """The fast kernel, specialised for a plan (square crystal, a table, flat detector), compiles for a
    GPU (no GPU needed); in mixed precision the sines are float32 arithmetic, in double there is none."""
    _nvvm_or_skip()
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda, from_dtype, types

    from nbnumba.kernels import cuda as kc
    from nbnumba.kernels.layout import PLAN_ARRAYS, SQUARE

    class Device:
        compute_capability = (9, 0)
    monkeypatch.setattr(dispatcher, "get_current_device", lambda: Device())
    params = np.zeros(1, PLAN_ARRAYS[0][1])
    params[0]["xtal_shape"], params[0]["hkls"], params[0]["oversample"] = SQUARE, 10, 1
    kernel = kc._fast_kernel(kc.fast_spec(params, precision))
    a = types.Array
    f8, i8 = types.float64, types.int64
    plan = tuple(a(from_dtype(dtype), ndim, "C") for _, dtype, ndim in PLAN_ARRAYS)
    f2 = types.float32 if precision == "mixed" else f8
    sig = (a(types.int32, 1, "C"), i8, i8, i8, *plan, a(f8, 2, "C"), a(f2, 1, "C"), a(i8, 1, "C"),
           a(types.float32, 1, "C"), a(f8, 1, "C"))
    ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=(9, 0))
    assert ".entry" in ptx and "sm_90" in ptx
    # float32 arithmetic, whatever rounding modifiers the compiler writes (conversions do not count)
    f32_math = re.search(r"^\s*(add|sub|mul|fma|div)(\.[a-z0-9]+)*\.f32\s", ptx, re.M) is not None
    assert f32_math == (precision == "mixed")


def test_gpu_kernels_are_cached_on_disk_by_sources_and_specialisation(monkeypatch, tmp_path):
    """Both GPU kernels use numba's disk cache; each specialisation is its own cache entry, and a change
    to any source a kernel is compiled from (its device functions' modules too, which numba's own key
    leaves out) gives new names, so no stale cubin is ever loaded."""
    if importlib.util.find_spec("numba.cuda") is None:
        pytest.skip("numba.cuda not installed")
    from numba import config
    if config.ENABLE_CUDASIM:
        pytest.skip("simulator on in this process")
    from nbnumba.kernels import cuda as kc
    from nbnumba.kernels.layout import PLAN_ARRAYS
    params = np.zeros(1, PLAN_ARRAYS[0][1])
    params[0]["oversample"] = 1
    names = set()
    for precision in ("double", "mixed"):
        k = kc._fast_kernel(kc.fast_spec(params, precision))
        assert type(k._cache).__name__ == "CUDACache"
        names.add(k.py_func.__qualname__)
    assert len(names) == 2 and all(kc._DIGEST in n for n in names)
    assert type(kc._render_kernel._cache).__name__ == "CUDACache"
    assert kc._render_kernel.py_func.__qualname__.endswith(kc._DIGEST)
    import builtins
    real_open = builtins.open

    def edited(path, *a, **kw):
        fh = real_open(path, *a, **kw)
        if str(path).endswith("fast_pixel.py"):
            import io
            return io.BytesIO(fh.read() + b"# an edit\n")
        return fh
    monkeypatch.setattr(builtins, "open", edited)
    assert kc._sources_digest() != kc._DIGEST


def test_without_gpu_render_is_a_one_line_error(monkeypatch):
    from numba import config

    from nbnumba.errors import NanoBraggError
    from nbnumba.kernels import cuda as kc
    from nbnumba.kernels import renderer
    if kc.cuda is None:
        assert kc.cuda_usable() is False
    elif not config.ENABLE_CUDASIM:
        assert kc.cuda_usable() == bool(kc.cuda.is_available())
    assert renderer("exact", "cuda").func is kc.render_exact and renderer("fast", "cuda").func is kc.render_fast
    monkeypatch.setattr(kc, "cuda_usable", lambda: False)
    z = np.zeros(1)
    with pytest.raises(NanoBraggError, match=r"^-device cuda: no usable CUDA GPU \(.+\)$") as e:
        kc.render_exact(np.zeros(1, np.int64), 0, np.zeros(1, np.int8), -1, (z,) * 7, np.zeros(1, np.float32), z,
                  np.zeros(1, np.int8))
    assert e.value.exit_code == 9 and "\n" not in str(e.value)



def test_import_without_numba_cuda():
    code = ("import sys; sys.modules['numba.cuda'] = None\n"
            "from nbnumba.kernels import cuda as kc\n"
            "from nbnumba.errors import NanoBraggError\n"
            "assert kc.cuda is None and kc.cuda_usable() is False\n"
            "for render in (kc.render_exact, kc.render_fast):\n"
            "    try:\n"
            "        render(*[None] * 8)\n"
            "    except NanoBraggError as e:\n"
            "        print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["-device cuda: no usable CUDA GPU "
                                        "(numba.cuda is not installed: pip install nbnumba[cuda])"] * 2


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    simulator_main()
