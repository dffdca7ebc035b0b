#!/usr/bin/env python3
"""Batch benchmark: a rotation series rendered by `nbnumba batch run` against nanoBragg.c run once
per image as parallel processes (xargs -P, one per core), whole wall time of each side.

    python bench/batch.py --reference /tmp/nbc/nanoBragg --json bench/results/NAME.json > bench/results/NAME.txt

Also measured: the float images agree (C vs nbnumba, a few frames), nbnumba's per-image overhead
(the same series with a one-pixel -roi, `--engine serial`) and its batch start-up (a 1-frame run).
Needs Python 3.11+, numpy and an installed nbnumba (dask/distributed for the default engine)."""
import argparse
import glob
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
# the case: 25 mosaic domains x 10 phi steps x 1 source x oversample 1^2 = 250 steps per pixel
MOSAIC_DOM, PHISTEPS, SOURCES, OVERSAMPLE = 25, 10, 1, 1
FLAGS = ("-hkl {hkl} -cell 70 80 90 75 85 95 -misset 10 20 30 -N 5 -lambda 1 -distance 100 "
         "-detpixels 256 -pixel 0.1 -mosaic 0.5 -mosaic_dom %d -phisteps %d -oversample %d"
         % (MOSAIC_DOM, PHISTEPS, OVERSAMPLE))
STEPS = MOSAIC_DOM * PHISTEPS * SOURCES * OVERSAMPLE ** 2
GOAL_RATIO, GOAL_OVERHEAD_MS, TOLERANCE = 0.10, 10.0, 1e-6
NB_ONLY = {"-skip", "-kernel", "-threads", "-device"}       # nbnumba's own flags (each takes one value)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def find_hkl():
    for p in (REPO.parent / "shared", Path("/work/shared"), REPO):
        if (p / "golden/inputs/P1.hkl").is_file():
            return str((p / "golden/inputs/P1.hkl").resolve())
    sys.exit("bench/batch.py: P1.hkl not found; give --hkl PATH")


def machine():
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            key, _, value = line.partition(":")
            if key in ("Model name", "CPU family", "Model"):
                info[key] = value.strip()
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    model = "%s (family %s, model %s)" % (info.get("Model name", "unknown"), info.get("CPU family", "?"),
                                          info.get("Model", "?"))
    return {"cpu_model": model, "cores": len(os.sched_getaffinity(0)), "nproc": nproc,
            "machine": platform.machine(), "system": platform.platform(), "python": platform.python_version()}


def manifest(path, base, frames):
    path.write_text('base = %s\nseed = 1\n[rotation]\nprefix = "rot_"\nstart = 0.0\nosc = 0.1\nframes = %d\n'
                    % (json.dumps(base), frames))
    return path


def timed(cmd, env=None, stdin=None, log_path=None):
    """Wall seconds of cmd, process start to exit; its output goes to log_path. Exits on failure."""
    with open(log_path or os.devnull, "w") as out:
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, env=env, stdin=stdin, stdout=out, stderr=subprocess.STDOUT).returncode
        dt = time.perf_counter() - t0
    if rc != 0:
        sys.exit("bench/batch.py: %s exited %d (log: %s)" % (shlex.join(map(str, cmd)), rc, log_path))
    return dt


def sidecars(out_dir):
    return [json.loads(Path(p).read_text()) for p in sorted(glob.glob(os.path.join(out_dir, "rot_*.json")))]


def c_argv(argv):
    """A sidecar's argv without nbnumba's own options (flag and value)."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in NB_ONLY:
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def run_nb(nb, man, out_dir, extra, frames):
    shutil.rmtree(out_dir, ignore_errors=True)
    dt = timed(nb + ["batch", "run", str(man), "--out", str(out_dir)] + extra, log_path=str(out_dir) + ".log")
    if len(sidecars(out_dir)) != frames:
        sys.exit("bench/batch.py: %s has %d sidecars, not %d" % (out_dir, len(sidecars(out_dir)), frames))
    return dt


def run_c(ref, argvs, out_dir, cores):
    """Every frame with the C binary in its own folder, `cores` processes at once (OMP_NUM_THREADS=1)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    lines = []
    for ident, argv in argvs:
        d = out_dir / ident
        d.mkdir(parents=True)
        lines.append("cd %s && exec %s > c.log 2>&1" % (shlex.quote(str(d)), shlex.join([ref] + argv)))
    cmds = out_dir / "commands.txt"
    cmds.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(cmds) as fh:     # -d '\n': each line is one argument of sh -c, no quote processing by xargs
        dt = timed(["xargs", "-d", "\n", "-P", str(cores), "-n", "1", "sh", "-c"], env=env, stdin=fh,
                   log_path=str(out_dir) + ".log")
    missing = [i for i, a in argvs if not (out_dir / i / a[a.index("-floatfile") + 1]).is_file()]
    if missing:
        sys.exit("bench/batch.py: C wrote no float image for %s" % ", ".join(missing))
    return dt


