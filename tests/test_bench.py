"""`nbnumba bench` and the benchmark package: smoke runs on tiny sizes (no timing assertions)."""
import json
import os
import shlex
import stat
import sys

import pytest
from click.testing import CliRunner

from nbnumba.benchmark import MICRO, failures, harness, micro, run_bench
from nbnumba.cli.argv import parse_argv
from nbnumba.cli.main import main
from nbnumba.plan import make_plan
from nbnumba.render import pixel_order

TINY_CASES = '''
[[case]]
name = "T1_tiny"
args = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 24 -pixel 0.1 -oversample 1 -nonoise -nopgm -seed 1"
'''


def _positive(r):
    assert r["ok"] and r["error"] is None
    assert r["per_s"] > 0 and r["count"] > 0 and r["best_s"] > 0


def test_micro_rates_are_positive():
    for r in (micro.sincg_rate(2000, 1, 0.0), micro.lattice_rate(2000, 1, 0.0), micro.noise_rate(32, 1, 0.0)):
        _positive(r)
    exact = micro.kernel_rate("exact", pixels=8, repeat=1, min_time=0.0)
    _positive(exact)
    assert exact["count"] == 8 * 8 * 800  # 2x2 oversample x 5 wavelengths x 4 phi x 10 domains
    fast = micro.kernel_rate("fast", pixels=8, repeat=1, min_time=0.0)
    assert fast["ok"] == (fast["error"] is None)  # the fast kernel may be unavailable: then it says why
    if fast["ok"]:
        _positive(fast)


def test_kernel_failure_is_reported_not_raised(monkeypatch):
    import nbnumba.render

    def broken(*a, **k):
        raise RuntimeError("no such kernel here")
    monkeypatch.setattr(nbnumba.render, "run", broken)
    r = micro.kernel_rate("fast", pixels=4, repeat=1)
    assert not r["ok"] and r["per_s"] is None and "RuntimeError: no such kernel here" in r["error"]


@pytest.mark.parametrize("name", ["S1_simple_1024", "H1_heavy_roi128", "N1_noise_2048"])
def test_case_steps_match_the_plan(name):
    case = next(c for c in harness.load_cases() if c["name"] == name)
    p = parse_argv(shlex.split(case["args"]), now=0, warn=lambda m: None)
    plan = make_plan(p, lambda line: None)
    pixels = pixel_order(plan.p)[0].shape[0]  # the pixels the kernel renders
    assert harness.count_steps(case["args"]) == pixels * plan.steps * max(1, plan.p.detector_thicksteps)


def test_synthetic_hkl_stands_in_for_missing_inputs(tmp_path, monkeypatch):
    from nbnumba.io.hkl import read_hkl
    monkeypatch.setattr(harness, "PACKAGE_ROOT", tmp_path / "installed")  # no golden/inputs beside it
    found, missing, origin = harness.resolve_inputs(["P1.hkl", "A.mat"], None, tmp_path)
    assert missing == ["A.mat"] and origin == {"P1.hkl": "synthetic"}
    text = found["P1.hkl"].read_text()
    assert len(text.splitlines()) == 25 ** 3
    other = tmp_path / "again.hkl"
    harness.synthetic_hkl(other)
    assert other.read_text() == text  # deterministic: the same file for every program and machine
    table = read_hkl(str(found["P1.hkl"]), 0.0, lambda line: None)
    assert table is not None
    # an explicit --inputs folder is used as is, never replaced by a synthetic file
    found, missing, _ = harness.resolve_inputs(["P1.hkl"], tmp_path / "empty", tmp_path)
    assert missing == ["P1.hkl"] and not found


