"""Every check that needs a real NVIDIA GPU, in one run (the lent device machine; see bench/README.md).

    PYTHONPATH=. python3 bench/gpu_check.py OUT_DIR [--reference /tmp/nanoBragg_omp] [--quick] [--only PART,...]

Parts, in this order (each timed; a failure is reported and the rest still runs):
  golden      every golden case on the GPU through the Python API, exact, fast double and fast mixed, against
              nanoBragg.c's float image (bit-identical pixels, max |diff|/peak, correlation)
  throughput  in-process inner steps/s of full-frame H1 and H2 and the kernel micro-case (1024x1024)
  process     whole `nbnumba simulate` processes on full-frame H1: cold and warm kernel cache, and against
              nanoBragg.c on every core (--reference)
  cases       the bench case table (nbnumba/benchmark/cases.toml), GPU fast double, against C (--reference)
  parity      shared/tools/parity.py end to end (all files, headers, stdout) for each GPU variant
Results: readable lines on stdout and in OUT_DIR/gpu_check.txt, every number in OUT_DIR/gpu_check.json (both
rewritten after each part, so a run cut short keeps what it measured). Exit 1 when a check failed or a part
broke; a missed speed goal is reported, not an exit status.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # this checkout's nbnumba, not an installed one
GOLDEN = ROOT / "golden"
PARTS = ("golden", "throughput", "process", "cases", "parity")
# name, kernel, gpu_precision, largest |diff|/peak, smallest correlation (mixed: the documented CPU-build
# figure is <= 7.8e-7 of the peak; 1e-5 leaves room for the GPU's libdevice)
VARIANTS = (("exact", "exact", "double", 1e-6, 0.999999), ("fast", "fast", "double", 1e-6, 0.999999),
            ("mixed", "fast", "mixed", 1e-5, 0.99999))
# --quick: one case per fast-kernel specialisation, plus the exact-only, two-pass and per-thread paths
QUICK_CASES = ("base_mosflm", "matrix_hkl", "curved_detector", "point_pixel", "detector_thickness", "dmin",
               "round_xtal", "oversample3", "interpolate_shutoff", "phi_carryover_threads3",
               "oversample_omega_polar", "named_outputs")
OURS = {"-device", "-kernel", "-gpu_precision", "-threads", "-skip", "-omp_threads"}   # not nanoBragg.c's
NB = [sys.executable, "-m", "nbnumba", "simulate"]


class Report:
    """Lines for the reader and a JSON tree, both written to OUT_DIR whenever a part ends."""

    def __init__(self, out_dir):
        self.out = Path(out_dir).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.lines, self.data = [], {"header": {}, "parts": {}, "goals": {}}

    def say(self, line=""):
        print(line, flush=True)
        self.lines.append(line)

    def goal(self, name, value, target, met):
        self.data["goals"][name] = {"value": value, "goal": target, "met": bool(met)}
        self.say("   goal %-36s %s (goal %s): %s" % (name, fmt(value), target, "met" if met else "MISSED"))

    def save(self):
        (self.out / "gpu_check.json").write_text(json.dumps(self.data, indent=1, default=str))
        (self.out / "gpu_check.txt").write_text("\n".join(self.lines) + "\n")


def fmt(v):
    return "-" if v is None else ("%.3g" % v if isinstance(v, float) else str(v))


def c_argv(argv):
    """nanoBragg.c's argv: nbnumba's own options (and their values) left out."""
    out, skip = [], False
    for tok in argv:
        if not skip and tok not in OURS:
            out.append(tok)
        skip = not skip and tok in OURS
    return out


def frame_args(args, side):
    """A case's argv on the whole detector (its -roi removed), or on its central side x side pixels."""
    a = shlex.split(args)
    if "-roi" in a:
        del a[a.index("-roi"):a.index("-roi") + 5]
    n = int(a[a.index("-detpixels") + 1])
    if side < n:
        lo = (n - side) // 2
        a += ["-roi", str(lo), str(lo + side - 1), str(lo), str(lo + side - 1)]
    return a


