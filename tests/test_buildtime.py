"""A first run's compile as the command line shows it: only when something is to be compiled, once, with
an estimate for this machine as loaded as it is; a live count on a terminal; one line when done."""
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from golden_runner import run_in
from nbnumba.kernels import buildtime, native

ROOT = Path(__file__).resolve().parent.parent
ARGS = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 16 -seed 1".split()
NOTICE = ("nbnumba: compiling %s for this machine, once: about %d s here; later runs load them from the "
          "cache")


def test_estimate_scales_with_the_machine_and_its_load():
    names = buildtime.entries_for("fast", None, False, False)
    ref = buildtime.REFERENCE_CALIBRATE_S
    one_cpu = buildtime.IMPORT_S + sum(buildtime.BUILD_S[n] for n in names)
    assert buildtime.estimate_s(names, ref) == pytest.approx(one_cpu)
    assert buildtime.estimate_s(names, 2 * ref) == pytest.approx(2 * one_cpu)
    # two CPUs, the render kernel beside the rest: the longer of the two parts
    big = buildtime.background_for(names)
    assert big == "render_fast"
    split = buildtime.HERE_S[big]
    here = sum(buildtime.BUILD_S[n] for n in names if n != big) + split
    beside = buildtime.BUILD_S[big] - split
    two_cpus = buildtime.estimate_s(names, ref, cpus=2, background=big)
    assert two_cpus == pytest.approx(buildtime.IMPORT_S + max(here, beside))
    assert two_cpus < one_cpu
    # other processes keeping CPUs busy: slower, and with both busy about as slow as one CPU to itself
    busy = [buildtime.estimate_s(names, ref, cpus=2, others=o, background=big) for o in (0.0, 0.5, 1.0, 2.0)]
    assert busy == sorted(busy) and busy[0] < busy[-1]
    assert busy[-1] > one_cpu
    assert buildtime.estimate_s(names, ref, cpus=1, others=0.0, background=big) == pytest.approx(one_cpu)
    assert buildtime.estimate_s(names, ref, cpus=1, others=1.0) == pytest.approx(2 * one_cpu)
    # this process getting a third of a CPU on its own (other sessions' processes): three times as long
    assert buildtime.estimate_s(names, ref, cpus=2, background=big, share=1 / 3) == pytest.approx(3 * two_cpus)
    assert set(buildtime.entries_for("exact", "x.hkl", True, True)) <= set(native.ENTRIES)
    assert set(buildtime.BUILD_S) == set(native.ENTRIES)     # every entry has a figure
    assert set(buildtime.HERE_S) <= set(native._SPLITS)


def test_the_costliest_entry_is_built_beside_the_others():
    assert buildtime.background_for(["render_exact", "rmsd_pass", "noise"]) == "render_exact"
    assert buildtime.background_for(["render_fast"]) is None            # nothing to build beside it
    assert buildtime.background_for(["rmsd_pass", "gammln"]) is None     # not worth a second process


def test_the_load_of_other_processes(monkeypatch):
    speed = buildtime._speed(0.05)
    assert 0 < speed.work_s < 10 and (speed.others is None or speed.others >= 0) and 0 < speed.share <= 1
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 1.0, 0.5))
    assert buildtime.other_load(1.0) == pytest.approx(0.75 * 1.0 + 0.25 * 2.0)
    assert buildtime.other_load(None) == 2.0
    monkeypatch.setattr(os, "getloadavg", lambda: (_ for _ in ()).throw(OSError("no load average")))
    assert buildtime.other_load(0.5) == 0.5


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_live_line_counts_the_kernels_and_the_last_line_says_how_long():
    stream = _Terminal()
    progress = buildtime.Progress(stream, ["render_fast", "rmsd_pass", "noise"], 9.4, live=True)
    progress.say("first line")
    progress.start()
    progress.done("rmsd_pass")
    progress.done("rmsd_pass")              # counted once
    progress.done("noise")
    progress.close(True)
    text = stream.getvalue()
    assert text.startswith("first line\n\r")
    drawn = [part.split("\033[K")[0] for part in text.split("\r")[1:]]
    assert drawn[0].startswith("nbnumba: compiling kernels 0/3 (render_fast, rmsd_pass, ...) ")
    assert drawn[0].endswith(" s of about 9 s")
    assert any(d.startswith("nbnumba: compiling kernels 1/3 (render_fast, noise) ") for d in drawn)
    assert any(d.startswith("nbnumba: compiling kernels 2/3 (render_fast) ") for d in drawn)
    # the live line is cleared, then one line that stays
    last = text.rsplit("\r", 1)[1]
    assert last.startswith("\033[Knbnumba: compiling done: 3 kernels in ") and last.endswith(" s\n")
    float(last.split(" in ")[1].split()[0])


