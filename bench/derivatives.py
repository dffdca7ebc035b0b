#!/usr/bin/env python3
"""Derivatives benchmark: what the analytic pass (nbnumba.derivatives, kernels/gradient.py) costs against
one ordinary fast image, against the float64 image alone and against central differences, and what
nbnumba.api.refine costs on a noise image.

    python bench/derivatives.py --json bench/results/NAME.json > bench/results/NAME.txt
    python bench/derivatives.py --quick          # a smaller case, one repeat, no cold compile: a smoke run

Everything runs in this process on this checkout (put first on sys.path), with --threads threads
(default: the usable CPUs), except the compile-time part (child processes) and the noise image for
refine (`python -m nbnumba simulate` in a temporary folder). Timings in the same section are taken
in interleaved rounds (fast, float64, analytic 17, analytic 5, kernel-only 17, ...), after one untimed
call of each; the report gives the best of the rounds (and the median beside it) and every ratio is of
bests. Progress goes to stderr, the report to stdout, every number to --json.

Sections:
  1  one fast-kernel image (float32, the production path): render.run(make_plan(params), kernel="fast")
  2  the float64 image alone through derivatives.render (the gradient kernel with no derivatives)
  3  derivatives(params, names, "analytic") with all 17 analytic parameters and with 5; also the kernel
     alone (derivatives.render with the set-up's input derivatives precomputed) and the set-up
  4  derivatives(..., "central") for the same 17 (two float64 images per parameter plus the base), and
     how far analytic and central agree
  5  inner steps per second (pixels x steps of the plan, not x parameters)
  6  per-step cost on one thread (central 64x64 pixels of the same case): fast, float64, analytic 5/17
  7  refine: noise image simulated at the truth, five parameters from a perturbed start
  8  JIT compile of the derivative kernel: a child with an empty NUMBA_CACHE_DIR (cold), then warm
Goal: the analytic pass with all 17 parameters at most 4x one fast image.
"""
import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np                                   # noqa: E402

import nbnumba.api as api                            # noqa: E402
import nbnumba.derivatives as D                      # noqa: E402
from nbnumba.plan import make_plan                   # noqa: E402
from nbnumba.render import pixel_order, run          # noqa: E402

GOAL_RATIO = 4.0
FIVE = ["distance", "Na", "rotx", "a", "fluence"]
REFINED = ["distance", "Na", "a", "rotx", "fluence"]
TRUTH = {"distance": 100.0, "Na": 5.0, "a": 70.0, "rotx": 0.0, "fluence": 1.0}
CASE = ("-hkl {hkl} -cell {a} 80 90 75 85 95 -misset 10 20 30 {N} -lambda 1 -distance {distance} "
        "-detpixels 256 -pixel 0.1 -mosaic 0.3 -mosaic_dom {mosaic_dom} -phisteps {phisteps} -osc 0.3 "
        "-oversample 2 -nointerpolate -skip dumpfile -seed 1")
TINY = ("-hkl {hkl} -cell 70 80 90 75 85 95 -misset 10 20 30 -N 5 -lambda 1 -distance 100 -detpixels 32 "
        "-pixel 0.8 -mosaic 0.3 -mosaic_dom 2 -phisteps 2 -osc 0.3 -oversample 1 -nointerpolate -skip dumpfile "
        "-seed 1")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def analytic_names():
    return [n for n, v in D.PARAMETERS.items() if v.analytic]


def case_flags(hkl, mosaic_dom, phisteps, a=70.0, N="-N 5", distance=100.0):
    return CASE.format(hkl=hkl, a=a, N=N, distance=distance, mosaic_dom=mosaic_dom, phisteps=phisteps).split()


def find_hkl(given):
    for p in ([Path(given)] if given else []) + [REPO / "golden/inputs/P1.hkl", REPO.parent / "shared/golden/inputs/P1.hkl",
                                                  Path("/work/shared/golden/inputs/P1.hkl")]:
        if p.is_file():
            return str(p.resolve())
    sys.exit("bench/derivatives.py: P1.hkl not found; give --hkl PATH")