def compare(got, want, tol, min_corr):
    """Bit-identical pixels, largest |diff| / C's peak, correlation, and whether that passes."""
    got = np.asarray(got, np.float32).reshape(-1)
    if got.size != want.size:
        return {"ok": False, "problem": "size %d != %d" % (got.size, want.size)}
    same = int((got.view(np.uint32) == want.view(np.uint32)).sum())
    a, b = want.astype(np.float64), got.astype(np.float64)
    nan_mismatch = int((np.isnan(a) != np.isnan(b)).sum())
    fin = np.isfinite(a) & np.isfinite(b)
    a, b = a[fin], b[fin]
    peak = float(np.abs(a).max(initial=0.0))
    rel = float(np.abs(a - b).max(initial=0.0)) / (peak or 1.0)
    if a.size > 1 and a.std() > 0 and b.std() > 0:
        corr = float(np.corrcoef(a, b)[0, 1])
    else:                                   # a constant image: correlation undefined, equality decides
        corr = 1.0 if same == want.size else float("nan")
    ok = nan_mismatch == 0 and rel <= tol and (corr >= min_corr or same == want.size)
    return {"ok": bool(ok), "identical": same, "pixels": int(want.size), "max_rel_to_peak": rel, "corr": corr,
            "nan_mismatch": nan_mismatch}


def cmp_text(r):
    if "identical" not in r:
        return "FAIL " + r.get("problem", "")
    text = "%d/%d %.2g" % (r["identical"], r["pixels"], r["max_rel_to_peak"])
    return text if r["ok"] else text + " FAIL(corr %.9f, %d NaN differ)" % (r["corr"], r["nan_mismatch"])


def all_golden():
    return tomllib.loads((GOLDEN / "cases.toml").read_text())["case"]


def floatfile(args):
    a = shlex.split(args)
    return a[a.index("-floatfile") + 1] if "-floatfile" in a else "floatimage.bin"


def golden_cases(names):
    """Golden cases with a float image from one plain run (no `before`, exit 0), optionally only `names`."""
    gdir = GOLDEN / "cases"
    return [c for c in all_golden() if (not names or c["name"] in names) and not c.get("before")
            and (gdir / c["name"] / "exit_code").read_text().strip() == "0"
            and (gdir / c["name"] / floatfile(c["args"])).exists()]


def part_golden(o, rep, res):
    import nbnumba.api as nb
    from nbnumba.errors import NanoBraggError
    rows = res["cases"] = {}
    for case in golden_cases(o.case_names):
        name = case["name"]
        if o.late():
            rows[name] = {"skipped": "deadline"}
            continue
        args = shlex.split(case["args"])
        if int(case.get("threads", 1)) > 1:      # C's image under T OpenMP threads (phi carry-over per thread)
            args += ["-omp_threads", str(case["threads"])]
        want = np.fromfile(GOLDEN / "cases" / name / floatfile(case["args"]), np.float32)
        row, cells = rows.setdefault(name, {}), []
        for label, kernel, precision, tol, min_corr in VARIANTS:
            t0 = time.perf_counter()
            try:
                p = nb.params(args)
                p.gpu_precision = precision
                r = compare(nb.run_simulation(p, kernel=kernel, device=o.device).image, want, tol, min_corr)
                cells.append("%s %s" % (label, cmp_text(r)))
            except NanoBraggError as e:
                # mixed exists only where the fast algorithm covers the plan: n/a, not a failure
                na = "needs the exact kernel" in str(e)
                r = {"ok": None if na else False, "error": str(e)}
                cells.append("%s %s" % (label, "n/a (exact-only plan)" if na else "ERROR " + str(e)))
            except Exception as e:           # noqa: BLE001 - reported per case and variant
                r = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
                cells.append("%s ERROR %s" % (label, r["error"]))
            r["seconds"] = time.perf_counter() - t0
            row[label] = r
        rep.say("  %-36s %s" % (name, "   ".join(cells)))
    failed = 0
    for label, *_ in VARIANTS:
        rs = [r[label] for r in rows.values() if label in r]
        done = [r for r in rs if "identical" in r]
        s = res["summary_" + label] = {
            "compared": len(rs), "passed": sum(r["ok"] is True for r in rs),
            "failed": sum(r["ok"] is False for r in rs), "not_applicable": sum(r["ok"] is None for r in rs),
            "bit_identical": sum(r["identical"] == r["pixels"] for r in done),
            "worst_rel_to_peak": max((r["max_rel_to_peak"] for r in done), default=None),
            "worst_corr": min((r["corr"] for r in done if r["corr"] == r["corr"]), default=None)}
        failed += s["failed"]
        rep.say("  %-5s passed %d/%d (n/a %d), bit-identical %d, worst |diff|/peak %s, worst corr %s"
                % (label, s["passed"], s["compared"], s["not_applicable"], s["bit_identical"],
                   fmt(s["worst_rel_to_peak"]), fmt(s["worst_corr"])))
    skipped = sum("skipped" in r for r in rows.values())
    if skipped:
        rep.say("  %d case(s) skipped: past the deadline" % skipped)
    return failed == 0 and not skipped


