"""nbnumba refine: parameters recovered from a simulated noise image within their standard errors, a start
too far away reported as not converged (exit 1), the float image, the JSON, and bad requests."""
import json
import math
import subprocess
import sys

import pytest

from conftest import GOLDEN

MODEL = ("-hkl P1.hkl -cell 70 80 90 75 85 95 -misset 10 20 30 -N 5 -lambda 1 -distance 100 -detpixels 96 "
         "-pixel 0.2 -mosaic 0.3 -mosaic_dom 3 -fluence 1e31 -nointerpolate -skip dumpfile")
# the start: distance 1 mm out, N one cell out, a 0.5% out, the crystal turned 0.1 degree
START = MODEL.replace("-distance 100", "-distance 101").replace("-N 5", "-Na 6 -Nb 5 -Nc 5").replace(
    "-cell 70", "-cell 70.35")
TRUTH = {"distance": 100.0, "Na": 5.0, "a": 70.0, "rotx": 0.0, "fluence": 1.0}


def nbnumba(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nbnumba", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    d = tmp_path_factory.mktemp("refine")
    (d / "P1.hkl").write_bytes((GOLDEN / "inputs" / "P1.hkl").read_bytes())
    res = nbnumba("simulate", *MODEL.split(), "-seed", "8", "-noisefile", "obs.img", "-floatfile", "obs.bin",
                  "-nopgm", cwd=d)
    assert res.returncode == 0, res.stderr
    return d


def test_recovers_the_parameters_within_three_standard_errors(observed, monkeypatch):
    import nbnumba.api as nb
    monkeypatch.chdir(observed)
    p = nb.params(START.split())
    p.xtal_rotx = math.radians(0.1)
    r = nb.refine(p, "obs.img", ["distance", "Na", "a", "rotx", "fluence"])
    assert r.converged, r.message
    assert 0.5 < r.reduced_chi2 < 1.5
    for name, true in TRUTH.items():
        assert 0 < r.sigma[name] < 0.01 * max(1.0, abs(true)), (name, r.sigma[name])
        assert abs(r.refined[name] - true) <= 3 * r.sigma[name], (name, r.refined[name], r.sigma[name])
        assert abs(r.start.get(name, true) - true) > 3 * r.sigma[name] or name == "fluence"    # it had to move


def test_cli_lines_json_and_the_float_image(observed):
    out = observed / "fit.json"
    res = nbnumba("refine", "obs.bin", "--flags", START, "--refine", "distance,Na,a", "--json", out, cwd=observed)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["distance", "Na", "a"]
    assert lines[3].startswith("reduced chi^2") and "converged" in lines[3]
    data = json.loads(out.read_text())
    assert set(data) >= {"refined", "sigma", "cost", "iterations", "converged"}
    # a noiseless image: the truth to far better than a standard error of the noisy fit
    assert abs(data["refined"]["distance"] - 100.0) < 1e-5 and abs(data["refined"]["a"] - 70.0) < 1e-5
    assert abs(data["refined"]["Na"] - 5.0) < 1e-5


def test_a_start_too_far_is_not_converged(observed):
    far = MODEL.replace("-distance 100", "-distance 140").replace("-cell 70 80 90", "-cell 76 80 90")
    res = nbnumba("refine", "obs.img", "--flags", far, "--refine", "distance,a", cwd=observed)
    assert res.returncode == 1, (res.stdout, res.stderr)
    assert "reduced chi^2" in res.stdout and "converged:" not in res.stdout


@pytest.mark.parametrize("args,message", [
    (["--refine", "spin"], "cannot differentiate with respect to 'spin'"),
    (["--refine", "mosaic"], "mosaic: no analytic derivative"),
    (["--refine", "distance", "--flags", "-cell 70 80 90 -default_F 1 -detpixels 32"], "obs.img: 96x96 pixels, the model has 32x32"),
])
def test_bad_requests(observed, args, message):
    if "--flags" not in args:
        args = args + ["--flags", START]
    res = nbnumba("refine", "obs.img", *args, cwd=observed)
    assert res.returncode == 9 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
