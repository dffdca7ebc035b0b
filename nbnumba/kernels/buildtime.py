"""A first run's compile, as the command line shows it: one line before it starts, with an estimate for
this machine as loaded as it is now; on a terminal a count of the kernels compiled, updated in place;
one line when it is done. The entries are built all at once (native.build), the render kernel in a
second process beside the others where there are two CPUs."""
import os
import sys
import threading
import time
from typing import NamedTuple

# CPU seconds to build each entry on a 2-core AMD EPYC VM (Python 3.11, numba 0.68), scaled to where
# _speed() takes REFERENCE_CALIBRATE_S, with importing numba and its typing tables counted apart
# (IMPORT_S): the render kernels and the entries a default run does not build, each in a fresh
# process; the rest as they come after the render kernel's callees in a default run, which they
# share. HERE_S: the part of an entry built beside the others that this process compiles for it
# (native._SPLITS).
REFERENCE_CALIBRATE_S = 0.031
IMPORT_S = 0.3
BUILD_S = {"render_fast": 9.8, "render_exact": 3.0, "first_phi_positions": 0.55, "hkl_scan": 1.15, "noise": 0.3,
           "rng_call": 0.85, "int_image": 0.25, "pgm_image": 0.21, "statistics": 0.21, "rmsd_pass": 0.09,
           "gammln": 0.12}
HERE_S = {"render_fast": 3.6}
# an entry is built beside the others (native.build's child process) when it is at least this much of the work
BESIDE_MIN_S = 1.0


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


def _work(n=200000):
    acc = {}
    for i in range(n):
        acc[i % 1000] = acc.get(i % 1000, 0) + len(str(i))
    return acc


def _cpu_busy():
    """(seconds every CPU has spent busy, or lost to the hypervisor, since boot; None where /proc/stat
    is not there)."""
    try:
        with open("/proc/stat", "rb") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu":
        return None
    ticks = [int(f) for f in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)      # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Speed(NamedTuple):
    """This machine as _speed() found it."""
    work_s: float           # CPU seconds for _work(), the best of several
    others: float           # CPUs other processes kept busy meanwhile (None: not known here)
    share: float            # of a CPU this process had meanwhile


def _speed(window_s=0.2):
    """This machine's speed at a fixed piece of dictionary-and-string work, like the Python numba's
    compiler runs, timed in CPU time (a loaded machine does not look slower than it is), and what the
    load leaves: the CPUs other processes kept busy meanwhile (from /proc/stat) and the share of a CPU
    this process had (the kernel may give other sessions' processes more than one each: autogroups)."""
    busy0, wall0, cpu0 = _cpu_busy(), time.perf_counter(), time.process_time()
    best = float("inf")
    while True:
        t0 = time.process_time()
        _work()
        best = min(best, time.process_time() - t0)
        if time.perf_counter() - wall0 >= window_s:
            break
    busy1, wall1, cpu1 = _cpu_busy(), time.perf_counter(), time.process_time()
    others = None
    if busy0 is not None and busy1 is not None:
        others = max(0.0, (busy1 - busy0 - (cpu1 - cpu0)) / (wall1 - wall0))
    return Speed(best, others, min(1.0, (cpu1 - cpu0) / (wall1 - wall0)))


def other_load(instant):
    """CPUs other processes are expected to keep busy during the compile: mostly what they took just
    now (`instant`), partly the last minute's load average (a load that comes and goes; it also
    counts this user's own runs just before, so it is not taken whole)."""
    try:
        recent = os.getloadavg()[0]
    except (AttributeError, OSError):
        recent = None
    if instant is None or recent is None:
        return instant if recent is None else recent
    return 0.75 * instant + 0.25 * recent


def background_for(names):
    """The entry to build beside the others (native.build), or None: the costliest, where there is
    more than one and it is worth a second process."""
    if len(names) < 2:
        return None
    big = max(names, key=lambda n: BUILD_S.get(n, 0.0))
    return big if BUILD_S.get(big, 0.0) >= BESIDE_MIN_S else None


