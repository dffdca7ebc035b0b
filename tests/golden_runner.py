"""Runs a golden case in-process (so the kernels compile once per test session) and compares every
file and the key stdout lines with nanoBragg.c's, at the EXACT level of ../shared/tools/parity.py."""
import os
import re
import shlex
import shutil

from click.testing import CliRunner

from nbnumba.cli.main import main

KEY_LINES = re.compile(r"^(max_I = |mean= |intfile_scale = |pgm_scale = |.* photons on noise image)")


def key_lines(text):
    return [l.strip() for l in text.splitlines() if KEY_LINES.match(l.strip())]


def run_in(workdir, args):
    old = os.getcwd()
    os.chdir(workdir)
    try:
        res = CliRunner().invoke(main, ["simulate", *args], catch_exceptions=False)
    finally:
        os.chdir(old)
    return res


def with_ours(args, ours, place):
    """The case's nanoBragg arguments with our own options put first, in the middle (possibly between
    a flag and its values) or last."""
    at = {"first": 0, "middle": len(args) // 2, "last": len(args)}[place]
    return args[:at] + list(ours) + args[at:]


def compare_case(case, golden, tmp_path, extra=(), place="last"):
    """Returns a list of differences (empty when every output is byte-identical)."""
    gdir = golden / "cases" / case["name"]
    threads = int(case.get("threads", 1))
    ours = list(extra) + (["-omp_threads", str(threads)] if threads > 1 else [])
    for f in (golden / "inputs").iterdir():
        shutil.copy(f, tmp_path / f.name)
    for pre in case.get("before", []):
        run_in(tmp_path, with_ours(shlex.split(pre), ours, place))
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    res = run_in(tmp_path, with_ours(shlex.split(case["args"]), ours, place))
    made = {p.name for p in tmp_path.iterdir()
            if p.name not in before or p.stat().st_mtime_ns != before[p.name]}
    problems = []
    want_rc = int((gdir / "exit_code").read_text())
    if res.exit_code != want_rc:
        problems.append(f"exit {res.exit_code} != {want_rc}: {res.output[-300:]}")
    golden_files = {p.name for p in gdir.iterdir()} - {"stdout.txt", "stderr.txt", "exit_code"}
    if golden_files != made:
        problems.append(f"files {sorted(made)} != {sorted(golden_files)}")
    for name in sorted(golden_files & made):
        if (gdir / name).read_bytes() != (tmp_path / name).read_bytes():
            problems.append(f"{name} differs")
    want = key_lines((gdir / "stdout.txt").read_text(errors="replace"))
    got = key_lines(res.stdout)
    if want != got:
        problems.append(f"stdout key lines {got} != {want}")
    return problems
