"""Whole-process timing: nbnumba and a nanoBragg.c binary run side by side on the same command lines.

Each run gets its own temporary directory holding the inputs its case lists; wall time and the
child's own peak resident memory (os.wait4) are recorded.
"""
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tomllib
from importlib import metadata, resources
from pathlib import Path

import nbnumba

PACKAGE_ROOT = Path(nbnumba.__file__).resolve().parent.parent
# Tiny case for the start-up measurement: compile/load time dominates, not the work.
TINY = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 "
        "-detpixels 64 -pixel 0.1 -oversample 1 -seed 1")


def default_cases_text():
    """The case list shipped with the package (nbnumba/benchmark/cases.toml)."""
    return resources.files("nbnumba.benchmark").joinpath("cases.toml").read_text()


def load_cases(path=None):
    text = Path(path).read_text() if path else default_cases_text()
    return tomllib.loads(text)["case"]


def synthetic_hkl(path, hmax=12):
    """A deterministic P1-like table (h, k, l in -hmax..hmax, F in 5..100), same bytes on every machine."""
    lines = []
    for h in range(-hmax, hmax + 1):
        for k in range(-hmax, hmax + 1):
            for l in range(-hmax, hmax + 1):
                mix = ((h * 7919 + k * 104729 + l * 1299709 + 17) * 2654435761) % 4294967296
                lines.append("%4d %4d %4d %10.4f\n" % (h, k, l, 5.0 + 95.0 * mix / 4294967296.0))
    Path(path).write_text("".join(lines))


def resolve_inputs(names, inputs_dir, scratch):
    """Where each input file comes from: inputs_dir, else the checkout's golden/inputs, else a
    synthetic table written once into scratch (hkl files only). Returns ({name: path}, missing, origin)."""
    candidates = [Path(inputs_dir)] if inputs_dir else [PACKAGE_ROOT / "golden" / "inputs"]
    found, missing, origin = {}, [], {}
    for name in names:
        hit = next((d / name for d in candidates if (d / name).is_file()), None)
        if hit is None and not inputs_dir and name.endswith(".hkl"):
            hit = Path(scratch) / ("synthetic_" + name)
            if not hit.exists():
                synthetic_hkl(hit)
            origin[name] = "synthetic"
        elif hit is not None:
            origin[name] = str(hit)
        if hit is None:
            missing.append(name)
        else:
            found[name] = hit
    return found, missing, origin


# Runs one command and reports its wall time and rusage. It is a separate small process because a
# child's ru_maxrss starts at the RSS of the process it was forked from (kept across exec): forked from
# this (large, numba-loaded) process, every program would report at least our own size.
_LAUNCHER = r"""
import os, signal, sys, time
out, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
t0 = time.perf_counter()
try:
    pid = os.posix_spawnp(cmd[0], cmd, os.environ)
except OSError as exc:
    open(out, "w").write("cannot start: %s" % exc)
    sys.exit(0)
late = []
def kill(*_):
    late.append(1)
    os.kill(pid, signal.SIGKILL)
signal.signal(signal.SIGALRM, kill)
signal.setitimer(signal.ITIMER_REAL, timeout)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
signal.setitimer(signal.ITIMER_REAL, 0)
open(out, "w").write("%r %d %d %d" % (wall, os.waitstatus_to_exitcode(status), usage.ru_maxrss, len(late)))
"""


def run_once(cmd, cwd, env, timeout):
    """Runs cmd once; wall seconds, exit code, its peak RSS (MiB; a small launcher's ~10 MiB is the
    floor), and an error line or None."""
    cwd = Path(cwd)
    report = cwd / ".bench_rusage"
    report.unlink(missing_ok=True)
    with open(cwd / ".bench_stdout", "wb") as out, open(cwd / ".bench_stderr", "wb") as err:
        launcher = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), repr(timeout)]
                                    + [str(c) for c in cmd], cwd=cwd, env=env, stdout=out, stderr=err)
        launcher.wait()
    fields = report.read_text().split() if report.exists() else []
    if len(fields) != 4 or fields[0] == "cannot":
        why = " ".join(fields) or "launcher failed (exit %s)" % launcher.returncode
        return {"wall_s": 0.0, "rc": None, "peak_mib": None, "error": why}
    wall, rc, maxrss_kib, timed_out = float(fields[0]), int(fields[1]), int(fields[2]), fields[3] == "1"
    error = None
    if timed_out:
        error = "timed out after %g s" % timeout
    elif rc != 0:
        tail = [ln for f in (".bench_stdout", ".bench_stderr")  # stderr last: preferred
                for ln in (cwd / f).read_text(errors="replace").splitlines() if ln.strip()]
        error = "exit %d: %s" % (rc, tail[-1].strip() if tail else "(no output)")
    return {"wall_s": wall, "rc": rc, "peak_mib": maxrss_kib / 1024.0, "error": error}


def measure(cmd, cwd, env, repeat, timeout):
    """Runs cmd up to `repeat` times (stopping at the first failure) and summarizes."""
    runs = []
    for _ in range(max(1, repeat)):
        runs.append(run_once(cmd, cwd, env, timeout))
        if runs[-1]["error"]:
            break
    return summarize(runs, cmd)


def measure_interleaved(sides, repeat, timeout):
    """{name: summary} for sides [(name, cmd, cwd, env)] run in turn, repeat rounds (a side stops at
    its first failure): a slow spell of the machine then hits every side alike."""
    runs = {name: [] for name, *_ in sides}
    for _ in range(max(1, repeat)):
        for name, cmd, cwd, env in sides:
            if runs[name] and runs[name][-1]["error"]:
                continue
            runs[name].append(run_once(cmd, cwd, env, timeout))
    return {name: summarize(runs[name], cmd) for name, cmd, *_ in sides}


