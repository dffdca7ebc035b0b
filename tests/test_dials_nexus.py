"""DIALS reads the NXmx files of -nxsfile: `dials.import x.nxs`, then dxtbx (the system Python that DIALS
runs on) loads imported.expt and reports the panel, beam centre, beam, scan and goniometer, and the
pixels, which must be nanoBragg's geometry and our image.

Skipped where /usr/bin/dials.import is absent, unless NBNUMBA_REQUIRE_DIALS=1 (then it fails). The pixel
data are bitshuffle/LZ4-compressed: dxtbx gets hdf5plugin's filters through HDF5_PLUGIN_PATH.
"""
import json
import math
import os
import subprocess

import numpy as np
import pytest

from dials_support import dials_env

from nbnumba.api import params
from nbnumba.io.nexus import lab_frame, nxmx_bytes
from nbnumba.plan import make_plan

DIALS_IMPORT = "/usr/bin/dials.import"
DIALS_SHOW = "/usr/bin/dials.show"
SYSTEM_PYTHON = "/usr/bin/python3"
BASE = ("-cell 100 100 100 90 90 90 -default_F 100 -lambda 1.1 -distance 120 -detpixels_x 96 -detpixels_y 80 "
        "-pixel 0.1 -phi 10 -osc 0.5").split()
IMGCIF = np.diag([-1.0, 1.0, -1.0])       # McStas -> dxtbx's lab frame

if not os.path.exists(DIALS_IMPORT):
    if os.environ.get("NBNUMBA_REQUIRE_DIALS") == "1":
        raise RuntimeError("NBNUMBA_REQUIRE_DIALS=1 but %s is absent" % DIALS_IMPORT)
    pytest.skip("DIALS is not installed (%s)" % DIALS_IMPORT, allow_module_level=True)

REPORT = r"""
import json, sys
import numpy as np
from dxtbx.model.experiment_list import ExperimentListFactory
expt = ExperimentListFactory.from_json_file(sys.argv[1], check_format=True)[0]
panel = expt.detector[0]
s0 = expt.beam.get_s0()
raw = expt.imageset.get_raw_data(0)[0].as_numpy_array()
np.save(sys.argv[2], raw)
print(json.dumps(dict(
    format=expt.imageset.get_format_class().__name__,
    origin=list(panel.get_origin()), fast=list(panel.get_fast_axis()), slow=list(panel.get_slow_axis()),
    pixel_size=list(panel.get_pixel_size()), image_size=list(panel.get_image_size()),
    distance=panel.get_distance(), beam_centre_mm=list(panel.get_beam_centre(s0)),
    wavelength=expt.beam.get_wavelength(), direction=list(expt.beam.get_sample_to_source_direction()),
    oscillation=list(expt.scan.get_oscillation()), axis=list(expt.goniometer.get_rotation_axis()),
    trusted_range=list(panel.get_trusted_range()))))
"""


_system_env = dials_env


def _beam_centre_mm(p):
    pix0, f, s, o, b = (np.array(v[1:4]) for v in (p.pix0_vector, p.fdet_vector, p.sdet_vector, p.odet_vector,
                                                      p.beam_vector))
    hit = (pix0 @ o) / (b @ o) * b - pix0
    return [hit @ f * 1000.0, hit @ s * 1000.0]