def test_run_once_reports_exit_code_and_timeout(tmp_path):
    env = dict(os.environ)
    ok = harness.run_once([sys.executable, "-c", "pass"], tmp_path, env, 30)
    assert ok["rc"] == 0 and ok["error"] is None and ok["peak_mib"] > 0
    bad = harness.run_once([sys.executable, "-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"],
                           tmp_path, env, 30)
    assert bad["rc"] == 3 and bad["error"] == "exit 3: boom"
    slow = harness.run_once([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path, env, 0.5)
    assert slow["error"] == "timed out after 0.5 s"
    gone = harness.run_once(["/nonexistent/program"], tmp_path, env, 30)
    assert gone["rc"] is None and gone["error"].startswith("cannot start")


def test_cli_quick_json(tmp_path):
    out_json = tmp_path / "out.json"
    res = CliRunner().invoke(main, ["bench", "--quick", "--json", str(out_json)])
    data = json.loads(out_json.read_text())
    assert res.exit_code == (1 if failures(data) else 0), res.output
    assert set(data) == {"machine", "settings", "micro", "startup", "cases", "summary"}
    assert list(data["micro"]) == list(MICRO) and set(data["startup"]) == {"exact", "fast"}
    assert data["cases"] == []  # no --reference: no case table
    s = data["summary"]
    assert set(s) == {"steps_per_s_per_core", "sincg_per_s", "lattice_factor_per_s", "noise_pixels_per_s",
                      "cold_start_s", "warm_start_s", "ratio_vs_reference", "gpu_steps_per_s"}
    assert s["gpu_steps_per_s"] == {}       # no GPU here: the GPU rates are not measured by default
    for key in ("sincg_per_s", "lattice_factor_per_s", "noise_pixels_per_s"):
        assert s[key] > 0
    assert s["steps_per_s_per_core"]["exact"] > 0
    assert s["warm_start_s"]["exact"] > 0 and s["cold_start_s"]["exact"] is None  # --quick: no cold start
    assert "exact kernel" in res.output and "inner steps/s" in res.output


def test_cli_case_table_against_a_reference(tmp_path):
    cases = tmp_path / "cases.toml"
    cases.write_text(TINY_CASES)
    fake_c = tmp_path / "fake_nanoBragg"
    fake_c.write_text("#!/bin/sh\nexit 0\n")
    fake_c.chmod(fake_c.stat().st_mode | stat.S_IXUSR)
    out_json = tmp_path / "out.json"
    res = CliRunner().invoke(main, ["bench", "--quick", "--reference", str(fake_c), "--cases", str(cases),
                                    "--only", "cases", "--kernels", "exact", "--threads", "1",
                                    "--json", str(out_json)])
    assert res.exit_code == 0, res.output
    data = json.loads(out_json.read_text())
    assert data["micro"] == {} and data["startup"] == {}
    (row,) = data["cases"]
    assert row["name"] == "T1_tiny" and row["steps"] == 24 * 24
    assert row["c"]["ok"] and row["nbnumba_exact"]["ok"]
    assert row["ratio"]["exact"] > 0 and data["summary"]["ratio_vs_reference"] == {"T1_tiny": row["ratio"]}
    assert "T1_tiny" in res.output and "exact/C" in res.output


def test_cli_rejects_unknown_names():
    res = CliRunner().invoke(main, ["bench", "--only", "sincg,warp_drive"])
    assert res.exit_code == 2 and "warp_drive" in res.output
    with pytest.raises(Exception, match="unknown kernel"):
        run_bench(kernels=["slow"])


def test_case_runs_take_turns(tmp_path):
    """Each round runs every side once, in order; a side that fails stops, the others go on."""
    log = tmp_path / "log"
    sides = []
    for name, code in (("a", 0), ("b", 3), ("c", 0)):
        cmd = ["sh", "-c", "echo %s >> %s; exit %d" % (name, shlex.quote(str(log)), code)]
        sides.append((name, cmd, tmp_path, dict(os.environ)))
    got = harness.measure_interleaved(sides, 3, 60.0)
    assert log.read_text().split() == ["a", "b", "c", "a", "c", "a", "c"]
    assert got["a"]["ok"] and len(got["a"]["times_s"]) == 3 and got["a"]["median_s"] > 0
    assert not got["b"]["ok"] and "3" in got["b"]["error"] and got["b"]["times_s"] == []
    assert got["c"]["ok"] and len(got["c"]["times_s"]) == 3


def test_gpu_rates_without_a_gpu_are_reported_unavailable(monkeypatch):
    """Asked for by name where no GPU is usable, a GPU rate is a failed measurement with its reason."""
    from nbnumba.benchmark import suite
    from nbnumba.kernels import cuda as kc
    monkeypatch.setattr(kc, "cuda_usable", lambda: False)
    out = suite.run_bench(only=["gpu_fast_mixed"], quick=True, log=lambda line: None)
    r = out["micro"]["gpu_fast_mixed"]
    assert not r["ok"] and "no usable CUDA GPU" in r["error"]
    assert suite.failures(out) == ["gpu_fast_mixed: " + r["error"]]
