"""How long the first run on a machine will compile kernels, said before it starts (numba builds each
native entry once; see kernels/native.py). Measured once and scaled by this machine's speed at the
kind of work compiling is (pure Python)."""
import time

# seconds to build each entry in a fresh process on a 2-core AMD EPYC VM (Python 3.11, numba 0.68)
# where _calibrate() took REFERENCE_CALIBRATE_S, with importing numba counted apart (IMPORT_S)
REFERENCE_CALIBRATE_S = 0.023
IMPORT_S = 0.8
BUILD_S = {"render_fast": 8.6, "render_exact": 2.1, "first_phi_positions": 0.4, "hkl_scan": 0.6, "noise": 0.3,
           "rng_call": 0.5, "int_image": 0.2, "pgm_image": 0.17, "statistics": 0.14, "rmsd_pass": 0.07,
           "gammln": 0.05}


def _calibrate():
    """Seconds for a fixed piece of dictionary-and-string work, like the Python that numba's compiler
    runs; the best of three."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        acc = {}
        for i in range(200000):
            acc[i % 1000] = acc.get(i % 1000, 0) + len(str(i))
        best = min(best, time.perf_counter() - t0)
    return best


def entries_for(kernel, hkl, pgm, noise):
    """The native entries a CPU simulation with these settings builds."""
    names = ["render_fast" if kernel == "fast" else "render_exact", "first_phi_positions", "statistics",
             "rmsd_pass", "int_image", "rng_call"]
    if hkl:
        names.append("hkl_scan")
    if pgm:
        names.append("pgm_image")
    if noise:
        names.append("noise")
    return names


def estimate_s(names, calibrate_s):
    """Seconds to build `names` here, given this machine's _calibrate() time."""
    return (IMPORT_S + sum(BUILD_S[n] for n in names)) * calibrate_s / REFERENCE_CALIBRATE_S


def notice(names):
    """The line to print before building those of `names` that are not cached yet, or None."""
    from .native import is_cached
    missing = [n for n in names if is_cached(n) is False]
    if not missing:
        return None
    seconds = estimate_s(missing, _calibrate())
    what = "the kernels" if len(missing) > 1 else "a kernel"
    return ("nbnumba: compiling %s for this machine, once: about %.0f s here; later runs load them from "
            "the cache" % (what, max(1.0, seconds)))