@pytest.mark.parametrize("flags", [[], ["-twotheta", "20"]], ids=["mosflm", "twotheta20"])
def test_dials_import_sees_nanobraggs_geometry(flags, tmp_path):
    p = make_plan(params(BASE + flags), lambda line: None).p
    rng = np.random.default_rng(3)
    data = rng.integers(0, 60000, (p.spixels, p.fpixels), dtype=np.uint16)
    (tmp_path / "x.nxs").write_bytes(nxmx_bytes(p, data, "noise"))
    env = _system_env()
    res = subprocess.run([DIALS_IMPORT, "x.nxs"], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    res = subprocess.run([SYSTEM_PYTHON, "-c", REPORT, "imported.expt", "raw.npy"], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])

    assert got["format"] == "FormatNXmx"
    M = IMGCIF @ lab_frame(p)                     # nanoBragg -> dxtbx
    assert np.allclose(got["origin"], M @ np.array(p.pix0_vector[1:4]) * 1000.0, rtol=0, atol=1e-9)
    assert np.allclose(got["fast"], M @ np.array(p.fdet_vector[1:4]), rtol=0, atol=1e-12)
    assert np.allclose(got["slow"], M @ np.array(p.sdet_vector[1:4]), rtol=0, atol=1e-12)
    # in the MOSFLM frame the panel origin is the DIALS_ORIGIN line of nanoBragg's SMV header
    assert np.allclose(got["origin"], p.dials_origin[1:4], rtol=0, atol=1e-9)
    assert np.allclose(got["pixel_size"], [p.pixel_size * 1000.0] * 2, rtol=1e-12)
    assert got["image_size"] == [p.fpixels, p.spixels]
    # the SMV header's DISTANCE (nanoBragg's distance, here also the close distance) and beam centre
    assert abs(got["distance"] - p.distance * 1000.0) < 1e-9
    assert abs(got["distance"] - p.close_distance * 1000.0) < 1e-9
    # where the beam meets the detector plane, from the pixel (0, 0) corner along fdet and sdet: (Fbeam, Sbeam)
    # as the convention set it; with -twotheta nanoBragg's recomputed Sbeam (and so the header's MOSFLM
    # beam centre) ignores the swing (quirk C3), DIALS does not
    centre = _beam_centre_mm(p)
    assert np.allclose(got["beam_centre_mm"], centre, rtol=0, atol=1e-9)
    if not flags:
        assert np.allclose(centre, [p.Fbeam * 1000.0, p.Sbeam * 1000.0], rtol=0, atol=1e-9)
    assert abs(got["wavelength"] - p.lambda0 * 1e10) < 1e-12
    assert np.allclose(got["direction"], [0, 0, 1])            # dxtbx's sample-to-source: the beam along McStas +z
    assert np.allclose(got["oscillation"], [10.0, 0.5], rtol=1e-12)
    assert np.allclose(got["axis"], M @ np.array(p.spindle_vector[1:4]), atol=1e-12)
    assert np.allclose(got["axis"], [1, 0, 0], atol=1e-12)
    raw = np.load(tmp_path / "raw.npy")
    assert raw.shape == data.shape and np.array_equal(raw, data.astype(raw.dtype))

    show = subprocess.run([DIALS_SHOW, "imported.expt"], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=300)
    assert show.returncode == 0, show.stderr
    assert "mm: (%.2f,%.2f)" % tuple(centre) in show.stdout


SENSOR = r"""
import json, sys
from dials.algorithms.integration import qe_correction
from dxtbx.model.experiment_list import ExperimentListFactory
from scitbx import matrix
out = {}
for name in sys.argv[1:]:
    expt = ExperimentListFactory.from_json_file(name, check_format=True)[0]
    panel = expt.detector[0]
    nf, ns = panel.get_image_size()
    px = panel.get_pixel_size()
    s0 = matrix.col(expt.beam.get_s0())
    shifts, qe = [], []
    for f, s in ((0, 0), (nf, 0), (0, ns), (nf, ns)):
        mm = panel.pixel_to_millimeter((f, s))
        shifts.append(max(abs(mm[0] - f * px[0]), abs(mm[1] - s * px[1])))
        s1 = matrix.col(panel.get_lab_coord((f * px[0], s * px[1]))).normalize() * s0.length()   # the corner itself
        if panel.get_mu() > 0:
            qe.append(qe_correction(panel.get_mu(), panel.get_thickness(), s1, panel.get_normal()))
    out[name] = dict(thickness=panel.get_thickness(), mu=panel.get_mu(), material=panel.get_material(),
                     strategy=type(panel.get_px_mm_strategy()).__name__, max_shift_mm=max(shifts), qe=qe,
                     format=expt.imageset.get_format_class().__name__ if expt.imageset else None)
print(json.dumps(out))
"""