def _version(pkg):
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def machine():
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU family", "Model", "Hypervisor vendor"):
                info[key.strip()] = value.strip()
    except OSError:
        pass
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                         text=True).stdout.strip() or None
    return {"cpu_model": "%s (family %s, model %s%s)" % (
                info.get("Model name", "unknown"), info.get("CPU family", "?"), info.get("Model", "?"),
                ", %s guest" % info["Hypervisor vendor"] if "Hypervisor vendor" in info else ""),
            "nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(), "python": platform.python_version(), "numba": _version("numba"),
            "numpy": _version("numpy"), "scipy": _version("scipy"), "nbnumba_git": git}


def cpu_seconds():
    """(CPU seconds every process has used, CPU seconds this process and its waited-for children have used)."""
    import resource
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]          # all but idle and iowait
    own = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
              for f in ("ru_utime", "ru_stime"))
    return busy / os.sysconf("SC_CLK_TCK"), own


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def summary(times):
    return {"best_s": min(times), "median_s": statistics.median(times), "times_s": list(times)}


def count_steps(plan):
    order, _ = pixel_order(plan.p)
    return int(order.shape[0]), int(plan.steps) * max(1, int(plan.p.detector_thicksteps))


def agreement(a, b):
    """max |a - b| / max |b| (0 when both vanish)."""
    scale = float(np.abs(b).max())
    return float(np.abs(a - b).max() / scale) if scale > 0 else float(np.abs(a - b).max())


def compare(a, c):
    """Analytic a against central c: |a - c| / max |c| at the 99th percentile and at most, and the share of
    pixels where it is above 1e-3."""
    scale = float(np.abs(c).max()) or 1.0
    rel = np.abs(a - c) / scale
    return {"p99": float(np.quantile(rel, 0.99)), "max": float(rel.max()), "share_above_1e-3": float(np.mean(rel > 1e-3))}


# ---------------------------------------------------------------- 1-5: in-process timings of the case

def timings(params, threads, repeat, fast_calls, central_repeat, skip):
    names17 = analytic_names()
    t_plan, plan = timed(lambda: make_plan(params, lambda line: None))
    pixels, steps = count_steps(plan)
    base = D.base_plan(params)
    values = {n: D.PARAMETERS[n].get(params, base.p) for n in names17}
    dplan17 = D.setup_jacobian(params, base, names17, values)

    def fast():
        return run(make_plan(params, lambda line: None), threads=threads, kernel="fast")

    def fast_render():
        return run(plan, threads=threads, kernel="fast")

    jobs = {
        "fast": fast,
        "fast_render_only": fast_render,
        "float64_image": lambda: D.render(base, None, threads),
        "analytic17": lambda: D.derivatives(params, names17, "analytic", threads),
        "analytic5": lambda: D.derivatives(params, FIVE, "analytic", threads),
        "analytic17_kernel_only": lambda: D.render(base, dplan17, threads),
    }
    log("warm-up: one untimed call of each (compiles what is not cached yet)")
    results = {}
    for name, fn in jobs.items():
        dt, results[name] = timed(fn)
        log("  %-24s %.3f s" % (name, dt))
    times = {name: [] for name in jobs}
    t_setup = []
    for r in range(repeat):
        log("round %d/%d" % (r + 1, repeat))
        for name, fn in jobs.items():
            calls = fast_calls if name.startswith("fast") else 1
            times[name].append(min(timed(fn)[0] for _ in range(calls)))
            log("  %-24s %.3f s" % (name, times[name][-1]))
        t_setup.append(timed(lambda: (D.base_plan(params), D.setup_jacobian(params, base, names17, values),
                                      [D._check_base_point(params, base, n, values[n]) for n in names17]))[0])
    out = {name: summary(t) for name, t in times.items()}
    out["set_up17"] = summary(t_setup)
    out["make_plan_s"] = t_plan
    out["pixels"] = pixels
    out["steps_per_pixel"] = steps
    out["inner_steps"] = pixels * steps

    # the images agree: the analytic pass's float64 image is the fast kernel's before its float32 store
    fast_img = results["fast"].image.astype(np.float64)
    an = results["analytic17"]
    out["image_agreement"] = {"analytic17_vs_fast_float32": agreement(an.image, fast_img),
                              "float64_image_vs_analytic17": agreement(results["float64_image"][0].reshape(an.image.shape),
                                                                       an.image)}
    if "central" not in skip:
        ct = []
        central = None
        for r in range(central_repeat):
            log("central differences, 17 parameters (%d float64 images), %d/%d" % (2 * len(names17) + 1, r + 1,
                                                                                 central_repeat))
            dt, central = timed(lambda: D.derivatives(params, names17, "central", threads))
            ct.append(dt)
            log("  central17                %.3f s" % dt)
        out["central17"] = summary(ct)
        # central differences straddle the steps of the F^2 table (h0 = ceil(h - 0.5) changes within the
        # step) at a few pixels, where they are far off: so the share of such pixels and a high percentile
        out["analytic_vs_central"] = {n: compare(an.d[n], central.d[n]) for n in names17}
    return out


