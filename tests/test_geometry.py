"""Detector geometry of each convention: known physics and nanoBragg's documented beam-centre rules."""
import math

import numpy as np
import pytest

from nbnumba.cli.argv import parse_argv
from nbnumba.plan import make_plan

BASE = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -lambda 1 -distance 100 -detpixels 256 -pixel 0.1"


def plan_for(extra, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return make_plan(parse_argv((BASE + " " + extra).split(), now=1, warn=lambda m: None), log=lambda s: None)


@pytest.mark.parametrize("conv", ["-mosflm", "-denzo", "-adxv", "-xds", "-dials"])
@pytest.mark.parametrize("rot", ["", "-detector_rotx 3 -detector_roty -2 -detector_rotz 7"])
def test_axes_orthonormal_and_beam_spot(conv, rot, tmp_path, monkeypatch):
    pl = plan_for(f"{conv} {rot}", tmp_path, monkeypatch)
    p = pl.p
    f, s, o, pix0, beam = (np.array(v) for v in pl.det)
    for v in (f, s, o):
        assert abs(np.linalg.norm(v) - 1) < 1e-15
    assert abs(f @ s) < 1e-15 and abs(f @ o) < 1e-15 and abs(s @ o) < 1e-15
    # the recomputed beam centre (Fbeam, Sbeam) is where the direct beam meets the detector plane
    spot = pix0 + p.Fbeam * f + p.Sbeam * s
    assert np.allclose(np.cross(spot, beam), 0, atol=1e-15)
    assert abs(spot @ beam - p.distance) < 1e-15
    # close_distance is the perpendicular distance to the plane
    assert abs(pix0 @ o - p.close_distance) < 1e-15


def test_mosflm_default_centre_is_one_pixel_off(tmp_path, monkeypatch):
    # quirk C1: MOSFLM's default beam centre is detsize/2 + 1 pixel on both axes (12.9 mm for 256 px)
    p = plan_for("", tmp_path, monkeypatch).p
    assert math.isclose(p.Fbeam, 0.0129, rel_tol=1e-12) and math.isclose(p.Sbeam, 0.0129, rel_tol=1e-12)


@pytest.mark.parametrize("conv", ["-xds", "-dials"])
def test_sample_pivot_conventions_centre_exactly(conv, tmp_path, monkeypatch):
    p = plan_for(conv, tmp_path, monkeypatch).p
    assert p.detector_pivot == "SAMPLE"
    assert math.isclose(p.Fclose, 0.0128, rel_tol=1e-12) and math.isclose(p.ORGX, 128.5, rel_tol=1e-12)


def test_twotheta_header_distance_quirk(tmp_path, monkeypatch):
    # quirk C3: the distance ratio ignores the two-theta swing, so DISTANCE becomes d*cos(2theta)
    p = plan_for("-twotheta 10", tmp_path, monkeypatch).p
    assert math.isclose(p.distance, 0.1 * math.cos(math.radians(10)), rel_tol=1e-9)


def test_pivot_forced_by_convention(tmp_path, monkeypatch):
    # quirk A8: -pivot is honoured only in CUSTOM
    assert plan_for("-pivot sample", tmp_path, monkeypatch).p.detector_pivot == "BEAM"
    assert plan_for("-pivot sample -beam_vector 1 0 0", tmp_path, monkeypatch).p.detector_pivot == "SAMPLE"


def test_pix0_vector_values_are_ignored(tmp_path, monkeypatch):
    # quirk A10: two different -pix0_vector values give the same geometry (only the CUSTOM switch matters)
    a = plan_for("-pix0_vector 0.1 0.005 -0.005", tmp_path, monkeypatch)
    b = plan_for("-pix0_vector -3 7 2", tmp_path, monkeypatch)
    assert np.array_equal(a.det, b.det)