def compare(c_dir, nb_dir, ident):
    c = np.fromfile(c_dir / ident / (ident + ".bin"), np.float32).astype(np.float64)
    n = np.fromfile(nb_dir / (ident + ".bin"), np.float32).astype(np.float64)
    peak = float(np.abs(c).max())
    diff = float(np.abs(c - n).max()) if c.shape == n.shape else float("inf")
    same_noise = (c_dir / ident / (ident + ".img")).read_bytes() == (nb_dir / (ident + ".img")).read_bytes()
    return {"frame": ident, "max_abs_diff": diff, "peak": peak, "rel": diff / peak if peak else diff,
            "noise_image_identical": same_noise}


def mean_timings(sides):
    return {k: statistics.mean(s["timings"][k] for s in sides) for k in ("plan_s", "render_s", "write_s", "total_s")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", default=os.environ.get("NB_C_BIN"), help="nanoBragg.c binary [$NB_C_BIN]")
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats of each side [3]")
    ap.add_argument("--frames", type=int, default=40, help="images in the series [40]")
    ap.add_argument("--hkl", help="P1.hkl [the shared golden inputs]")
    ap.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)), help="C processes at once [all]")
    ap.add_argument("--workers", type=int, help="nbnumba --workers [its default: every core]")
    ap.add_argument("--nb-cmd", default="%s -m nbnumba" % shlex.quote(sys.executable), help="how nbnumba starts")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    a = ap.parse_args()
    if not a.reference or not os.access(a.reference, os.X_OK):
        sys.exit("bench/batch.py: give --reference PATH (an executable nanoBragg.c build)")
    ref, nb = os.path.abspath(a.reference), shlex.split(a.nb_cmd)
    base = FLAGS.format(hkl=a.hkl or find_hkl())
    extra = ["--workers", str(a.workers)] if a.workers else []
    mach = machine()
    version = subprocess.run(nb + ["--version"], capture_output=True, text=True).stdout.strip()
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="nb-batch-"))
    main_m = manifest(tmp / "series.toml", base, a.frames)
    roi_m = manifest(tmp / "roi.toml", base + " -roi 0 0 0 0", a.frames)
    roi1_m = manifest(tmp / "roi1.toml", base + " -roi 0 0 0 0", 1)

    # warm-up, untimed: compiled kernels cached and loaded, files in the page cache; the C command lines
    log("warm-up ...")
    run_nb(nb, main_m, tmp / "warm_nb", extra, a.frames)
    argvs = [(s["id"], c_argv(s["argv"])) for s in sidecars(tmp / "warm_nb")]
    run_c(ref, argvs[:a.cores], tmp / "warm_c", a.cores)
    c_one = run_c(ref, argvs[:1], tmp / "c_one", 1)     # one C image alone: how well the cores scale
    run_nb(nb, roi_m, tmp / "warm_roi", ["--engine", "serial"], a.frames)

    # interleaved repeats: C, nbnumba, C, nbnumba, ...
    c_s, nb_s = [], []
    for r in range(a.repeat):
        c_s.append(run_c(ref, argvs, tmp / "c", a.cores))
        nb_s.append(run_nb(nb, main_m, tmp / "nb", extra, a.frames))
        log("repeat %d: C %.2f s, nbnumba %.2f s" % (r + 1, c_s[-1], nb_s[-1]))
    main_sides = sidecars(tmp / "nb")
    picks = sorted({0, a.frames // 2, a.frames - 1})
    checks = [compare(tmp / "c", tmp / "nb", argvs[i][0]) for i in picks]

    # per-image overhead: one pixel rendered, in one process; minus the 1-frame run (start-up)
    roi_s, one_s = [], []
    for r in range(a.repeat):
        roi_s.append(run_nb(nb, roi_m, tmp / "roi", ["--engine", "serial"], a.frames))
        one_s.append(run_nb(nb, roi1_m, tmp / "roi1", ["--engine", "serial"], 1))
    roi_sides = sidecars(tmp / "roi")

    med = statistics.median
    c_med, nb_med = med(c_s), med(nb_s)
    ratio = nb_med / c_med
    per_image_ms = (med(roi_s) - med(one_s)) / (a.frames - 1) * 1e3 if a.frames > 1 else float("nan")
    worst = max(c["rel"] for c in checks)
    res = {
        "benchmark": "batch", "date": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": mach,
        "nbnumba_version": version, "git": git, "reference": ref, "nb_cmd": nb, "nb_extra": extra,
        "flags": base, "frames": a.frames, "pixels": 256 * 256, "steps_per_pixel": STEPS,
        "repeat": a.repeat, "c_processes": a.cores,
        "c": {"wall_s": c_s, "median_s": c_med, "images_per_s": a.frames / c_med, "one_frame_alone_s": c_one,
              "parallel_speedup": a.frames * c_one / c_med},
        "nbnumba": {"wall_s": nb_s, "median_s": nb_med, "images_per_s": a.frames / nb_med,
                    "sidecar_mean_s": mean_timings(main_sides)},
        "ratio": ratio, "goal_ratio": GOAL_RATIO, "ratio_met": ratio <= GOAL_RATIO,
        "correctness": {"frames": checks, "worst_rel": worst, "tolerance": TOLERANCE, "ok": worst <= TOLERANCE},
        "overhead": {"roi_wall_s": roi_s, "one_frame_wall_s": one_s, "per_image_ms": per_image_ms,
                     "sidecar_mean_s": mean_timings(roi_sides), "goal_ms": GOAL_OVERHEAD_MS,
                     "met": per_image_ms < GOAL_OVERHEAD_MS},
        "startup_s": med(one_s),
    }
    report(res)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    if a.keep:
        log("kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if res["correctness"]["ok"] else 1


def report(r):
    m, yes = r["machine"], lambda ok: "met" if ok else "NOT MET"
    fmt = lambda xs: ", ".join("%.3f" % x for x in xs)
    ms = lambda d: "plan %.1f, render %.1f, write %.1f, total %.1f ms" % tuple(
        d[k] * 1e3 for k in ("plan_s", "render_s", "write_s", "total_s"))
    o, c, n = r["overhead"], r["c"], r["nbnumba"]
    print("nbnumba batch benchmark, %s" % r["date"])
    print("machine:   %s, %d cores (nproc %s), %s, Python %s" % (m["cpu_model"], m["cores"], m["nproc"],
                                                               m["system"], m["python"]))
    print("nbnumba:   %s (checkout %s), started as: %s %s" % (r["nbnumba_version"], r["git"], shlex.join(r["nb_cmd"]),
                                                           " ".join(r["nb_extra"])))
    print("reference: %s, %d processes at once, OMP_NUM_THREADS=1" % (r["reference"], r["c_processes"]))
    print("case:      %d frames, -phi 0.0 + 0.1*i -osc 0.1, 256x256 pixels, %d steps per pixel, noise on"
          % (r["frames"], r["steps_per_pixel"]))
    print("flags:     %s" % r["flags"])
    print()
    print("whole wall time, %d interleaved repeats (median)" % r["repeat"])
    print("  nanoBragg.c  (xargs -P %d) %8.3f s  %7.2f images/s   [%s]" % (r["c_processes"], c["median_s"],
                                                                      c["images_per_s"], fmt(c["wall_s"])))
    print("  nbnumba batch (dask)      %8.3f s  %7.2f images/s   [%s]" % (n["median_s"], n["images_per_s"],
                                                                      fmt(n["wall_s"])))
    print("  C: one image alone %.3f s; speed-up of the %d-process run over one process: %.2fx"
          % (c["one_frame_alone_s"], r["c_processes"], c["parallel_speedup"]))
    print("  ratio nbnumba/C: %.3f   goal <= %.2f: %s" % (r["ratio"], r["goal_ratio"], yes(r["ratio_met"])))
    print("  nbnumba sidecars, mean per image: %s" % ms(n["sidecar_mean_s"]))
    print()
    print("float images, C vs nbnumba (max |difference| / peak, tolerance %g):" % r["correctness"]["tolerance"])
    for f in r["correctness"]["frames"]:
        print("  %s  %.3g (peak %.6g)  noise image %s" % (f["frame"], f["rel"], f["peak"],
                                                        "identical" if f["noise_image_identical"] else "differs"))
    print("  %s" % ("OK" if r["correctness"]["ok"] else "FAILED"))
    print()
    print("per-image overhead (-roi 0 0 0 0, --engine serial, median of %d)" % r["repeat"])
    print("  %d frames %.3f s, 1 frame %.3f s  ->  %.2f ms per image   goal < %.0f ms: %s"
          % (r["frames"], statistics.median(o["roi_wall_s"]), statistics.median(o["one_frame_wall_s"]),
             o["per_image_ms"], o["goal_ms"], yes(o["met"])))
    print("  sidecars, mean per image: %s" % ms(o["sidecar_mean_s"]))
    print("  nbnumba batch start-up (1-frame run): %.3f s" % r["startup_s"])


if __name__ == "__main__":
    sys.exit(main())
