"""DIALS indexes what nbnumba renders: a rotation series with a two-theta detector (which SMV cannot
describe), rendered through `nbnumba batch run` into one NXmx sweep (`[outputs] sweep`), then
`dials.import sweep.nxs`, `dials.find_spots`, `dials.index`: DIALS must find the true cell (1% on the
lengths, 1 degree on the angles) and the true orientation, with nearly every strong spot indexed. The
same series on a detector without two-theta, as nanoBragg's SMV images, indexes too.

The crystal (P1, 40 50 60 90 90 90, -N 15, -default_F 100, small mosaic) and -fluence are chosen so the
spots are strong (about 1000 photons at the brightest) and none saturates (overloads defeat spot
finding); 40 frames of 0.5 degree, 512x512 pixels of 0.15 mm at 120 mm, XDS convention (pivot SAMPLE:
-twotheta 15 swings the detector about the spindle-perpendicular axis, off the beam).

Skipped where /usr/bin/dials.index is absent, unless NBNUMBA_REQUIRE_DIALS=1 (then it fails). The sweep
is bitshuffle/LZ4-compressed: dxtbx gets hdf5plugin's filters through HDF5_PLUGIN_PATH.
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dials_support import dials_env

from nbnumba.api import params
from nbnumba.batch.manifest import read_manifest
from nbnumba.io.nexus import lab_frame
from nbnumba.plan import make_plan

DIALS = "/usr/bin"
SYSTEM_PYTHON = "/usr/bin/python3"
IMGCIF = np.diag([-1.0, 1.0, -1.0])       # McStas -> dxtbx's lab frame
CELL = (40.0, 50.0, 60.0, 90.0, 90.0, 90.0)
CRYSTAL = ("-cell %s -misset 10 20 30 -default_F 100 -N 15 -mosaic 0.05 -mosaic_dom 4 -lambda 1 -distance 120 "
           "-detpixels 512 -pixel 0.15 -phisteps 4 -oversample 1 -fluence 1e27" % " ".join("%g" % v for v in CELL))
FRAMES, OSC, TWOTHETA = 40, 0.5, 15.0
MANIFEST = """
base = "%s"
[outputs]
noisefile = "{id}.img"
%s
[rotation]
prefix = "rot_"
start = 0.0
osc = %g
frames = %d
"""

if not os.path.exists(os.path.join(DIALS, "dials.index")):
    if os.environ.get("NBNUMBA_REQUIRE_DIALS") == "1":
        raise RuntimeError("NBNUMBA_REQUIRE_DIALS=1 but %s/dials.index is absent" % DIALS)
    pytest.skip("DIALS is not installed (%s/dials.index)" % DIALS, allow_module_level=True)

REPORT = r"""
import json, math, sys
from dials.array_family import flex
from dxtbx.model.experiment_list import ExperimentListFactory
imported = ExperimentListFactory.from_json_file("imported.expt", check_format=True)[0]
expt = ExperimentListFactory.from_json_file("indexed.expt", check_format=False)[0]
refl = flex.reflection_table.from_file("indexed.refl")
panel = imported.detector[0]
normal = panel.get_normal()
s0 = imported.beam.get_unit_s0()
print(json.dumps(dict(
    format=imported.imageset.get_format_class().__name__,
    images=list(imported.scan.get_image_range()), oscillation=list(imported.scan.get_oscillation()),
    axis=list(imported.goniometer.get_rotation_axis()),
    detector_to_beam_deg=math.degrees(math.acos(abs(sum(a * b for a, b in zip(normal, s0))))),
    cell=list(expt.crystal.get_unit_cell().parameters()),
    real_space=[list(v) for v in expt.crystal.get_real_space_vectors()],
    indexed=int(refl.get_flags(refl.flags.indexed).count(True)), strong=len(refl))))