def estimate_s(names, calibrate_s, cpus=1, others=0.0, background=None, share=1.0):
    """Seconds to build `names` here: this machine's _speed() time `calibrate_s`, `cpus` CPUs of which
    other processes keep `others` busy, this process getting `share` of a CPU on its own, and
    `background` (one of names) built in a second process."""
    scale = calibrate_s / REFERENCE_CALIBRATE_S
    # of a CPU, for one process of ours, and each of two: what this one had, less by as much as a
    # process more takes from each where every runnable process gets its share
    fair1, fair2 = min(1.0, cpus / (others + 1)), min(1.0, cpus / (others + 2))
    alone = max(0.05, min(share, fair1))
    beside_too = alone * fair2 / fair1
    first = IMPORT_S * scale / alone
    if background is None or background not in names or cpus < 2:
        return first + sum(BUILD_S[n] for n in names) * scale / alone
    split = HERE_S.get(background, 0.0)
    here = (sum(BUILD_S[n] for n in names if n != background) + split) * scale
    beside = (BUILD_S[background] - split) * scale
    return first + min(here, beside) / beside_too + abs(here - beside) / alone


def notice(names, estimate=None):
    """The line to print before building those of `names` that are not cached yet, or None."""
    from .native import is_cached
    missing = [n for n in names if is_cached(n) is False]
    if not missing:
        return None
    if estimate is None:
        estimate = _estimate(missing)[0]
    what = "the kernels" if len(missing) > 1 else "a kernel"
    return ("nbnumba: compiling %s for this machine, once: about %.0f s here; later runs load them from "
            "the cache" % (what, max(1.0, estimate)))


def _estimate(missing):
    from .native import can_build_beside, usable_cpus
    cpus = usable_cpus()
    background = background_for(missing) if cpus > 1 else None
    if background is not None and not can_build_beside(background, numba_checked=False):
        background = None
    speed = _speed()
    return estimate_s(missing, speed.work_s, cpus, other_load(speed.others), background, speed.share), background


def compile_first(names, stream=None, live=None):
    """Builds those of `names` not cached yet, all now (the command line calls this when the first of
    them is about to be compiled): one line on `stream` before, with the estimate; where `stream` is a
    terminal, a count of the kernels done, updated in place; one line after, with the time taken."""
    from . import native
    stream = sys.stderr if stream is None else stream
    missing = [n for n in names if native.is_cached(n) is False]
    if not missing:
        native.build(names)
        return
    estimate, background = _estimate(missing)
    progress = Progress(stream, missing, estimate, stream.isatty() if live is None else live)
    progress.say(notice(missing, estimate))
    ok = False
    try:
        native.build(missing + [n for n in names if n not in missing], background=background,
                     done=progress.done, ready=progress.start)
        ok = True
    finally:
        progress.close(ok)


class Progress:
    """The compile as the user sees it: `say` a line; `start()` once the builds are under way, `done(name)`
    as each entry is ready, `close(ok)` at the end. On a terminal (`live`) a line redrawn in place,
    twice a second: 'nbnumba: compiling kernels 3/8 (noise, render_fast) 4 s of about 9 s'."""

    def __init__(self, stream, names, estimate, live):
        self.stream, self.names, self.estimate, self.live = stream, list(names), estimate, live
        self.finished = []
        self.t0 = time.perf_counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._drawn = None          # the live line as last drawn

    def say(self, line):
        if line:
            self._write(line + "\n")

    def _write(self, text):
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def line(self):
        """The live line: kernels done of all, those under way, time so far and the estimate."""
        todo = [n for n in self.names if n not in self.finished]
        under_way = " (%s)" % ", ".join(todo[:2] + ["..."] * (len(todo) > 2)) if todo else ""
        return "nbnumba: compiling kernels %d/%d%s %.0f s of about %.0f s" % (
            len(self.finished), len(self.names), under_way, time.perf_counter() - self.t0, max(1.0, self.estimate))

    def start(self):
        if self.live and self._thread is None:
            self._draw()
            self._thread = threading.Thread(target=self._tick, name="nbnumba-compile-progress", daemon=True)
            self._thread.start()

    def _tick(self):
        while not self._stop.wait(0.5):
            self._draw()

    def _draw(self):
        with self._lock:
            line = self.line()
            if not self._stop.is_set() and line != self._drawn:
                self._write("\r" + line + "\033[K")
                self._drawn = line

    def done(self, name):
        with self._lock:
            if name in self.names and name not in self.finished:
                self.finished.append(name)
        if self.live:
            self._draw()

    def close(self, ok):
        """Ends the live line; where the builds finished, one line with how many and how long."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            if self._drawn is not None:
                self._write("\r\033[K")
            if ok:
                self._write("nbnumba: compiling done: %d kernel%s in %.1f s\n" % (
                    len(self.names), "s" * (len(self.names) != 1), time.perf_counter() - self.t0))