def test_dials_sees_no_sensor_correction_that_nanobragg_did_not_simulate(tmp_path):
    """Without -detector_thick nanoBragg counts every photon where it meets the detector surface.

    NXmx: dxtbx requires a sensor (Si, CdTe or GaAs, thickness > 0) and always applies a parallax
    correction; the file names an opaque sensor (50 mm of the material that absorbs most at the
    wavelength), so DIALS's efficiency is 1 at every pixel and its parallax shift at most the attenuation
    length (12-16 um here) times the sine of the angle to the normal; dials.import's
    panel.parallax_correction=False leaves nanoBragg's ideal detector. CBF: no sensor at all (thickness
    0, mu 0, no parallax). With -detector_thick the NXmx names the thickness and DIALS's efficiency is
    nanoBragg's capture fraction 1 - exp(-mu t / cos) when -detector_abs is silicon's attenuation length
    at the wavelength."""
    from nbnumba.io.cbf import cbf_bytes
    env = _system_env()
    p = make_plan(params(BASE), lambda line: None).p
    data = np.ones((p.spixels, p.fpixels), dtype=np.uint16)
    (tmp_path / "opaque.nxs").write_bytes(nxmx_bytes(p, data, "noise"))
    p.cbffile = "opaque_00001.cbf"
    (tmp_path / "opaque_00001.cbf").write_bytes(cbf_bytes(p, data.astype(np.int32), "noise"))
    # a wide-angle detector at other wavelengths: each side of the two K edges
    wide = {}
    for wavelength in ("0.3", "0.7", "1.0", "1.3", "2.0"):
        q = make_plan(params(BASE + ["-lambda", wavelength, "-distance", "50", "-detpixels", "1000"]),
                      lambda line: None).p
        wide[wavelength] = q
        (tmp_path / ("wide%s.nxs" % wavelength)).write_bytes(
            nxmx_bytes(q, np.ones((q.spixels, q.fpixels), dtype=np.uint16), "noise"))

    def dials_import(image, expt, *options):
        res = subprocess.run([DIALS_IMPORT, image, "output.experiments=" + expt, *options], cwd=tmp_path,
                             capture_output=True, text=True, env=env, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr

    def report(*expts):
        res = subprocess.run([SYSTEM_PYTHON, "-c", SENSOR, *expts], cwd=tmp_path, capture_output=True, text=True,
                             env=env, timeout=300)
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout.strip().splitlines()[-1])

    dials_import("opaque.nxs", "opaque.expt")
    dials_import("opaque.nxs", "ideal.expt", "panel.parallax_correction=False")
    dials_import("opaque_00001.cbf", "cbf.expt")
    for wavelength in wide:
        dials_import("wide%s.nxs" % wavelength, "wide%s.expt" % wavelength)
    got = report("opaque.expt", "ideal.expt", "cbf.expt", *("wide%s.expt" % w for w in wide))
    opaque, ideal, cbf = got["opaque.expt"], got["ideal.expt"], got["cbf.expt"]
    assert opaque["format"] == "FormatNXmx" and opaque["material"] == "CdTe"       # 1.1 A: beyond As's K edge
    assert opaque["thickness"] == pytest.approx(50.0, rel=1e-12)
    # DIALS divides by nothing: the efficiency is 1 at every corner
    assert opaque["qe"] == [1.0] * 4
    # the parallax shift: at most the attenuation length times the sine, far below a pixel
    assert opaque["strategy"] == "ParallaxCorrectedPxMmStrategy"
    assert 0.0 < opaque["max_shift_mm"] <= 1.0 / opaque["mu"] * 0.5 and opaque["max_shift_mm"] < 0.01 * p.pixel_size * 1e3
    assert ideal["strategy"] == "SimplePxMmStrategy" and ideal["max_shift_mm"] == 0.0
    assert ideal["qe"] == [1.0] * 4
    assert cbf["format"].startswith("FormatCBFFull")
    assert (cbf["thickness"], cbf["mu"], cbf["strategy"], cbf["max_shift_mm"], cbf["qe"]) == (
        0.0, 0.0, "SimplePxMmStrategy", 0.0, [])
    for wavelength, q in wide.items():
        w = got["wide%s.expt" % wavelength]
        assert w["qe"] == [1.0] * 4, wavelength
        # 2-theta up to 55 degrees at the corners: the shift is below the attenuation length
        assert w["max_shift_mm"] < 1.0 / w["mu"], wavelength
    # the material chosen absorbs most of those dxtbx knows, at each side of the K edges
    assert [got["wide%s.expt" % w]["material"] for w in wide] == ["CdTe", "GaAs", "GaAs", "CdTe", "CdTe"]
    # silicon's attenuation coefficient at 1.1 A in dxtbx's table (1/mm), for the sensor nanoBragg simulates
    res = subprocess.run([SYSTEM_PYTHON, "-c", "from cctbx.eltbx import attenuation_coefficient as a; "
                          "print(a.get_table('Si').mu_at_angstrom(1.1) / 10.0)"], capture_output=True, text=True,
                         env=env, timeout=300)
    mu = float(res.stdout.strip().splitlines()[-1])
    assert 3.0 < mu < 8.0

    # a sensor nanoBragg simulated, with silicon's attenuation length: DIALS corrects for what it simulated
    p = make_plan(params(BASE + ["-detector_thick", "320", "-detector_abs", repr(1000.0 / mu)]), lambda line: None).p
    (tmp_path / "thick.nxs").write_bytes(nxmx_bytes(p, data, "noise"))
    dials_import("thick.nxs", "thick.expt")
    thick = report("thick.expt")["thick.expt"]
    assert thick["thickness"] == pytest.approx(0.32) and thick["mu"] == pytest.approx(mu, rel=1e-12)
    assert math.isclose(1.0 / p.detector_mu, 1e-3 / mu, rel_tol=1e-12)
    odet = np.array(p.odet_vector[1:4])
    for q, (f, s) in zip(thick["qe"], ((0, 0), (p.fpixels, 0), (0, p.spixels), (p.fpixels, p.spixels))):
        corner = np.array(p.pix0_vector[1:4]) + f * p.pixel_size * np.array(p.fdet_vector[1:4]) \
            + s * p.pixel_size * np.array(p.sdet_vector[1:4])
        cos = abs(corner @ odet) / np.linalg.norm(corner)
        capture = 1.0 - math.exp(-p.detector_mu * p.detector_thick / cos)      # nanoBragg's, summed over layers
        assert q == pytest.approx(capture, rel=1e-9)
    assert thick["strategy"] == "ParallaxCorrectedPxMmStrategy" and thick["max_shift_mm"] > 1e-4