def best_of(fn, n):
    fn()                                  # warm-up: compiles or loads the kernel, puts the plan on the device
    times = []
    for _ in range(max(1, n)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), times


def part_throughput(o, rep, res):
    import nbnumba.api as nb
    from nbnumba.benchmark import harness, micro
    from nbnumba.render import pixel_order, run
    if not Path("P1.hkl").exists():       # H2's table: the golden inputs' copy, else a synthetic one
        harness.synthetic_hkl("P1.hkl")
    bench = {c["name"]: c["args"] for c in harness.load_cases()}
    plans = {}
    for label, key in (("H1", "H1_heavy_roi128"), ("H2", "H2_hkl_triclinic_roi512")):
        plan = nb.make_plan(nb.params(frame_args(bench[key], o.frame)), lambda line: None)
        # steps counted as micro.kernel_plan counts them
        plans[label] = (plan, pixel_order(plan.p)[0].shape[0] * plan.steps * max(1, int(plan.p.detector_thicksteps)))
    plans["micro"] = micro.kernel_plan(o.frame)[:2]
    ok = True
    for label, (plan, steps) in plans.items():
        for _, kernel, precision, *_ in (VARIANTS[1], VARIANTS[2], VARIANTS[0]):
            key = "%s %s %s" % (label, kernel, precision)
            if o.late():
                res[key], ok = {"skipped": "deadline"}, False
                rep.say("  %-20s skipped: past the deadline" % key)
                continue
            try:
                plan.p.gpu_precision = precision
                best, times = best_of(lambda: run(plan, kernel=kernel, device=o.device), o.repeat)
                res[key] = {"steps": steps, "best_s": best, "times_s": times, "steps_per_s": steps / best}
                rep.say("  %-20s %7.1f ms  %.3g inner steps/s  (%.3g steps)" % (key, best * 1e3, steps / best, steps))
            except Exception as e:       # noqa: BLE001
                res[key], ok = {"error": "%s: %s" % (type(e).__name__, e)}, False
                rep.say("  %-20s ERROR %s" % (key, res[key]["error"]))
    for key, target in (("H1 fast double", 1e11), ("H1 fast mixed", 2e11)):
        rate = res.get(key, {}).get("steps_per_s")
        rep.goal(key + " steps/s", rate, ">= %.0e" % target, rate is not None and rate >= target)
    return ok


def cache_files(folder):
    return {str(p): p.stat().st_mtime_ns for p in Path(folder).rglob("*") if p.is_file()}


