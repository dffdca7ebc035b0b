#!/usr/bin/env python3
"""Benchmark nbnumba against the user's own nanoBragg.c build (NB_C_BIN), whole process.

Usage: python3 bench/run.py [--threads 2] [--repeat 3] [--only S1_simple_1024,...]
See bench/README.md for what each column means.
"""
import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
INPUTS = REPO / "golden" / "inputs"
# Tiny case for the cold/warm start measurement: compile/load time dominates, not the work.
TINY = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 "
        "-detpixels 64 -pixel 0.1 -oversample 1 -seed 1")


def run_once(cmd, cwd, env, timeout):
    """Run cmd once; return wall seconds, exit code, peak RSS (MiB) and the last stderr line.

    os.wait4 gives the rusage of exactly this child, so ru_maxrss is its own peak
    (RUSAGE_CHILDREN would be a max over every child this process ever reaped)."""
    cwd = Path(cwd)
    with open(cwd / ".bench_stdout", "wb") as out, open(cwd / ".bench_stderr", "wb") as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        except OSError as exc:  # e.g. a --nb-cmd that does not exist
            return {"wall_s": 0.0, "rc": None, "peak_mib": None, "error": f"cannot start: {exc}"}
        state = {"done": False, "timed_out": False}

        def kill():
            if not state["done"]:
                state["timed_out"] = True
                proc.kill()
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            state["done"] = True
            timer.cancel()
        wall = time.perf_counter() - t0
    proc.returncode = rc = os.waitstatus_to_exitcode(status)
    error = None
    if state["timed_out"]:
        error = f"timed out after {timeout:g} s"
    elif rc != 0:
        tail = [ln for f in (".bench_stdout", ".bench_stderr")  # stderr last: preferred
                for ln in (cwd / f).read_text(errors="replace").splitlines() if ln.strip()]
        error = f"exit {rc}: " + (tail[-1].strip() if tail else "(no output)")
    return {"wall_s": wall, "rc": rc, "peak_mib": usage.ru_maxrss / 1024.0, "error": error}


def measure(cmd, cwd, env, repeat, timeout):
    """Run cmd `repeat` times (stop at the first failure); summarize."""
    runs = []
    for _ in range(repeat):
        runs.append(run_once(cmd, cwd, env, timeout))
        if runs[-1]["error"]:
            break
    times = [r["wall_s"] for r in runs if not r["error"]]
    bad = next((r["error"] for r in runs if r["error"]), None)
    return {"ok": bad is None, "error": bad, "times_s": times,
            "median_s": statistics.median(times) if times and bad is None else None,
            "min_s": min(times) if times and bad is None else None,
            "peak_mib": max((r["peak_mib"] or 0) for r in runs) or None, "cmd": cmd}


def count_steps(args):
    """pixels x thickness layers x oversample^2 x sources x phi steps x mosaic domains,
    from the flags given explicitly (None if a factor is left to nanoBragg's defaults).
    Without -square_div the divergence factor is an upper bound (the corners are trimmed)."""
    a = shlex.split(args)

    def val(flag, n=1):
        idx = [i for i, tok in enumerate(a) if tok == flag]
        return [float(x) for x in a[idx[-1] + 1: idx[-1] + 1 + n]] if idx else None
    if val("-roi", 4):
        x0, x1, y0, y1 = val("-roi", 4)
        pixels = (x1 - x0 + 1) * (y1 - y0 + 1)
    else:
        fast = val("-detpixels_x") or val("-detpixels_f") or val("-detpixels")
        slow = val("-detpixels_y") or val("-detpixels_s") or val("-detpixels")
        if not (fast and slow):
            return None
        pixels = fast[0] * slow[0]
    if val("-oversample") is None or "-sourcefile" in a:
        return None
    steps = pixels * val("-oversample")[0] ** 2
    for flag in ("-detector_thicksteps", "-hdivsteps", "-vdivsteps", "-dispsteps",
                 "-phisteps", "-mosaic_dom"):
        steps *= max(1.0, (val(flag) or [1.0])[0])
    return int(steps)


