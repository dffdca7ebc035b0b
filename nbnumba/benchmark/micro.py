"""In-process micro-benchmarks on one core: after a warm-up call (JIT done), the best of `repeat`
samples, each sample repeating the call until it lasts `min_time` seconds (time per call reported).

Each function returns a dict with a rate (`per_s`), the work counted (`count`), the best time and
every time; the kernel benchmark returns ok=False with the error instead of raising.
"""
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

from ..kernels.jit import sincg
from ..kernels.layout import SQUARE
from ..kernels.pixel import lattice_factor

# Triclinic cell, hkl table, N=20, dispersion, mosaic, phi, 2x2 oversample: 800 steps per pixel.
KERNEL_ARGS = ("-cell 70 80 90 75 85 95 -misset 10 20 30 -hkl {hkl} -N 20 -lambda 1 -distance 100 "
               "-detpixels {n} -pixel {pixel} -oversample 2 -dispersion 0.1 -dispsteps 5 -mosaic 0.2 "
               "-mosaic_dom 10 -phi 0 -osc 0.3 -phisteps 4 -nonoise -nopgm -seed 1")


def _best(fn, repeat, min_time):
    """Best seconds per call of fn over `repeat` samples; a sample loops fn until it lasts min_time."""
    fn()  # warm-up: compiles or loads the numba cache
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    loops = max(1, math.ceil(min_time / once)) if once > 0 else 1
    times = []
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        times.append((time.perf_counter() - t0) / loops)
    return min(times), times


def kernel_plan(pixels=64, hkl=None):
    """The fixed kernel case (pixels x pixels detector spanning ~25 mm) and its inner-step count."""
    from ..cli.argv import parse_argv
    from ..plan import make_plan
    from ..render import pixel_order
    from .harness import synthetic_hkl
    with tempfile.TemporaryDirectory(prefix="nbnumba_bench_") as tmp:
        if hkl is None:
            hkl = Path(tmp) / "P1.hkl"
            synthetic_hkl(hkl)
        args = KERNEL_ARGS.format(hkl=hkl, n=pixels, pixel=25.6 / pixels)
        plan = make_plan(parse_argv(args.split(), now=0, warn=lambda m: None), lambda line: None)
    order, _ = pixel_order(plan.p)
    steps = order.shape[0] * plan.steps * max(1, int(plan.p.detector_thicksteps))
    return plan, steps, args.replace(str(hkl), "P1.hkl")


def kernel_rate(kernel, pixels=64, repeat=3, plan=None, min_time=0.2):
    """Inner steps per second on one thread for kernel 'exact' or 'fast' (whole render.run)."""
    try:
        from ..render import run
        plan, steps, args = plan or kernel_plan(pixels)
        best, times = _best(lambda: run(plan, threads=1, kernel=kernel), repeat, min_time)
    except Exception as exc:  # the kernel may be unavailable or broken: report, do not abort the suite
        return {"ok": False, "error": "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""),
                "per_s": None, "count": None, "best_s": None, "times_s": []}
    return {"ok": True, "error": None, "per_s": steps / best, "count": steps, "best_s": best, "times_s": times,
            "case": args}


def gpu_rate(kernel, precision, pixels=1024, repeat=3, plan=None, min_time=0.2):
    """Inner steps per second on the GPU (whole render.run, the plan's arrays already on the device after
    the warm-up) for kernel 'exact' or 'fast' in `precision`, on the kernel case's full pixels x pixels
    frame. ok=False with the error where no GPU is usable."""
    try:
        from ..kernels.cuda import cuda_usable
        from ..render import run
        if not cuda_usable():
            raise RuntimeError("no usable CUDA GPU")
        plan, steps, args = plan or kernel_plan(pixels)
        plan.p.gpu_precision = precision
        best, times = _best(lambda: run(plan, kernel=kernel, device="cuda"), repeat, min_time)
    except Exception as exc:  # noqa: BLE001 - reported, the suite goes on
        return {"ok": False, "error": "%s: %s" % (type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""),
                "per_s": None, "count": None, "best_s": None, "times_s": []}
    return {"ok": True, "error": None, "per_s": steps / best, "count": steps, "best_s": best, "times_s": times,
            "case": args + " -device cuda -kernel %s -gpu_precision %s" % (kernel, precision)}


@njit(cache=True)
def _sincg_loop(hs, n):
    total = 0.0
    for i in range(hs.shape[0]):
        total += sincg(math.pi * hs[i], n)
    return total


@njit(cache=True)
def _lattice_loop(hs, ks, ls, n, recip):
    total = 0.0
    for i in range(hs.shape[0]):
        h, k, l = hs[i], ks[i], ls[i]
        total += lattice_factor(SQUARE, h, k, l, np.int64(math.ceil(h - 0.5)), np.int64(math.ceil(k - 0.5)),
                                np.int64(math.ceil(l - 0.5)), n, n, n, 1.0, recip)
    return total


def _h_values(count, seed):
    # fractional Miller indices as a detector sees them: spread over a few orders, never exact integers
    return np.random.default_rng(seed).uniform(-10.0, 10.0, count)


def sincg_rate(count=1_000_000, repeat=3, min_time=0.2):
    """sincg(pi h, N=20) evaluations per second (one thread)."""
    hs = _h_values(count, 1)
    best, times = _best(lambda: _sincg_loop(hs, 20.0), repeat, min_time)
    return {"ok": True, "error": None, "per_s": count / best, "count": count, "best_s": best, "times_s": times}


def lattice_rate(count=1_000_000, repeat=3, min_time=0.2):
    """Square-crystal lattice-factor evaluations (three sincg each, N=20) per second (one thread)."""
    hs, ks, ls = _h_values(count, 2), _h_values(count, 3), _h_values(count, 4)
    recip = np.eye(3).reshape(-1) * 0.01
    best, times = _best(lambda: _lattice_loop(hs, ks, ls, 20.0, recip), repeat, min_time)
    return {"ok": True, "error": None, "per_s": count / best, "count": count, "best_s": best, "times_s": times}


def noise_means(side=1024):
    """A realistic float image: mostly background of a few photons, 1% Bragg spots of 10^2..10^4."""
    rng = np.random.default_rng(5)
    img = rng.gamma(2.0, 2.5, side * side)
    spots = rng.random(side * side) < 0.01
    img[spots] = 10.0 ** rng.uniform(2.0, 4.0, int(spots.sum()))
    return img.astype(np.float32)


def noise_rate(side=1024, repeat=3, min_time=0.2):
    """Poisson noise image pixels per second (the serial noise pass of nanoBragg)."""
    from ..random_numbers import NanoRNG, make_seed, noise_image
    img = noise_means(side)

    def once():
        noise_image(NanoRNG(), img, side, side, 0, side - 1, 0, side - 1, 40.0, make_seed(-7))
    best, times = _best(once, repeat, min_time)
    return {"ok": True, "error": None, "per_s": side * side / best, "count": side * side, "best_s": best,
            "times_s": times}