def part_process(o, rep, res):
    from nbnumba.benchmark import harness
    args = frame_args(next(c["args"] for c in harness.load_cases() if c["name"] == "H1_heavy_roi128"), o.frame)
    cache = Path(tempfile.mkdtemp(prefix="cache_", dir=o.work))   # empty: the first run compiles everything
    env = harness.nbnumba_env(o.cores, cache)
    res["args"] = " ".join(args)
    ok, images = True, {}
    for precision in ("double", "mixed"):
        cmd = NB + args + ["-device", o.device, "-kernel", "fast", "-gpu_precision", precision]
        run_dir = Path(tempfile.mkdtemp(prefix="run_", dir=o.work))
        first = harness.run_once(cmd, run_dir, env, o.remaining(o.timeout))
        before = cache_files(cache)
        warm = [harness.run_once(cmd, run_dir, env, o.remaining(o.timeout)) for _ in range(max(2, o.repeat))]
        recompiled = cache_files(cache) != before           # a warm run must only read the disk cache
        bad = next((r["error"] for r in [first] + warm if r["error"]), None)
        r = res["fast " + precision] = {"first_s": first["wall_s"], "warm_s": [w["wall_s"] for w in warm],
                                        "warm_best_s": min(w["wall_s"] for w in warm), "error": bad,
                                        "recompiled_when_warm": recompiled, "cmd": cmd}
        rep.say("  fast %-6s first run %.2f s (%s), warm %s s, warm runs compiled: %s%s"
                % (precision, first["wall_s"], "empty cache" if precision == "double" else "CPU code cached",
                   " ".join("%.3f" % w["wall_s"] for w in warm), "YES" if recompiled else "no",
                   "  ERROR " + bad if bad else ""))
        ok = ok and not bad and not recompiled
        images[precision] = run_dir / "floatimage.bin"
    warm = res["fast double"]["warm_best_s"]
    rep.goal("warm %dx%d H1 process, fast double (s)" % (o.frame, o.frame), warm, "< 0.5", warm < 0.5)
    rep.goal("warm process reads the disk cache only", not res["fast double"]["recompiled_when_warm"], "True",
             not res["fast double"]["recompiled_when_warm"])
    if not o.reference or o.quick:
        rep.say("  nanoBragg.c: %s" % ("skipped (--quick)" if o.reference else "no --reference"))
        return ok
    c_dir = Path(tempfile.mkdtemp(prefix="c_", dir=o.work))
    c = harness.run_once([o.reference] + c_argv(args), c_dir, dict(os.environ, OMP_NUM_THREADS=str(o.cores)),
                         o.remaining(o.timeout))
    res["C"] = {"wall_s": c["wall_s"], "error": c["error"], "threads": o.cores}
    if c["error"]:
        rep.say("  nanoBragg.c ERROR %s" % c["error"])
        return False
    want = np.fromfile(c_dir / "floatimage.bin", np.float32)
    rep.say("  nanoBragg.c (OMP_NUM_THREADS=%d) %.2f s" % (o.cores, c["wall_s"]))
    for precision, tol, min_corr in (("double", 1e-6, 0.999999), ("mixed", 1e-5, 0.99999)):
        r = res["fast " + precision]
        r["C_over_gpu"] = c["wall_s"] / r["warm_best_s"]
        if images[precision].exists():      # a full heavy frame: more than any golden case checks
            r["vs_C"] = compare(np.fromfile(images[precision], np.float32), want, tol, min_corr)
            ok = ok and r["vs_C"]["ok"]
        rep.say("  fast %-6s C/GPU %.0f; float image vs C (identical/pixels max|diff|/peak): %s"
                % (precision, r["C_over_gpu"], cmp_text(r["vs_C"]) if "vs_C" in r else "missing"))
    ratio = res["fast double"]["C_over_gpu"]
    rep.goal("C/GPU, warm fast double process", ratio, ">= 300", ratio >= 300)
    return ok