# ---------------------------------------------------------------- 6: per-step costs on one thread

def per_step(params_roi, fast_calls):
    names17 = analytic_names()
    plan = make_plan(params_roi, lambda line: None)
    pixels, steps = count_steps(plan)
    base = D.base_plan(params_roi)
    dplans = {}
    for names in (FIVE, names17):
        values = {n: D.PARAMETERS[n].get(params_roi, base.p) for n in names}
        dplans[len(names)] = D.setup_jacobian(params_roi, base, names, values)
    jobs = {
        "fast": lambda: run(plan, threads=1, kernel="fast"),
        "float64_image": lambda: D.render(base, None, 1),
        "analytic5_kernel_only": lambda: D.render(base, dplans[5], 1),
        "analytic17_kernel_only": lambda: D.render(base, dplans[17], 1),
    }
    for fn in jobs.values():
        fn()
    times = {name: [] for name in jobs}
    for _ in range(3):
        for name, fn in jobs.items():
            times[name].append(min(timed(fn)[0] for _ in range(fast_calls if name == "fast" else 1)))
    n = pixels * steps
    return {"pixels": pixels, "steps_per_pixel": steps, "inner_steps": n,
            **{name: dict(summary(t), ns_per_step=min(t) / n * 1e9, steps_per_s=n / min(t)) for name, t in times.items()}}


# ---------------------------------------------------------------- 7: refine

