"""The console entry: a plain `nbnumba simulate` skips click, and gives the same files, messages and
exit codes as the click command."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ARGS = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 24 -nopgm -seed 2".split()

# runs the console entry with os._exit replaced, so the process can report what it imported
_PROBE = """
import os, sys
def _exit(code):
    sys.stdout.write("\\nclick-imported=%s\\n" % ("click" in sys.modules))
    sys.stdout.flush()
    os.__dict__["_real_exit"](code)
os.__dict__["_real_exit"] = os._exit
os._exit = _exit
from nbnumba.cli.entry import entry
entry(sys.argv[1:])
"""


def _entry(cwd, argv):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", _PROBE] + argv, cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)


def _via_click(cwd, argv):
    from click.testing import CliRunner
    from nbnumba.cli.main import main
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, argv)
    finally:
        os.chdir(old)


def test_plain_simulate_skips_click_and_matches_the_click_command(tmp_path):
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    fast.mkdir()
    slow.mkdir()
    proc = _entry(fast, ["simulate"] + ARGS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("click-imported=False")
    res = _via_click(slow, ["simulate"] + ARGS)
    assert res.exit_code == 0
    assert proc.stdout.replace("\nclick-imported=False\n", "") == res.stdout
    for name in ("floatimage.bin", "intimage.img", "noiseimage.img"):
        assert (fast / name).read_bytes() == (slow / name).read_bytes()
    assert np.fromfile(fast / "floatimage.bin", np.float32).max() > 0


@pytest.mark.parametrize("argv, code, message", [
    (["simulate", "-default_F", "1", "-N", "5", "-detpixels", "8"], 9, "nbnumba simulate: error: no unit cell"),
    (["simulate"] + ARGS + ["-lambda", "one"], 9, "nbnumba simulate: error: -lambda: 'one' is not a number"),
])
def test_errors_are_the_same_both_ways(tmp_path, argv, code, message):
    proc = _entry(tmp_path, argv)
    res = _via_click(tmp_path, argv)
    assert proc.returncode == res.exit_code == code
    assert proc.stderr.strip() == res.stderr.strip()
    assert proc.stderr.strip().splitlines()[0].startswith(message)
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, shows", [
    (["simulate", "--help"], "-mosaic_dom"),
    (["--version"], "version"),
    ([], "simulate"),
])
def test_everything_else_goes_through_click(tmp_path, argv, shows):
    proc = _entry(tmp_path, argv)
    res = _via_click(tmp_path, argv)
    assert proc.returncode == res.exit_code
    assert shows in proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("click-imported=True")


def test_python_dash_m_nbnumba(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "nbnumba", "simulate"] + ARGS, cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "floatimage.bin").stat().st_size == 24 * 24 * 4


def test_a_reader_that_goes_away_does_not_stop_the_run(tmp_path):
    """`nbnumba simulate ... | head -1`: the files are still written, exit 0, nothing on stderr."""
    r, w = os.pipe()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "nbnumba", "simulate", *ARGS], cwd=tmp_path, env=env,
                            stdout=w, stderr=subprocess.PIPE)
    os.close(w)
    os.close(r)             # gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(120) == 0, err
    assert [line for line in err.splitlines() if not line.startswith("nbnumba: compiling")] == []
    assert sorted(os.listdir(tmp_path)) == ["floatimage.bin", "intimage.img", "noiseimage.img"]