def part_cases(o, rep, res):
    from nbnumba.benchmark import harness
    ok, env, c_env = True, harness.nbnumba_env(o.cores), dict(os.environ, OMP_NUM_THREADS=str(o.cores))
    for case in harness.load_cases():
        name = case["name"]
        if o.late():
            res[name], ok = {"skipped": "deadline"}, False
            rep.say("  %-24s skipped: past the deadline" % name)
            continue
        dirs = [Path(tempfile.mkdtemp(prefix="case_", dir=o.work)) for _ in range(2)]
        found, _, origin = harness.resolve_inputs(case.get("inputs", []), None, o.work)
        for d in dirs:
            for fname, path in found.items():
                shutil.copy(path, d / fname)
        args = shlex.split(case["args"])
        gpu = NB + args + ["-device", o.device, "-kernel", "fast"]
        harness.run_once(gpu, dirs[0], env, o.remaining(o.timeout))        # untimed: loads/compiles kernels
        sides = [("gpu", gpu, dirs[0], env)] + ([("C", [o.reference] + args, dirs[1], c_env)] if o.reference else [])
        m = harness.measure_interleaved(sides, o.repeat, o.remaining(o.timeout))   # C, GPU in turn: fair
        steps, g, c = harness.count_steps(case["args"]), m["gpu"], m.get("C")
        r = res[name] = {"steps": steps, "gpu": g, "C": c, "inputs": origin,
                         "C_over_gpu": c["median_s"] / g["median_s"] if c and c["ok"] and g["ok"] else None}
        line = "  %-24s GPU %s" % (name, "%.3g s" % g["median_s"] if g["ok"] else "FAILED " + str(g["error"]))
        if steps and g["ok"]:
            line += " (%.3g steps/s)" % (steps / g["median_s"])
        if c:
            line += "   C %s   C/GPU %s" % ("%.3g s" % c["median_s"] if c["ok"] else "FAILED " + str(c["error"]),
                                          fmt(r["C_over_gpu"]))
        rep.say(line)
        ok = ok and g["ok"] and (c is None or c["ok"])
    return ok


def part_parity(o, rep, res):
    where = [Path(o.parity)] if o.parity else [ROOT.parent / "shared/tools/parity.py", ROOT / "shared/tools/parity.py",
                                                 Path("/work/shared/tools/parity.py"), ROOT / "bench/out/parity.py"]
    tool = next((p for p in where if p.is_file()), None)
    if tool is None:
        rep.say("  parity tool absent (looked at %s): skipped" % ", ".join(map(str, where)))
        res["skipped"] = "tool absent"
        return True
    res["tool"], res["commands"] = str(tool), []
    names = [c["name"] for c in all_golden() if not o.case_names or c["name"] in o.case_names]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    jobs = []   # each variant in shards run side by side: one process per case is slow alone
    for label, kernel, precision, tol, min_corr in VARIANTS:
        cmd = shlex.join(NB + ["-device", o.device, "-kernel", kernel, "-gpu_precision", precision])
        res["commands"].append("--cmd %r --tol %g --min-corr %g" % (cmd, tol, min_corr))
        for k in range(min(o.jobs, len(names))):
            out = Path(o.work) / ("parity_%s_%d" % (label, k))
            jobs.append((label, out, [sys.executable, str(tool), str(GOLDEN), "--cmd", cmd, "--only",
                                      ",".join(names[k::o.jobs]), "--level", "close", "--tol", str(tol),
                                      "--min-corr", str(min_corr), "--json", str(out) + ".json",
                                      "--timeout", str(o.timeout)]))
    running, waiting = [], list(jobs)
    while waiting or running:
        while waiting and len(running) < o.jobs and not o.late():
            label, out, argv = waiting.pop(0)
            with open(str(out) + ".log", "w") as log:
                running.append(subprocess.Popen(argv, env=env, cwd=o.work, stdout=log, stderr=subprocess.STDOUT,
                                                start_new_session=True))
        time.sleep(0.2)
        for proc in list(running):
            if proc.poll() is not None:
                running.remove(proc)
            elif o.late():
                os.killpg(proc.pid, signal.SIGKILL)     # the deadline: the shard and the case it runs
        if o.late():
            waiting.clear()
    ok = True
    for label, *_ in VARIANTS:
        results, cut = [], []
        for lab, out, _ in jobs:
            if lab == label and Path(str(out) + ".json").exists():
                results += json.loads(Path(str(out) + ".json").read_text())
            elif lab == label and Path(str(out) + ".log").exists():
                # killed or crashed: its JSON is missing, the lines it printed ("EXACT|close|FAIL  name ...") remain
                lines = Path(str(out) + ".log").read_text().splitlines()
                cut.append(" | ".join(ln.strip() for ln in lines[-2:]))
                for tag, name, *rest in (ln.split(None, 2) for ln in lines if ln[:6] in ("EXACT ", "close ", "FAIL  ")):
                    results.append({"name": name, "exact": tag == "EXACT", "close": tag != "FAIL",
                                    "problems": rest})
        for r in results:   # the mixed kernel refuses plans only the exact kernel renders: n/a, not a failure
            r["not_applicable"] = any("needs the exact kernel" in p for p in r["problems"])
        bad = [r for r in results if not r["close"] and not r["not_applicable"]]
        s = res[label] = {"exact": sum(r["exact"] for r in results), "close": sum(r["close"] for r in results),
                          "not_applicable": sum(r["not_applicable"] for r in results), "ran": len(results),
                          "cases": len(names), "failures": {r["name"]: r["problems"] for r in bad},
                          "shards_cut_short": cut}
        rep.say("  %-5s exact %d/%d, close %d/%d, n/a %d%s" % (
            label, s["exact"], len(names), s["close"], len(names), s["not_applicable"],
            "" if s["ran"] == len(names) else ", %d NOT RUN (deadline or crash)" % (len(names) - s["ran"])))
        for name, problems in s["failures"].items():
            rep.say("        FAIL %s: %s" % (name, "; ".join(problems)[:300]))
        for tail in cut:
            rep.say("        a shard was stopped or crashed; its last lines: %s" % tail[:300])
        ok = ok and not bad and s["ran"] == len(names)
    return ok