def refine_part(hkl, threads, mosaic_dom, phisteps):
    truth_flags = case_flags(hkl, mosaic_dom, phisteps) + ["-fluence", "1e31"]
    start_flags = case_flags(hkl, mosaic_dom, phisteps, a=70.35, N="-Na 6 -Nb 5 -Nc 5", distance=101.0) + [
        "-fluence", "1e31"]
    with tempfile.TemporaryDirectory(prefix="nb-deriv-bench-") as tmp:
        cmd = [sys.executable, "-m", "nbnumba", "simulate", *truth_flags, "-noisefile", "obs.img", "-nopgm"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        t_sim = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError("simulate exited %d: %s" % (done.returncode, done.stderr[-500:]))
        photons = [ln for ln in done.stdout.splitlines() + done.stderr.splitlines() if "photons on noise image" in ln]
        params = api.params(start_flags)
        params.xtal_rotx = math.radians(0.1)
        log("refine: %s from distance 101, Na 6, a 70.35, rotx 0.1 deg" % ", ".join(REFINED))
        t_refine, res = timed(lambda: api.refine(params, os.path.join(tmp, "obs.img"), REFINED, threads=threads))
    return {"truth_flags": shlex.join(truth_flags).replace(hkl, "P1.hkl"),
            "start_changes": "-distance 101 -Na 6 -Nb 5 -Nc 5 (not -N 5) -cell 70.35 ..., params.xtal_rotx = 0.1 deg",
            "simulate_s": t_sim, "noise_line": photons[0].strip() if photons else None,
            "wall_s": t_refine, "iterations": res.iterations, "converged": res.converged,
            "reduced_chi2": res.reduced_chi2, "message": res.message,
            "parameters": {n: {"start": res.start[n], "refined": res.refined[n], "sigma": res.sigma[n],
                               "truth": TRUTH[n], "units": res.units[n],
                               "error_over_sigma": (res.refined[n] - TRUTH[n]) / res.sigma[n]
                               if res.sigma[n] > 0 else math.nan} for n in REFINED}}


# ---------------------------------------------------------------- 8: JIT compile of the derivative kernel

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import nbnumba.api as api, nbnumba.derivatives as D
from nbnumba.kernels import cpu
from nbnumba.render import pixel_order
t1 = time.perf_counter()
params = api.params(sys.argv[1:])
plan = D.base_plan(params)
order, starts = pixel_order(plan.p)
cpu.first_phi_positions(order, starts, plan.params, plan.det, plan.sources)   # the one native entry it needs
t2 = time.perf_counter()
names = [n for n, v in D.PARAMETERS.items() if v.analytic]
D.derivatives(params, names, "analytic", 1)
t3 = time.perf_counter()
D.derivatives(params, names, "analytic", 1)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "plan_and_entry_s": t2 - t1, "first_call_s": t3 - t2, "second_call_s": t4 - t3}))
"""


def compile_part(hkl, warm_repeat, cold):
    flags = TINY.format(hkl=hkl).split()
    out = {"flags": " ".join(flags).replace(hkl, "P1.hkl")}
    with tempfile.TemporaryDirectory(prefix="nb-deriv-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        env.pop("PYTHONDONTWRITEBYTECODE", None)

        def child():
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, *flags], env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if done.returncode != 0:
                raise RuntimeError("child exited %d: %s" % (done.returncode, done.stderr[-800:]))
            r = json.loads(done.stdout.strip().splitlines()[-1])
            r["process_wall_s"] = wall
            r["compile_s"] = r["first_call_s"] - r["second_call_s"]
            return r
        if cold:
            log("compile: cold child (empty NUMBA_CACHE_DIR)")
            out["cold"] = child()
        else:
            child()                 # fills the cache, not reported
        warm = []
        for i in range(warm_repeat):
            log("compile: warm child %d/%d" % (i + 1, warm_repeat))
            warm.append(child())
        out["warm_runs"] = warm
        out["warm"] = {k: statistics.median(r[k] for r in warm) for k in warm[0]}
    return out


# ---------------------------------------------------------------- the report

def report(res):
    m, c, t = res["machine"], res["case"], res.get("timings")
    lines = ["nbnumba derivatives benchmark",
             "machine: %s, %d CPUs (%d usable); %s; python %s, numba %s, numpy %s, scipy %s; git %s" % (
                 m["cpu_model"], m["nproc"], m["usable_cpus"], m["platform"], m["python"], m["numba"], m["numpy"],
                 m["scipy"], m["nbnumba_git"]),
             "threads: %d;  timings: best of %d interleaved rounds (median in brackets); the fast image is the best "
             "of %d calls per round" % (res["settings"]["threads"], res["settings"]["repeat"],
                                        res["settings"]["fast_calls"]),
             "case: %s" % c["flags"],
             "load average (1 min) at the start of each part: %s" % ", ".join(
                 "%s %.2f" % kv for kv in res["load_average"].items()),
             "CPU seconds used by other processes during each part (of its wall seconds x %d CPUs): %s" % (
                 m["usable_cpus"], ", ".join("%s %.1f of %.0f" % (k, v["others"], v["wall"] * m["usable_cpus"])
                                             for k, v in res["others_cpu_s"].items()))]
    if t:
        lines.append("      %d pixels x %d steps per pixel (oversample 2^2 x 1 source x %d phi x %d mosaic) = %s inner steps"
                     % (t["pixels"], t["steps_per_pixel"], c["phisteps"], c["mosaic_dom"], format(t["inner_steps"], ",")))
        f = t["fast"]["best_s"]
        r64 = t["float64_image"]["best_s"]
        n = t["inner_steps"]

        def row(label, key, extra=""):
            s = t[key]
            return "  %-50s %8.3f s  (%7.3f)  %7.1fx fast  %6.2fx float64  %8.1f M steps/s%s" % (
                label, s["best_s"], s["median_s"], s["best_s"] / f, s["best_s"] / r64, n / s["best_s"] / 1e6, extra)
        lines += ["", "in-process, %d threads (analytic 5: %s):" % (res["settings"]["threads"], ", ".join(FIVE)),
                  "  %-50s %8s    %9s  %11s  %14s  %19s" % ("", "best", "(median)", "/ (1)", "/ (2)", "steps/s of the pass"),
                  row("(1) fast image, run(make_plan(params)), float32", "fast"),
                  row("    the same, render.run of a built plan", "fast_render_only"),
                  row("(2) float64 image alone, derivatives.render", "float64_image"),
                  row("(3) analytic, 17 parameters, derivatives()", "analytic17"),
                  row("    of which the kernel, derivatives.render(dplan)", "analytic17_kernel_only"),
                  "  %-50s %8.3f s  (%7.3f)  %7.1fx fast" % ("    of which the set-up (plans, checks, Jacobian)",
                                                            t["set_up17"]["best_s"], t["set_up17"]["median_s"],
                                                            t["set_up17"]["best_s"] / f),
                  row("(3) analytic, 5 parameters", "analytic5")]
        if "central17" in t:
            lines.append(row("(4) central, 17 parameters (35 float64 images)", "central17",
                             "  [%d run%s]" % (len(t["central17"]["times_s"]),
                                               "" if len(t["central17"]["times_s"]) == 1 else "s")))
        ratio = t["analytic17"]["best_s"] / f
        lines += ["",
                  "goal: analytic pass, 17 parameters <= %gx one fast image: %.1fx  %s" % (
                      GOAL_RATIO, ratio, "met" if ratio <= GOAL_RATIO else "MISSED"),
                  "      (kernel alone: %.1fx the fast render; the float64 image alone is already %.1fx)" % (
                      t["analytic17_kernel_only"]["best_s"] / t["fast_render_only"]["best_s"],
                      r64 / t["fast_render_only"]["best_s"]),
                  "analytic 17 / analytic 5: %.2f;  per extra parameter: %.3f s" % (
                      t["analytic17"]["best_s"] / t["analytic5"]["best_s"],
                      (t["analytic17"]["best_s"] - t["analytic5"]["best_s"]) / 12)]
        if "central17" in t:
            lines.append("analytic / central (17 parameters): %.3f  (central is %.1fx the analytic pass)" % (
                t["analytic17"]["best_s"] / t["central17"]["best_s"], t["central17"]["best_s"] / t["analytic17"]["best_s"]))
            avc = t["analytic_vs_central"]
            lines.append("analytic vs central, |difference| / max |central| per parameter: 99th percentile at most "
                         "%.1e; share of pixels above 1e-3 at most %.2f%% (where central straddles a step of the "
                         "F^2 table):" % (max(v["p99"] for v in avc.values()),
                                          100 * max(v["share_above_1e-3"] for v in avc.values())))
            lines.append("  " + ", ".join("%s %.0e/%.2f%%" % (n, v["p99"], 100 * v["share_above_1e-3"])
                                          for n, v in avc.items()))
        ia = t["image_agreement"]
        lines.append("images: analytic float64 vs fast float32 max |diff|/peak %.1e; float64 image alone vs analytic's %.1e" % (
            ia["analytic17_vs_fast_float32"], ia["float64_image_vs_analytic17"]))
    ps = res.get("per_step")
    if ps:
        lines += ["", "per step, 1 thread (central 64x64 pixels of the case: %d x %d = %s steps; best of 3):" % (
            ps["pixels"], ps["steps_per_pixel"], format(ps["inner_steps"], ","))]
        for key, label in (("fast", "fast image (float32, tiled, vectorised)"),
                           ("float64_image", "float64 image alone (gradient kernel, per pixel)"),
                           ("analytic5_kernel_only", "analytic 5, kernel only"),
                           ("analytic17_kernel_only", "analytic 17, kernel only")):
            s = ps[key]
            lines.append("  %-50s %7.2f ns/step  %8.1f M steps/s  %6.1fx fast" % (
                label, s["ns_per_step"], s["steps_per_s"] / 1e6, s["ns_per_step"] / ps["fast"]["ns_per_step"]))
    rf = res.get("refine")
    if rf:
        lines += ["", "refine (%d threads), noise image at the truth: %s -noisefile obs.img -nopgm" % (
            res["settings"]["threads"], rf["truth_flags"]),
            "  (%s; simulate %.2f s)" % (rf["noise_line"], rf["simulate_s"]),
            "  start: %s" % rf["start_changes"],
            "  wall %.2f s, %d model evaluations (%.3f s each), converged %s, reduced chi2 %.3f: %s" % (
                rf["wall_s"], rf["iterations"], rf["wall_s"] / max(1, rf["iterations"]), rf["converged"],
                rf["reduced_chi2"], rf["message"]),
            "  %-9s %10s %14s %12s %10s %12s" % ("parameter", "start", "refined", "sigma", "truth", "(ref-tru)/sig")]
        for n, v in rf["parameters"].items():
            lines.append("  %-9s %10.4f %14.6f %12.2e %10.4f %12.2f  %s" % (
                n, v["start"], v["refined"], v["sigma"], v["truth"], v["error_over_sigma"], v["units"]))
    cp = res.get("compile")
    if cp:
        lines += ["", "JIT compile of the derivative kernel (child process, tiny case: %s)" % cp["flags"],
                  "  first derivatives() call minus the second (the one native entry it needs loaded before):"]
        for key in ("cold", "warm"):
            if key in cp:
                r = cp[key]
                lines.append("  %-5s compile %6.2f s   first call %6.2f s, second %5.3f s, import %5.2f s, "
                             "plan + entry %5.2f s, whole process %6.2f s%s" % (
                                 key, r["compile_s"], r["first_call_s"], r["second_call_s"], r["import_s"],
                                 r["plan_and_entry_s"], r["process_wall_s"],
                                 " (empty NUMBA_CACHE_DIR)" if key == "cold" else
                                 " (median of %d, cache filled)" % len(cp["warm_runs"])))
    if res.get("errors"):
        lines += ["", "errors:"] + ["  %s: %s" % kv for kv in res["errors"].items()]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--fast-calls", type=int, default=3, help="fast-image calls per round, best kept (default 3)")
    ap.add_argument("--central-repeat", type=int, default=1, help="central-difference runs (default 1)")
    ap.add_argument("--mosaic-dom", type=int, default=40, help="mosaic domains of the timed case (default 40)")
    ap.add_argument("--phisteps", type=int, default=16, help="phi steps of the timed case (default 16)")
    ap.add_argument("--refine-mosaic-dom", type=int, default=10, help="the refine case's mosaic domains (default 10)")
    ap.add_argument("--refine-phisteps", type=int, default=5, help="the refine case's phi steps (default 5)")
    ap.add_argument("--warm-repeat", type=int, default=3, help="warm compile children (default 3)")
    ap.add_argument("--skip", default="", help="comma-separated: timings,central,per_step,refine,compile,cold")
    ap.add_argument("--hkl", help="P1.hkl (default: this checkout's golden/inputs/P1.hkl)")
    ap.add_argument("--quick", action="store_true", help="10 mosaic x 5 phi, 1 round, no cold compile")
    a = ap.parse_args()
    skip = set(filter(None, a.skip.split(",")))
    if a.quick:
        a.mosaic_dom, a.phisteps, a.repeat, a.fast_calls, a.warm_repeat = 10, 5, 1, 1, 1
        skip.add("cold")
    hkl = find_hkl(a.hkl)
    flags = case_flags(hkl, a.mosaic_dom, a.phisteps)
    res = {"machine": machine(),
           "settings": {"threads": a.threads, "repeat": a.repeat, "fast_calls": a.fast_calls,
                        "central_repeat": a.central_repeat, "quick": a.quick, "skip": sorted(skip)},
           "case": {"flags": " ".join(flags).replace(hkl, "P1.hkl"), "hkl": hkl, "mosaic_dom": a.mosaic_dom,
                    "phisteps": a.phisteps, "analytic17": analytic_names(), "analytic5": FIVE},
           "goal_ratio": GOAL_RATIO, "errors": {}}
    log("machine: %s" % res["machine"]["cpu_model"])
    parts = [("timings", lambda: timings(api.params(flags), a.threads, a.repeat, a.fast_calls, a.central_repeat, skip)),
             ("per_step", lambda: per_step(api.params(flags + ["-roi", "96", "159", "96", "159"]), a.fast_calls)),
             ("refine", lambda: refine_part(hkl, a.threads, a.refine_mosaic_dom, a.refine_phisteps)),
             ("compile", lambda: compile_part(hkl, a.warm_repeat, "cold" not in skip))]
    res["load_average"] = {}
    res["others_cpu_s"] = {}            # CPU seconds other processes used while each part ran (a busy machine)
    for name, fn in parts:
        if name in skip:
            continue
        res["load_average"][name] = os.getloadavg()[0]
        log("== %s" % name)
        busy0, own0 = cpu_seconds()
        t0 = time.perf_counter()
        try:
            res[name] = fn()
        except Exception as e:          # report it and go on with the rest
            res["errors"][name] = "%s: %s" % (type(e).__name__, e)
            log("%s failed: %s" % (name, res["errors"][name]))
        busy1, own1 = cpu_seconds()
        res["others_cpu_s"][name] = {"others": max(0.0, (busy1 - busy0) - (own1 - own0)),
                                     "wall": time.perf_counter() - t0}
    t = res.get("timings")
    if t:
        res["summary"] = {
            "fast_s": t["fast"]["best_s"], "float64_image_s": t["float64_image"]["best_s"],
            "analytic17_s": t["analytic17"]["best_s"], "analytic5_s": t["analytic5"]["best_s"],
            "central17_s": t.get("central17", {}).get("best_s"),
            "analytic17_over_fast": t["analytic17"]["best_s"] / t["fast"]["best_s"],
            "analytic5_over_fast": t["analytic5"]["best_s"] / t["fast"]["best_s"],
            "analytic17_over_float64": t["analytic17"]["best_s"] / t["float64_image"]["best_s"],
            "analytic17_over_central17": (t["analytic17"]["best_s"] / t["central17"]["best_s"]
                                          if "central17" in t else None),
            "analytic17_steps_per_s": t["inner_steps"] / t["analytic17"]["best_s"],
            "goal_met": t["analytic17"]["best_s"] / t["fast"]["best_s"] <= GOAL_RATIO}
    if "refine" in res:
        res.setdefault("summary", {})["refine_wall_s"] = res["refine"]["wall_s"]
    if "compile" in res:
        res.setdefault("summary", {}).update({"compile_cold_s": res["compile"].get("cold", {}).get("compile_s"),
                                              "compile_warm_s": res["compile"]["warm"]["compile_s"]})
    res["load_average"]["end"] = os.getloadavg()[0]
    text = report(res)
    print(text)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1, default=float) + "\n")
        print("results written to %s" % a.json)
    return 1 if res["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