def version(pkg):
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def machine_info(c_bin):
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True)
    return {"cpu_model": cpu, "nproc": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(), "python": platform.python_version(),
            "numba": version("numba"), "numpy": np.__version__, "nbnumba_git": git.stdout.strip() or None,
            "c_bin": c_bin}


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=str(REPO / "bench" / "cases.toml"))
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kernel", default="exact")
    ap.add_argument("--extra", default="", help="extra arguments for nbnumba only")
    ap.add_argument("--nb-cmd", default=f"{shlex.quote(sys.executable)} -m nbnumba.cli.main simulate",
                    help="command prefix that runs nbnumba (e.g. 'nbnumba simulate')")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold/warm start runs")
    ap.add_argument("--json", default=str(REPO / "bench" / "out" / "results.json"))
    opt = ap.parse_args()

    cases = tomllib.loads(Path(opt.cases).read_text())["case"]
    if opt.only:
        wanted = opt.only.split(",")
        unknown = set(wanted) - {c["name"] for c in cases}
        if unknown:
            sys.exit(f"unknown case(s): {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c["name"] in wanted]
    c_bin = os.environ.get("NB_C_BIN") or None
    if c_bin and not os.access(c_bin, os.X_OK):
        sys.exit(f"NB_C_BIN={c_bin} is not an executable file")

    work = Path(tempfile.mkdtemp(prefix="nbnumba_bench_"))
    cache = work / "numba_cache"  # fresh for the cold start, then shared (warm) by every run
    base = dict(os.environ, OMP_NUM_THREADS=str(opt.threads))
    nb_env = dict(base, NUMBA_CACHE_DIR=str(cache),
                  PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    nb_flags = ["-kernel", opt.kernel, "-threads", str(opt.threads)] + shlex.split(opt.extra)
    nb_cmd = lambda args: shlex.split(opt.nb_cmd) + shlex.split(args) + nb_flags
    out = {"machine": machine_info(c_bin), "settings": {k: v for k, v in vars(opt).items()},
           "startup": None, "cases": []}
    failed = False
    try:
        if not opt.no_startup:
            d = work / "startup"
            d.mkdir()
            print(f"startup: cold then warm runs of a 64x64 case (NUMBA_CACHE_DIR={cache})", flush=True)
            cold = measure(nb_cmd(TINY), d, nb_env, 1, opt.timeout)
            warm = measure(nb_cmd(TINY), d, nb_env, opt.repeat, opt.timeout) if cold["ok"] else None
            out["startup"] = {"cold_start_s": cold["median_s"], "cold": cold,
                              "warm_start_s": warm and warm["median_s"], "warm": warm}
            err = cold["error"] or warm["error"]
            failed |= err is not None
            print(f"  cold_start_s={fmt(cold['median_s'], '.2f')}  "
                  f"warm_start_s={fmt(warm and warm['median_s'], '.2f')}"
                  + (f"  FAILED: {err}" if err else ""), flush=True)
        for case in cases:
            name, args = case["name"], case["args"]
            print(f"running {name} ...", flush=True)
            row = {"name": name, "args": args, "steps": case.get("steps", count_steps(args)),
                   "reference_seconds": case.get("reference_seconds", {}).get(f"threads{opt.threads}")}
            missing = [f for f in case.get("inputs", []) if not (INPUTS / f).is_file()]
            for side, cmd, env in [("nbnumba", nb_cmd(args), nb_env),
                                   ("c", [c_bin] + shlex.split(args) if c_bin else None, base)]:
                if cmd is None:
                    row[side] = None
                    continue
                d = work / name / side
                d.mkdir(parents=True)
                for f in case.get("inputs", []):
                    if f not in missing:
                        shutil.copy(INPUTS / f, d / f)
                row[side] = (measure(cmd, d, env, opt.repeat, opt.timeout) if not missing else
                             {"ok": False, "error": f"missing input(s) {missing} in {INPUTS}",
                              "median_s": None, "peak_mib": None, "times_s": [], "cmd": cmd})
                shutil.rmtree(d)  # output images can be large (2048^2 floats per case)
            nb, c = row["nbnumba"], row["c"]
            row["ratio"] = (nb["median_s"] / c["median_s"]) if c and nb["ok"] and c["ok"] else None
            failed |= not nb["ok"] or bool(c and not c["ok"])
            out["cases"].append(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    m = out["machine"]
    print(f"\n{m['cpu_model']}, {m['nproc']} CPUs; python {m['python']}, numba {m['numba']}; "
          f"threads={opt.threads} kernel={opt.kernel} repeat={opt.repeat} (median wall s, whole process)")
    head = f"{'case':<26}{'steps':>14}{'nbnumba s':>11}{'C s':>9}{'nb/C':>8}{'peak MiB':>10}{'C MiB':>8}"
    print(head + "\n" + "-" * len(head))
    for r in out["cases"]:
        nb, c = r["nbnumba"], r["c"]
        print(f"{r['name']:<26}{fmt(r['steps'], ',d'):>14}"
              f"{fmt(nb['median_s'], '.3f') if nb['ok'] else 'FAILED':>11}"
              f"{fmt(c and c['median_s'], '.3f') if not c or c['ok'] else 'FAILED':>9}"
              f"{fmt(r['ratio'], '.2f'):>8}{fmt(nb['peak_mib'], '.0f'):>10}{fmt(c and c['peak_mib'], '.0f'):>8}")
        for side, res in (("nbnumba", nb), ("C", c)):
            if res and not res["ok"]:
                print(f"    {side} FAILED: {res['error']}")
    if not c_bin:
        print("(set NB_C_BIN to your own nanoBragg.c OpenMP build to time it side by side)")
    Path(opt.json).parent.mkdir(parents=True, exist_ok=True)
    Path(opt.json).write_text(json.dumps(out, indent=2) + "\n")
    print(f"results written to {opt.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