def test_not_on_a_terminal_two_lines_and_nothing_redrawn():
    stream = io.StringIO()
    progress = buildtime.Progress(stream, ["gammln"], 0.2, live=False)
    progress.say("first line")
    progress.start()
    progress.done("gammln")
    progress.close(True)
    lines = stream.getvalue().split("\n")
    assert "\r" not in stream.getvalue() and len(lines) == 3 and lines[2] == ""
    assert lines[1].startswith("nbnumba: compiling done: 1 kernel in ")
    stream = io.StringIO()
    progress = buildtime.Progress(stream, ["gammln"], 0.2, live=False)
    progress.start()
    progress.close(False)                   # stopped (an interrupt): no "done" line
    assert stream.getvalue() == ""


def test_a_warm_run_says_nothing_a_cold_one_says_it_compiles(tmp_path, monkeypatch):
    res = run_in(tmp_path, ARGS)                       # compiles here if needed: warm afterwards
    assert res.exit_code == 0
    for name in buildtime.entries_for("fast", None, True, True):
        assert native.is_cached(name) in (True, None)
    assert "compiling" not in run_in(tmp_path, ARGS).stderr
    if native._cache_paths("render_fast") is None:
        pytest.skip("no native cache here (NBNUMBA_NO_NATIVE_CACHE or another platform)")
    # render_fast as if it had to be compiled: not loaded, not in any cache, built by a stand-in
    built = native.kernel("render_fast")
    monkeypatch.delitem(native._loaded, "render_fast")
    real_load = native._load
    monkeypatch.setattr(native, "_load", lambda name, *a, **k: None if name == "render_fast" else real_load(name, *a, **k))
    monkeypatch.setattr(native, "_build", lambda name, paths, **k: built)
    monkeypatch.setattr(native, "is_cached", lambda name: name != "render_fast")
    monkeypatch.setattr(buildtime, "_speed", lambda: buildtime.Speed(buildtime.REFERENCE_CALIBRATE_S, 0.0, 1.0))
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    err = run_in(tmp_path, ARGS).stderr.splitlines()
    want = buildtime.IMPORT_S + buildtime.BUILD_S["render_fast"]      # one entry: nothing to build beside it
    assert err[0] == NOTICE % ("a kernel", round(want))
    assert err[1].startswith("nbnumba: compiling done: 1 kernel in ") and len(err) == 2


def test_nothing_is_said_when_a_run_stops_before_compiling(tmp_path, monkeypatch):
    """A cold cache and a bad command line: the error alone, no promise of a compile that never comes."""
    monkeypatch.setattr(native, "is_cached", lambda name: False)
    res = run_in(tmp_path, ["-default_F", "1", "-detpixels", "8"])        # no cell: exit 9 before any kernel
    assert res.exit_code == 9
    assert "compiling" not in res.stderr


DEFAULT_RUN = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 6.2 -distance 100 -detpixels 128 " \
              "-pixel 0.1 -seed 1".split()


def test_a_first_run_on_a_terminal_shows_the_count_and_its_outputs_are_a_warm_runs(tmp_path):
    """The README's first run, in a fresh cache, stderr a terminal: the notice, the count updated in
    place, the closing line; every output byte for byte what a warm run writes. (A real compile: the
    render kernel in a second process where there are two CPUs.)"""
    if native._cache_paths("render_fast") is None:
        pytest.skip("no native cache here (NBNUMBA_NO_NATIVE_CACHE or another platform)")
    from terminal import run_with_terminal_stderr
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=tempfile.mkdtemp(dir=tmp_path))
    cmd = [sys.executable, "-m", "nbnumba", "simulate", *DEFAULT_RUN]
    cold, warm = tmp_path / "cold", tmp_path / "warm"
    cold.mkdir()
    warm.mkdir()
    old = os.environ.copy()
    os.environ.update(env)
    try:
        code, out, text = run_with_terminal_stderr(cmd, cwd=cold, timeout=900)
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert code == 0, text[-2000:]
    first, rest = text.split("\n", 1)
    assert first.startswith("nbnumba: compiling the kernels for this machine, once: about ")
    drawn = [part.split("\x1b[K")[0] for part in rest.split("\r") if part.startswith("nbnumba: compiling kernels")]
    assert drawn and all(" s of about " in d for d in drawn)
    n = len(buildtime.entries_for("fast", None, True, True))
    assert drawn[0].startswith("nbnumba: compiling kernels 0/%d (" % n)
    assert "nbnumba: compiling done: %d kernels in " % n in text
    assert "warning" not in text and "Traceback" not in text
    proc = subprocess.run(cmd, cwd=warm, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "compiling" not in proc.stderr, proc.stderr
    assert proc.stdout == out
    names = sorted(p.name for p in cold.iterdir())
    assert names == sorted(p.name for p in warm.iterdir()) and names
    for name in names:
        assert (cold / name).read_bytes() == (warm / name).read_bytes(), name
