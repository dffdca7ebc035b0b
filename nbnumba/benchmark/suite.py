"""The whole `nbnumba bench` run: micro-benchmarks, start-up times and (optionally) the case table."""
import os
import shutil
import sys
import tempfile

from . import harness

from ..config import KERNELS
MICRO = ("kernel_exact", "kernel_fast", "sincg", "lattice_factor", "noise")
# on the GPU, when one is usable (or named with --only): kernel and precision, full 1024x1024 frame
GPU_MICRO = ("gpu_fast_double", "gpu_fast_mixed", "gpu_exact_double")
SECTIONS = MICRO + GPU_MICRO + ("startup", "cases")
# work sizes: (kernel detector side, sincg/lattice evaluations, noise image side)
SIZES = {False: (64, 1_000_000, 1024), True: (16, 100_000, 256)}


class BenchError(ValueError):
    """A bad option (unknown --only name or kernel)."""


def usable_cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _selection(only, kernels, cases, run_cases):
    """(micro names, startup?, cases to run) from --only, --kernels and whether the table was asked for."""
    names = [c["name"] for c in cases]
    bad_k = [k for k in kernels if k not in KERNELS]
    if bad_k or not kernels:
        raise BenchError("unknown kernel(s) %s; choose from %s" % (", ".join(bad_k) or "(none)", ", ".join(KERNELS)))
    if only:
        unknown = [n for n in only if n not in SECTIONS and n not in names]
        if unknown:
            raise BenchError("unknown --only name(s): %s; choose from %s" % (
                ", ".join(unknown), ", ".join(SECTIONS + tuple(names))))
        picked = set(only)
    else:
        picked = set(MICRO + ("startup",)) | ({"cases"} if run_cases else set()) | (set(GPU_MICRO) if _gpu() else set())
    micro = [m for m in MICRO + GPU_MICRO if m in picked and (not m.startswith("kernel_") or m[7:] in kernels)]
    table = [c for c in cases if "cases" in picked or c["name"] in picked]
    return micro, "startup" in picked, table


def _gpu():
    """A real GPU is usable (not the simulator, whose rates would mean nothing)."""
    from numba import config
    if config.ENABLE_CUDASIM:
        return False
    from ..kernels.cuda import cuda_usable
    return cuda_usable()


def _micro(name, quick, repeat):
    from . import micro
    side, count, noise_side = SIZES[quick]
    t = 0.0 if quick else 0.2
    if name.startswith("gpu_"):
        _, kernel, precision = name.split("_")
        return micro.gpu_rate(kernel, precision, 256 if quick else 1024, repeat, min_time=t)
    if name.startswith("kernel_"):
        return micro.kernel_rate(name[7:], side, repeat, min_time=t)
    if name == "sincg":
        return micro.sincg_rate(count, repeat, t)
    if name == "lattice_factor":
        return micro.lattice_rate(count, repeat, t)
    return micro.noise_rate(noise_side, repeat, t)


def run_bench(threads=None, repeat=None, only=None, reference=None, quick=False, inputs=None, cases_path=None,
              kernels=KERNELS, extra=(), nb_cmd=None, timeout=900.0, run_cases=None, log=None):
    """Runs the selected benchmarks and returns the results dict (what --json writes).

    The case table runs when run_cases is true, by default when a reference binary is given or
    --only names cases. log(line) gets progress lines (default: stderr)."""
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    threads = threads or usable_cpus()
    repeat = repeat or (1 if quick else 3)
    if reference:
        # absolute: every run happens in its own scratch directory; a bare name is looked up on PATH
        found = reference if os.sep in reference else shutil.which(reference)
        if not (found and os.path.isfile(found) and os.access(found, os.X_OK)):
            raise BenchError("--reference %s is not an executable file" % reference)
        reference = os.path.abspath(found)
    cases = harness.load_cases(cases_path)
    if run_cases is None:
        run_cases = bool(reference)
    micro_names, startup, table = _selection(list(only or []), list(kernels), cases, run_cases)
    out = {"machine": harness.machine_info(reference),
           "settings": {"threads": threads, "repeat": repeat, "quick": quick, "kernels": list(kernels),
                        "only": list(only or []), "reference": reference, "inputs": inputs,
                        "cases": cases_path or "(package)", "extra": list(extra), "timeout_s": timeout},
           "micro": {}, "startup": {}, "cases": []}
    for name in micro_names:
        log("micro-benchmark %s ..." % name)
        out["micro"][name] = _micro(name, quick, repeat)
    scratch = tempfile.mkdtemp(prefix="nbnumba_bench_")
    try:
        runner = harness.Runner(scratch, threads, reference, nb_cmd, extra, timeout, inputs)
        if startup:
            for k in kernels:
                if quick:  # no cold start (a full compile); warm = this environment's own numba cache
                    log("start-up %s (warm only, --quick) ..." % k)
                    runner.warm_up(k)
                    warm = harness.measure(runner.nb_cmd(harness.TINY, k), scratch, harness.nbnumba_env(threads),
                                           1, timeout)
                    out["startup"][k] = {"cold_start_s": None, "warm_start_s": warm["median_s"],
                                         "error": warm["error"], "cold": None, "warm": warm}
                else:
                    log("start-up %s: cold (empty numba cache) then warm ..." % k)
                    out["startup"][k] = runner.startup(k, repeat)
        if table:
            for k in kernels:  # case runs use the default numba cache: make sure it is filled
                runner.warm_up(k)
            for case in table:
                log("case %s ..." % case["name"])
                out["cases"].append(runner.case(case, kernels, repeat))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    out["summary"] = summary(out)
    return out


def summary(out):
    """The headline numbers, flat."""
    m = out["micro"]
    rate = lambda name: m[name]["per_s"] if name in m else None
    s = {"steps_per_s_per_core": {k: rate("kernel_" + k) for k in KERNELS if "kernel_" + k in m},
         "gpu_steps_per_s": {n[4:]: rate(n) for n in GPU_MICRO if n in m},
         "sincg_per_s": rate("sincg"), "lattice_factor_per_s": rate("lattice_factor"),
         "noise_pixels_per_s": rate("noise"),
         "cold_start_s": {k: v["cold_start_s"] for k, v in out["startup"].items()},
         "warm_start_s": {k: v["warm_start_s"] for k, v in out["startup"].items()},
         "ratio_vs_reference": {r["name"]: r["ratio"] for r in out["cases"]} if out["settings"]["reference"] else {}}
    return s


def failures(out):
    """One line per measurement that failed."""
    lines = ["%s: %s" % (name, r["error"]) for name, r in out["micro"].items() if not r["ok"]]
    lines += ["start-up %s: %s" % (k, v["error"]) for k, v in out["startup"].items() if v["error"]]
    for row in out["cases"]:
        lines += ["%s %s: %s" % (row["name"], side, row[side]["error"]) for side in row
                  if (side == "c" or side.startswith("nbnumba_")) and row[side] and not row[side]["ok"]]
    return lines