def header(o, rep):
    from nbnumba.benchmark import harness
    h = harness.machine_info(o.reference)
    h.update(numba_cuda=harness._version("numba-cuda"), cores=o.cores, device=o.device, commit=o.commit)
    if not o.commit:
        try:
            h["commit"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                         text=True).stdout.strip() or None
        except OSError:
            pass
        h["commit"] = h["commit"] or "unknown (no .git here: pass --commit)"
    if o.device == "cuda":
        from nbnumba.kernels.cuda import _unusable_reason, cuda, cuda_usable
        h["cuda_usable"] = cuda_usable()
        if not h["cuda_usable"]:
            h["cuda_error"] = _unusable_reason()
        # each field on its own: the simulator (NUMBA_ENABLE_CUDASIM=1) has none of them
        for key, get in (("gpu", lambda: cuda.get_current_device().name),
                         ("compute_capability", lambda: "%d.%d" % tuple(cuda.get_current_device().compute_capability)),
                         ("cuda_driver_api", lambda: "%d.%d" % tuple(cuda.cudadrv.driver.driver.get_version())),
                         ("cuda_runtime", lambda: "%d.%d" % tuple(cuda.runtime.get_version()))):
            try:
                v = get() if h["cuda_usable"] else None
                h[key] = v.decode() if isinstance(v, bytes) else v
            except Exception as e:      # noqa: BLE001
                h[key] = "unknown (%s)" % type(e).__name__
        if shutil.which("nvidia-smi"):
            r = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                               capture_output=True, text=True)
            h["nvidia_smi"] = r.stdout.strip() or r.stderr.strip()
    rep.data["header"] = h
    for k in ("gpu", "compute_capability", "nvidia_smi", "cuda_driver_api", "cuda_runtime", "cuda_usable", "cuda_error",
              "cpu_model", "cores", "platform", "python", "numba", "numba_cuda", "numpy", "commit", "reference"):
        if h.get(k) is not None:
            rep.say("%-19s %s" % (k, h[k]))
    return o.device != "cuda" or h["cuda_usable"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", default=str(ROOT / "bench" / "out"),
                    help="where gpu_check.json and gpu_check.txt go (default bench/out)")
    ap.add_argument("--reference", help="an already built nanoBragg.c (OpenMP build): C timings and images")
    ap.add_argument("--only", default=",".join(PARTS), help="comma-separated parts: " + ", ".join(PARTS))
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: %d golden cases, 1 repeat, no C run in 'process'" % len(QUICK_CASES))
    ap.add_argument("--cases", default="", help="golden cases for golden and parity, comma-separated (default all)")
    ap.add_argument("--repeat", type=int, help="timed repeats (default 3, --quick 1)")
    ap.add_argument("--frame", type=int, default=1024,
                    help="throughput, process: render the central FxF pixels (default 1024: the whole frame)")
    ap.add_argument("--jobs", type=int, default=6, help="parity processes side by side (default 6)")
    ap.add_argument("--deadline", type=float, default=540,
                    help="seconds from the start after which what is left is skipped (default 540)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per subprocess (default 300)")
    ap.add_argument("--parity", help="parity.py (default: ../shared/tools, shared/tools, bench/out)")
    ap.add_argument("--commit", help="the checkout's commit, for a copy without .git")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                    help="cpu: exercise this script on a machine without a GPU")
    o = ap.parse_args()
    parts = [p for p in o.only.split(",") if p]
    unknown = set(parts) - set(PARTS)
    o.case_names = [n for n in o.cases.split(",") if n] or (list(QUICK_CASES) if o.quick else [])
    unknown_cases = set(o.case_names) - {c["name"] for c in all_golden()}
    if unknown or unknown_cases:
        ap.error("unknown part(s) or golden case(s): %s" % ", ".join(sorted(unknown | unknown_cases)))
    o.repeat = o.repeat or (1 if o.quick else 3)
    o.cores = os.cpu_count() or 1
    o.reference, o.parity = (str(Path(v).resolve()) if v else None for v in (o.reference, o.parity))  # before chdir
    start = time.perf_counter()
    o.late = lambda: time.perf_counter() - start > o.deadline
    o.remaining = lambda cap: max(5.0, min(cap, o.deadline - (time.perf_counter() - start)))
    rep = Report(o.out_dir)
    rep.data["options"] = {k: v for k, v in vars(o).items() if not callable(v)}
    o.work = tempfile.mkdtemp(prefix="gpu_check_")   # the golden inputs are copied here: golden/ is never written
    for f in (GOLDEN / "inputs").iterdir():
        shutil.copy(f, Path(o.work) / f.name)
    os.chdir(o.work)
    all_ok = header(o, rep)
    if not all_ok:
        rep.say("no usable CUDA GPU: nothing to check")
        parts = []
    for name in [p for p in PARTS if p in parts]:     # decisive parts first; the long parity sweep last
        rep.say("")
        rep.say("== %s" % name)
        res = rep.data["parts"][name] = {}
        t0 = time.perf_counter()
        if o.late():
            ok, res["skipped"] = False, "deadline"
            rep.say("  skipped: past the --deadline")
        else:
            try:
                ok = globals()["part_" + name](o, rep, res)
            except Exception as e:     # noqa: BLE001 - a broken part must not stop the others
                ok, res["error"] = False, traceback.format_exc()
                rep.say("  ERROR %s: %s" % (type(e).__name__, e))
        res["ok"], res["seconds"] = bool(ok), time.perf_counter() - t0
        all_ok = all_ok and ok
        rep.say("-- %s: %s in %.1f s" % (name, "ok" if ok else "FAILED", res["seconds"]))
        rep.save()
    rep.data["ok"] = bool(all_ok)
    goals = ", ".join("%s: %s" % (k, "met" if g["met"] else "MISSED") for k, g in rep.data["goals"].items())
    rep.say("")
    rep.say("checks %s in %.1f s; goals: %s" % ("all passed" if all_ok else "NOT all passed",
                                                time.perf_counter() - start, goals or "none measured"))
    rep.save()
    os.chdir(ROOT)
    shutil.rmtree(o.work, ignore_errors=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