"""


_dials_env = dials_env


def _run(args, cwd, env=None):
    res = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, "%s: exit %d\n%s\n%s" % (args[0], res.returncode, res.stdout[-3000:],
                                                       res.stderr[-3000:])
    return res


def _render(folder, flags, sweep):
    """The rotation series through `nbnumba batch run` (serial); the manifest's jobs."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "m.toml"
    manifest.write_text(MANIFEST % (CRYSTAL + " " + flags, 'sweep = "sweep.nxs"' if sweep else "", OSC, FRAMES))
    res = _run([sys.executable, "-m", "nbnumba", "batch", "run", str(manifest), "--out", str(folder / "out"),
                "--engine", "serial"], folder)
    assert res.stdout.startswith("%d images: %d rendered" % (FRAMES, FRAMES)), res.stdout
    jobs = read_manifest(manifest).jobs
    # strong spots, none saturated
    for job in jobs:
        stats = json.loads((folder / "out" / (job.id + ".json")).read_text())["statistics"]
        assert stats["noise_overloads"] == 0 and 200 < stats["max_I"] < 20000, (job.id, stats)
    return jobs, res.stdout


def _index(out, inputs):
    env = _dials_env()
    _run([os.path.join(DIALS, "dials.import")] + inputs, out, env)
    _run([os.path.join(DIALS, "dials.find_spots"), "imported.expt", "nproc=2"], out, env)
    _run([os.path.join(DIALS, "dials.index"), "imported.expt", "strong.refl"], out, env)
    res = _run([SYSTEM_PYTHON, "-c", REPORT], out, env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _check_crystal(got, jobs):
    lengths, angles = np.array(got["cell"][:3]), np.array(got["cell"][3:])
    assert np.all(np.abs(lengths / np.array(CELL[:3]) - 1.0) < 0.01), got["cell"]
    assert np.all(np.abs(angles - np.array(CELL[3:])) < 1.0), got["cell"]
    assert got["indexed"] > 0.9 * got["strong"] and got["indexed"] > 500, got
    # the orientation at phi 0 (the first frame's start): nanoBragg's a, b, c in dxtbx's frame, up to the
    # signs a P1 basis may take
    p = make_plan(params(list(jobs[0].argv)), lambda line: None).p
    M = IMGCIF @ lab_frame(p)
    for ours, theirs in zip((p.a0, p.b0, p.c0), got["real_space"]):
        u = M @ np.array(ours[1:4])
        v = np.array(theirs)
        cos = abs(u @ v) / np.linalg.norm(u) / np.linalg.norm(v)
        assert cos > math.cos(math.radians(1.0)), (ours, theirs, math.degrees(math.acos(min(cos, 1.0))))


def test_dials_indexes_a_two_theta_sweep_from_nxmx(tmp_path):
    jobs, stdout = _render(tmp_path, "-xds -twotheta %g" % TWOTHETA, sweep=True)
    assert "sweep.nxs written (%d frames, the noise images)" % FRAMES in stdout
    got = _index(tmp_path / "out", ["sweep.nxs"])
    assert got["format"] == "FormatNXmx"
    assert got["images"] == [1, FRAMES] and np.allclose(got["oscillation"], [0.0, OSC], atol=1e-9)
    assert np.allclose(got["axis"], [1, 0, 0], atol=1e-12)
    assert abs(got["detector_to_beam_deg"] - TWOTHETA) < 1e-6      # the detector DIALS sees is swung
    _check_crystal(got, jobs)


def test_dials_indexes_the_smv_series_without_two_theta(tmp_path):
    jobs, _ = _render(tmp_path, "", sweep=False)
    out = tmp_path / "out"
    got = _index(out, sorted(str(f.name) for f in Path(out).glob("rot_*.img")))
    assert got["images"] == [1, FRAMES] and np.allclose(got["oscillation"], [0.0, OSC], atol=1e-9)
    assert got["detector_to_beam_deg"] < 1e-6
    _check_crystal(got, jobs)