def summarize(runs, cmd):
    times = [r["wall_s"] for r in runs if not r["error"]]
    bad = next((r["error"] for r in runs if r["error"]), None)
    ok = bad is None
    return {"ok": ok, "error": bad, "times_s": times,
            "median_s": statistics.median(times) if ok else None, "min_s": min(times) if ok else None,
            "peak_mib": max((r["peak_mib"] or 0) for r in runs) or None, "cmd": cmd}


def failed(error, cmd=None):
    return {"ok": False, "error": error, "times_s": [], "median_s": None, "min_s": None,
            "peak_mib": None, "cmd": cmd}


def count_steps(args):
    """pixels x thickness layers x oversample^2 x sources x phi steps x mosaic domains from the flags
    given (None when a factor is left to defaults; divergence without -square_div is an upper bound)."""
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
    for flag in ("-detector_thicksteps", "-hdivsteps", "-vdivsteps", "-dispsteps", "-phisteps", "-mosaic_dom"):
        steps *= max(1.0, (val(flag) or [1.0])[0])
    return int(steps)


def _version(pkg):
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def machine_info(reference=None):
    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), cpu)
    git = None
    if (PACKAGE_ROOT / ".git").exists():
        r = subprocess.run(["git", "-C", str(PACKAGE_ROOT), "describe", "--always", "--dirty"],
                           capture_output=True, text=True)
        git = r.stdout.strip() or None
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": cpu, "nproc": os.cpu_count(), "usable_cpus": usable,
            "platform": platform.platform(), "python": platform.python_version(),
            "numba": _version("numba"), "numpy": _version("numpy"), "nbnumba": _version("nbnumba"),
            "nbnumba_git": git, "reference": reference}


def nbnumba_env(threads, cache_dir=None):
    """The environment for an nbnumba child: this process's nbnumba first on the path."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    # warm means every cache an install has: bytecode too (pip writes it; a checkout on PYTHONPATH
    # would otherwise recompile every module in every run)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    return env


def default_nb_cmd():
    return [sys.executable, "-m", "nbnumba", "simulate"]


class Runner:
    """Builds the two programs' command lines for a thread count and times them in scratch dirs."""

    def __init__(self, scratch, threads, reference=None, nb_cmd=None, extra=(), timeout=900.0, inputs=None):
        self.scratch = Path(scratch)
        self.threads = threads
        self.reference = reference
        self.nb_prefix = list(nb_cmd or default_nb_cmd())
        self.extra = list(extra)
        self.timeout = timeout
        self.inputs = inputs
        self.c_env = dict(os.environ, OMP_NUM_THREADS=str(threads))

    def nb_cmd(self, args, kernel):
        return (self.nb_prefix + shlex.split(args) + ["-kernel", kernel, "-threads", str(self.threads)]
                + self.extra)

    def startup(self, kernel, repeat):
        """Cold start (empty NUMBA_CACHE_DIR: everything compiles) then warm starts (cache filled)."""
        d = self.scratch / ("startup_" + kernel)
        (d / "numba_cache").mkdir(parents=True)
        env = nbnumba_env(self.threads, d / "numba_cache")
        cmd = self.nb_cmd(TINY, kernel)
        cold = measure(cmd, d, env, 1, self.timeout)
        warm = measure(cmd, d, env, repeat, self.timeout) if cold["ok"] else None
        shutil.rmtree(d, ignore_errors=True)
        return {"cold_start_s": cold["median_s"], "warm_start_s": warm and warm["median_s"],
                "error": cold["error"] or (warm and warm["error"]), "cold": cold, "warm": warm}

    def warm_up(self, kernel):
        """One untimed tiny run so the case runs below find the default numba cache filled."""
        d = self.scratch / ("warmup_" + kernel)
        d.mkdir(parents=True, exist_ok=True)
        return run_once(self.nb_cmd(TINY, kernel), d, nbnumba_env(self.threads), self.timeout)

    def case(self, case, kernels, repeat):
        name, args = case["name"], case["args"]
        row = {"name": name, "args": args, "steps": case.get("steps", count_steps(args)),
               "reference_seconds": case.get("reference_seconds", {}).get("threads%d" % self.threads)}
        found, missing, origin = resolve_inputs(case.get("inputs", []), self.inputs, self.scratch)
        row["inputs"] = origin
        sides = [("nbnumba_" + k, self.nb_cmd(args, k), nbnumba_env(self.threads)) for k in kernels]
        if self.reference:
            sides.insert(0, ("c", [self.reference] + shlex.split(args), self.c_env))
        runnable = []
        for side, cmd, env in sides:
            if missing:
                row[side] = failed("missing input(s) %s" % ", ".join(missing), cmd)
                continue
            d = self.scratch / name / side
            d.mkdir(parents=True)
            for fname, src in found.items():
                shutil.copy(src, d / fname)  # same file for both programs
            runnable.append((side, cmd, d, env))
        # the programs take turns, run after run, so that both see the same machine
        row.update(measure_interleaved(runnable, repeat, self.timeout))
        for _, _, d, _ in runnable:
            shutil.rmtree(d)  # output images can be large
        c = row.get("c")
        row["ratio"] = {k: (row["nbnumba_" + k]["median_s"] / c["median_s"]
                            if c and c["ok"] and row["nbnumba_" + k]["ok"] else None) for k in kernels}
        return row
