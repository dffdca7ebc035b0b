"""Ctrl-C and SIGTERM in a real process: C's progress lines arrive while the render runs, and a signal
one second into a long render ends the process within two seconds, exit 128 + signal, one line on
stderr, no traceback, and no file left (Fdump.bin included: it is written only after a whole run)."""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

# about 20-40 s of rendering on one core of a 2020s x86 machine (exact kernel, one thread)
LONG = ("-kernel exact -threads 1 -cell 100 100 100 90 90 90 -hkl tiny.hkl -default_F 100 -N 5 -lambda 1 "
        "-distance 100 -detpixels 512 -mosaic 1 -mosaic_dom 20 -phisteps 10 -osc 1 -seed 1").split()


def _start(workdir):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "nbnumba", "simulate", *LONG], cwd=workdir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, first_done = [], threading.Event()

    def read():
        for line in proc.stdout:
            lines.append((time.monotonic(), line.rstrip("\n")))
            if line.endswith("% done\n"):
                first_done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return proc, lines, first_done, reader


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_a_long_render_cleanly(tmp_path, golden_dir, signum, code):
    shutil.copy(golden_dir / "inputs" / "tiny.hkl", tmp_path / "tiny.hkl")
    before = (tmp_path / "tiny.hkl").read_bytes()
    proc, lines, first_done, reader = _start(tmp_path)
    try:
        # the first progress line comes as soon as the render starts (after any first-time compile)
        assert first_done.wait(300), "no progress line: %r" % lines[-5:]
        started = time.monotonic()
        time.sleep(1.0)
        assert proc.poll() is None, "the render should still be running"
        sent = time.monotonic()
        proc.send_signal(signum)
        rc = proc.wait(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    err = proc.stderr.read()
    assert rc == code
    assert took < 2.0, "took %.2f s to stop" % took
    assert "Traceback" not in err
    # a first run on this install may also have said that it compiles kernels
    err_lines = [line for line in err.splitlines() if line.strip() and not line.startswith("nbnumba: compiling")]
    assert len(err_lines) == 1 and "interrupted by " + signal.Signals(signum).name in err_lines[0], err
    assert sorted(os.listdir(tmp_path)) == ["tiny.hkl"]
    assert (tmp_path / "tiny.hkl").read_bytes() == before
    # progress came live: lines were printed during the second before the signal, not all at the end
    assert any(started < t < sent for t, line in lines if line.endswith("% done"))


def test_a_terminal_gets_a_progress_bar_on_stderr_and_a_pipe_none(tmp_path):
    from terminal import run_with_terminal_stderr
    args = "-kernel exact -cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 256 -mosaic 1 " \
           "-mosaic_dom 4 -nonoise -nopgm -seed 1".split()
    code, out, text = run_with_terminal_stderr([sys.executable, "-m", "nbnumba", "simulate", *args], cwd=tmp_path)
    assert code == 0
    assert "px" in text and "%|" in text, text[-500:]      # tqdm: done/total pixels, rate, time left
    assert "%|" not in out and "% done" in out
    # stderr that is not a terminal gets no bar (see test_entry's silent runs)
    res = subprocess.run([sys.executable, "-m", "nbnumba", "simulate", *args], cwd=tmp_path,
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == ""     # (the run above compiled what this one needs)


def test_a_signal_while_the_outputs_go_in_place_waits_for_them(tmp_path, monkeypatch, capsys):
    """SIGINT during the final renames is held back until every output is in place: all files, exit
    130, and a message that says so."""
    from nbnumba.cli.simulate import simulate
    from nbnumba.io import atomic
    real_replace, sent = os.replace, []

    def replace(src, dst):
        if not sent and os.path.dirname(os.path.abspath(dst)) == str(tmp_path):    # an output, not a cache file
            sent.append(dst)
            os.kill(os.getpid(), signal.SIGINT)       # blocked here: delivered after the last rename
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    monkeypatch.chdir(tmp_path)
    rc = simulate("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 16 -seed 1".split())
    err = capsys.readouterr().err
    assert sent and rc == 130
    assert err.splitlines()[-1] == "nbnumba simulate: error: interrupted by SIGINT; after every output was written"
    assert sorted(os.listdir(tmp_path)) == ["floatimage.bin", "image.pgm", "intimage.img", "noiseimage.img"]
