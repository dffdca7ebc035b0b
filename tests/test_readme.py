"""The README's examples, run verbatim, in order, in one fresh temporary folder.

Every shell line of an indented block and every ```python block is run as it stands (a Python block as a
script of its own; one whose first line names a file, `# frames.py: ...`, under that name, since the
README tells the reader to save it so). What is not run is listed in SKIPPED with the reason; a command
this test does not know fails it, so a new example cannot slip past unrun.
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

README = ROOT / "README.md"
TIMEOUT_S = 900         # the first run on a machine compiles the kernels

# (what a line contains, why it is not run here)
SKIPPED = [
    ("python3 -m pytest", "the test command itself"),
    ("tcp://head", "needs a Dask scheduler on a host named head"),
    ("--cluster slurm", "needs a SLURM partition named normal (tests/test_batch_slurm.py runs both engines)"),
    ("adxv ", "ADXV is not packaged for Debian or PyPI"),
]
PIP_PREFIX = re.compile(r"^python3 -m pip install \S+ && ")     # installed already: the rest of the line runs
COMMANDS = ("nbnumba ", "python3 ", "dials.")


def readme_examples(text):
    """[("sh", line) | ("python", code, file name or None) | ("toml", text)] in README order."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"```(\w+)", line)
        if fence:
            j = lines.index("```", i + 1)
            body = "\n".join(lines[i + 1:j]) + "\n"
            if fence.group(1) == "python":
                named = re.match(r"# (\w+\.py):", lines[i + 1])
                out.append(("python", body, named.group(1) if named else None))
            elif fence.group(1) == "toml":
                out.append(("toml", body))
            i = j + 1
            continue
        if line.startswith("    ") and i > 0 and lines[i - 1].strip() == "":
            block = []
            while i < len(lines) and lines[i].startswith("    "):
                block.append(lines[i][4:])
                i += 1
            command = ""
            for b in block:
                command += b
                if command.endswith("\\"):
                    command = command[:-1]
                    continue
                out.append(("sh", command.strip()))
                command = ""
            continue
        i += 1
    return out


def _dials():
    if shutil.which("dials.import", path="/usr/bin:/bin"):
        return True
    if os.environ.get("NBNUMBA_REQUIRE_DIALS") == "1":
        pytest.fail("NBNUMBA_REQUIRE_DIALS=1 but dials.import is not installed")
    return False


def test_the_readme_has_examples_of_every_kind():
    kinds = {e[0] for e in readme_examples(README.read_text())}
    assert kinds == {"sh", "python", "toml"}


def test_the_readme_manifest_is_what_nbnumba_example_writes():
    from nbnumba.cli.example import SERIES_TOML
    tomls = [e[1] for e in readme_examples(README.read_text()) if e[0] == "toml"]
    assert SERIES_TOML in tomls


def test_every_readme_example_runs_as_written(tmp_path):
    from dials_support import dials_env
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    env.pop("NBNUMBA_NO_NATIVE_CACHE", None)
    have_dials = _dials()
    ran, skipped = [], []
    for example in readme_examples(README.read_text()):
        if example[0] == "toml":
            continue
        if example[0] == "python":
            _, code, name = example
            script = tmp_path / (name or "readme_example_%d.py" % len(ran))
            script.write_text(code)
            argv, where = [sys.executable, script.name], "the Python block %s" % (name or code.split("\n")[0])
            run_env = env
        else:
            line = example[1]
            why = next((reason for text, reason in SKIPPED if text in line), None)
            if why:
                skipped.append((line, why))
                continue
            assert line.startswith(COMMANDS), "an example this test does not know how to run: %r" % line
            line = PIP_PREFIX.sub("", line)
            if "&& sbatch" in line:
                line = line.split("&& sbatch")[0].strip()    # the script is checked; SLURM runs it elsewhere
            run_env = env
            if line.startswith("dials."):
                if not have_dials:
                    skipped.append((line, "DIALS is not installed"))
                    continue
                run_env = dict(dials_env(), HOME=str(tmp_path))
            argv, where = ["bash", "-c", line], line
        r = subprocess.run(argv, cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=TIMEOUT_S)
        assert r.returncode == 0, "%s: exit %d\n%s\n%s" % (where, r.returncode, r.stdout[-3000:], r.stderr[-3000:])
        assert "Traceback" not in r.stderr, "%s:\n%s" % (where, r.stderr)
        ran.append((where, r))
    by_line = {w: r for w, r in ran}
    # what the examples promise, beyond exit 0
    assert (tmp_path / "P1.hkl").is_file() and (tmp_path / "series.toml").is_file()
    assert len(list((tmp_path / "frames").glob("rot_*.img"))) == 40
    assert len(list((tmp_path / "frames").glob("ori_*.img"))) == 100
    assert (tmp_path / "frames" / "series.nxs").is_file()
    status = next(r for w, r in by_line.items() if w.startswith("nbnumba batch status"))
    assert status.stdout.startswith("140 images: 140 done, 0 failed, 0 pending"), status.stdout
    rerun = [r for w, r in ran if w.startswith("nbnumba batch run series.toml")][-1]
    assert "0 rendered, 140 already done" in rerun.stdout, rerun.stdout
    import json
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["converged"]
    assert abs(fit["refined"]["distance"] - 100.0) < 5 * fit["sigma"]["distance"] + 0.05
    compare = next(r for w, r in by_line.items() if w.startswith("nbnumba compare"))
    assert "correlation 1.000000" in compare.stdout
    for line, why in skipped:
        print("not run: %s (%s)" % (line, why))
    assert len(ran) >= 15
